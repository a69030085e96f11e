"""Notifications and subscriptions (issue 7 item 5), end to end against the partner simulators:
a child protection plan started or ended and a change of allocated worker reach the parent's care
coordinator (CSC in, FHIR out); the parent's crisis events reach the child's social worker (FHIR
in, CSC out); each organisation is told only what its subscription under the flow names, and the
ledger says why it was not told; a withdrawal of consent mid-workflow stops the next notice."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import orjson

from tests.conftest import FIXTURES
from tests.gateway_harness import Harness, child_status, crisis_bundle
from tests.workflows.test_meetings import (
    MOTHER,
    decisions,
    fhir_bodies,
    known_family,
    resources,
    wait_for_kind,
    withdrawal,
)

LOCAL = "https://joined-up.org.uk"


def council_event(fixture: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((FIXTURES / "csc" / f"{fixture}.json").read_bytes())
    data.update(message_id=f"csc-999-{uuid.uuid4().hex[:8]}", purpose="safeguarding-child")
    data.update(changes)
    return data


def crisis(kind: str = "detention", purpose: str = "safeguarding-child") -> dict[str, Any]:
    """The s136 message, as a new message of another crisis kind or purpose."""
    bundle = copy.deepcopy(crisis_bundle())
    bundle["id"] = str(uuid.uuid4())
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MessageHeader":
            resource["id"] = str(uuid.uuid4())
            resource["reason"]["coding"][0].update(code=purpose, display=purpose)
        if resource["resourceType"] == "Encounter":
            resource["type"][0]["coding"][0].update(code=kind, display=kind)
            if kind != "detention":
                resource.pop("extension")  # no Mental Health Act legal status
                resource["class"] = {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "IMP",
                }
    return bundle


def outcomes(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["organisation"], r["outcome"], r["reason_code"]) for r in summary["recipients"]]


# --- plans and worker changes: council to the parent's care coordinator -------------------------


async def test_a_plan_started_and_ended_reach_the_parents_care_coordinator(h: Harness) -> None:
    """cp-plan-started and cp-plan-ended (CSC) reach the trust as FHIR plan flags with a
    Communication to the care coordinator; the index still learns the plan."""
    await known_family(h)
    started = await h.post_csc(council_event("cp-plan-started"))
    assert 202 == started.status, await started.text()
    assert [("RX9", "permit", "flow-permits")] == outcomes(await started.json())
    ended = await h.post_csc(council_event("cp-plan-ended"))
    assert [("RX9", "permit", "flow-permits")] == outcomes(await ended.json())

    (first,) = await wait_for_kind(h.trust.received, 1, "cp-plan-started", fhir=True)
    (second,) = await wait_for_kind(h.trust.received, 1, "cp-plan-ended", fhir=True)
    (flag,) = resources(first, "Flag")
    assert ("active", "child-protection") == (flag["status"], flag["code"]["coding"][0]["code"])
    (notice,) = resources(first, "Communication")
    assert "Child protection plan started on 2025-01-20." == notice["payload"][0]["contentString"]
    # Addressed to the care coordinator, naming the mother as the trust knows her.
    receiver = first["entry"][0]["resource"]["destination"][0]["receiver"]["reference"]
    (role,) = [e["resource"] for e in first["entry"] if e["fullUrl"] == receiver]
    assert "care-coordinator" == role["code"][0]["coding"][0]["code"]
    assert MOTHER in orjson.dumps(first).decode()
    (ended_flag,) = resources(second, "Flag")
    assert "inactive" == ended_flag["status"]
    decided = await decisions(h, "cp-plan-ended")
    assert [("trust-demo", "demo-trust-council", "child-protection-status")] == [
        (d["recipient_partner"], d["agreement_id"], d["flow_id"]) for d in decided
    ]


async def test_a_change_of_allocated_worker_reaches_the_care_coordinator(h: Harness) -> None:
    """allocated-worker-changed: the care coordinator learns who the child's worker is now."""
    await known_family(h)
    response = await h.post_csc(council_event("allocated-worker-changed"))
    assert [("RX9", "permit", "flow-permits")] == outcomes(await response.json())
    (bundle,) = await wait_for_kind(h.trust.received, 1, "allocated-worker-changed", fhir=True)
    roles = resources(bundle, "PractitionerRole")
    codes = {r["code"][0]["coding"][0]["code"] for r in roles}
    assert {"allocated-social-worker", "care-coordinator"} <= codes
    assert "Shah" in orjson.dumps(resources(bundle, "Practitioner")).decode()


async def test_a_notification_with_no_parent_known_and_a_purpose_not_covered(
    h: Harness,
) -> None:
    """No parent known: accepted, recorded, no recipient. A purpose no flow covers: refused for
    the care coordinator and recorded with the reason; nothing delivered."""
    status = child_status()
    status.pop("family")
    assert 202 == (await h.post_csc(status)).status
    alone = await (await h.post_csc(council_event("cp-plan-started"))).json()
    assert "no parent of this child is known to the index" == alone["no_recipient"]

    await known_family(h)
    referral = await h.post_csc(council_event("cp-plan-started", purpose="referral"))
    assert [("RX9", "refuse", "purpose-not-covered")] == outcomes(await referral.json())
    assert [] == fhir_bodies(h.trust.received, "cp-plan-started")


# --- subscriptions ------------------------------------------------------------------------------


async def test_each_organisation_is_told_only_what_it_subscribed_to(h: Harness) -> None:
    """Under demo-notifications the council subscribed, for care coordination, to admissions and
    discharges: a detention is not sent (not-subscribed, in the ledger with the flow), an
    admission is. The trust subscribed to worker changes only: a plan is not sent, a worker
    change is."""
    await known_family(h)
    # The s136 notice (for safeguarding) from known_family arrives first.
    before = len(await wait_for_kind(h.council.received, 1, "crisis-notice", fhir=False))

    detention = await h.post_fhir(crisis("detention", "care-coordination"))
    assert 202 == detention.status, await detention.text()
    assert [("999", "refuse", "not-subscribed")] == outcomes(await detention.json())
    admission = await h.post_fhir(crisis("admission", "care-coordination"))
    assert [("999", "permit", "flow-permits")] == outcomes(await admission.json())
    (notice,) = (await wait_for_kind(h.council.received, before + 1, "crisis-notice", fhir=False))[
        before:
    ]
    assert "admission" == notice["event"]["type"]
    refused = [d for d in await decisions(h, "crisis-event") if d["outcome"] == "refuse"]
    assert [("not-subscribed", "demo-notifications", "hospital-stays-for-care-planning")] == [
        (d["reason_code"], d["agreement_id"], d["flow_id"]) for d in refused
    ]
    assert "has not subscribed to crisis events of kind detention" in refused[0]["explanation"]

    plan = await h.post_csc(council_event("cp-plan-started", purpose="care-coordination"))
    assert [("RX9", "refuse", "not-subscribed")] == outcomes(await plan.json())
    change = await h.post_csc(
        council_event("allocated-worker-changed", purpose="care-coordination")
    )
    assert [("RX9", "permit", "flow-permits")] == outcomes(await change.json())
    await wait_for_kind(h.trust.received, 1, "allocated-worker-changed", fhir=True)
    assert [] == fhir_bodies(h.trust.received, "cp-plan-started")
    # Subscriptions narrow their own flow only: for safeguarding the plan still goes.
    safeguarding = await h.post_csc(council_event("cp-plan-started"))
    assert [("RX9", "permit", "flow-permits")] == outcomes(await safeguarding.json())


# --- consent withdrawn mid-workflow -------------------------------------------------------------


async def test_a_withdrawal_of_consent_stops_the_next_notice(h: Harness) -> None:
    """The council is told of the mother's admission (care coordination honours refusals); she
    then withdraws consent to share with the council for care coordination; her discharge is
    refused (consent-refused), recorded with the directive; the crisis notice for safeguarding,
    which does not rest on consent, still goes."""
    await known_family(h)
    # The s136 notice (for safeguarding) from known_family arrives first.
    before = len(await wait_for_kind(h.council.received, 1, "crisis-notice", fhir=False))
    admission = await h.post_fhir(crisis("admission", "care-coordination"))
    assert [("999", "permit", "flow-permits")] == outcomes(await admission.json())
    await wait_for_kind(h.council.received, before + 1, "crisis-notice", fhir=False)

    withdrawn = await h.post_fhir(withdrawal())
    assert 202 == withdrawn.status, await withdrawn.text()

    discharge = await h.post_fhir(crisis("discharge", "care-coordination"))
    assert [("999", "refuse", "consent-refused")] == outcomes(await discharge.json())
    refused = [d for d in await decisions(h, "crisis-event") if d["outcome"] == "refuse"]
    assert 1 == len(refused)
    assert refused[0]["consent_ref"] is not None
    assert "hospital-stays-for-care-planning" == refused[0]["flow_id"]

    urgent = await h.post_fhir(crisis("detention", "safeguarding-child"))
    assert [("999", "permit", "flow-permits")] == outcomes(await urgent.json())
    found = await wait_for_kind(h.council.received, before + 2, "crisis-notice", fhir=False)
    assert ["admission", "detention"] == [n["event"]["type"] for n in found[before:]]
