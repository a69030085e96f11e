"""Meetings (issue 7 item 4), end to end through both adapters against the partner simulators:
the trust's care review reaches the children's social worker (FHIR in, CSC out); the council's
strategy discussions and conferences reach the parents' care coordinators (CSC in, FHIR out);
replies go back to the organiser, and only from an organisation that was invited; the initial
conference's 15-working-day target is counted over bank holidays and carried to the trust."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import orjson
import yaml
from sqlalchemy import select

from gateway.simulators import Received
from gateway.store.tables import meetings
from tests.conftest import FIXTURES, OTHER_COUNCIL_KEY, Database, agreements_for_tests
from tests.gateway_harness import Harness, child_status, crisis_bundle, start_harness

MOTHER, CHILD = "9000000009", "9000000017"
LOCAL = "https://joined-up.org.uk"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"


# --- messages -----------------------------------------------------------------------------------


def _fhir_message(event: str, purpose: str, patient: str, appointment: dict[str, Any]) -> Any:
    """A trust message whose focus is one Appointment, with the care coordinator taking part."""
    ids = {name: f"urn:uuid:{uuid.uuid4()}" for name in ("header", "patient", "org", "pr", "pp")}
    ids["appointment"] = f"urn:uuid:{uuid.uuid4()}"
    appointment = {
        "resourceType": "Appointment",
        **appointment,
        "participant": [
            {
                "actor": {"reference": ids["patient"]},
                "required": "information-only",
                "status": "needs-action",
            },
            {
                "actor": {"reference": ids["pr"]},
                "required": "required",
                "status": appointment.pop("coordinator_status", "accepted"),
            },
        ],
    }
    resources: dict[str, dict[str, Any]] = {
        "header": {
            "resourceType": "MessageHeader",
            "eventCoding": {"system": f"{LOCAL}/CodeSystem/message-event", "code": event},
            "sender": {"reference": ids["org"]},
            "source": {"endpoint": "https://epr.rx9.example/fhir"},
            "reason": {"coding": [{"system": f"{LOCAL}/CodeSystem/purpose", "code": purpose}]},
            "focus": [{"reference": ids["appointment"]}],
        },
        "patient": {"resourceType": "Patient", "identifier": [{"system": NHS, "value": patient}]},
        "org": {
            "resourceType": "Organization",
            "identifier": [{"system": ODS, "value": "RX9"}],
            "name": "Northtown Mental Health NHS Foundation Trust",
        },
        "pp": {"resourceType": "Practitioner", "name": [{"family": "Morgan", "given": ["Alex"]}]},
        "pr": {
            "resourceType": "PractitionerRole",
            "practitioner": {"reference": ids["pp"]},
            "organization": {"reference": ids["org"]},
            "code": [
                {
                    "coding": [
                        {"system": f"{LOCAL}/CodeSystem/worker-role", "code": "care-coordinator"}
                    ]
                }
            ],
        },
        "appointment": appointment,
    }
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "message",
        "timestamp": "2025-02-01T09:00:00+00:00",
        "entry": [
            {"fullUrl": ids[name], "resource": {"id": ids[name][9:], **resource}}
            for name, resource in resources.items()
        ],
    }


def _appointment(kind: str, reference: str, start: str, status: str = "booked") -> dict[str, Any]:
    return {
        "status": status,
        "appointmentType": {
            "coding": [{"system": f"{LOCAL}/CodeSystem/meeting-kind", "code": kind}]
        },
        "identifier": [{"system": f"{LOCAL}/Id/meeting-reference", "value": reference}],
        "start": start,
    }


def care_review(
    reference: str = "CPA-RX9-0042",
    start: str = "2025-02-10T14:00:00+00:00",
    purpose: str = "care-coordination",
) -> Any:
    """The trust invites the children's social workers to the mother's care review."""
    appointment = _appointment("care-review", reference, start)
    return _fhir_message("meeting-invitation", purpose, MOTHER, appointment)


def fhir_reply(
    reference: str,
    kind: str,
    start: str,
    *,
    about: str = CHILD,
    response: str = "accepted",
    purpose: str = "child-protection-conference",
) -> Any:
    """The care coordinator's answer to a council meeting about the child."""
    appointment = {**_appointment(kind, reference, start), "coordinator_status": response}
    return _fhir_message("meeting-reply", purpose, about, appointment)


def council_meeting(
    kind: str = "initial-cp-conference",
    meeting_id: str = "MTG000031",
    start: str = "2025-01-20T10:00:00+00:00",
    purpose: str = "child-protection-conference",
) -> dict[str, Any]:
    """The council invites the mother's care coordinator to a meeting about the child."""
    data: dict[str, Any] = orjson.loads((FIXTURES / "csc" / "meeting-invitation.json").read_bytes())
    data.update(
        message_id=f"csc-999-{uuid.uuid4().hex[:8]}",
        meeting_type=kind,
        meeting_id=meeting_id,
        start=start,
        purpose=purpose,
    )
    data.pop("end")
    return data


def council_reply(
    meeting_id: str = "CPA-RX9-0042",
    start: str = "2025-02-10T14:00:00+00:00",
    response: str = "accepted",
) -> dict[str, Any]:
    """The social worker's answer to the trust's care review."""
    data: dict[str, Any] = orjson.loads((FIXTURES / "csc" / "meeting-reply.json").read_bytes())
    data.update(
        message_id=f"csc-999-{uuid.uuid4().hex[:8]}",
        meeting_id=meeting_id,
        start=start,
        response=response,
        purpose="care-coordination",
    )
    return data


# --- helpers ------------------------------------------------------------------------------------


def withdrawal() -> dict[str, Any]:
    """The mother withdraws consent to share with the council for care coordination."""
    bundle: dict[str, Any] = orjson.loads(
        (FIXTURES / "fhir" / "consent-directive.json").read_bytes()
    )
    bundle["id"] = str(uuid.uuid4())
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MessageHeader":
            resource["id"] = str(uuid.uuid4())
            resource["reason"]["coding"][0]["code"] = "care-coordination"
        if resource["resourceType"] == "Consent":
            resource["dateTime"] = "2026-01-01T10:00:00+00:00"
            provision = resource["provision"]
            provision.pop("period", None)
            for narrowing in ("class", "securityLabel", "data", "code"):
                provision.pop(narrowing, None)
    return bundle


async def known_family(h: Harness) -> None:
    """The council names the child, the mother and the allocated social worker; the trust names
    the mother's care coordinator (its crisis message)."""
    assert 202 == (await h.post_csc(child_status())).status
    assert 202 == (await h.post_fhir(crisis_bundle())).status


def csc_bodies(received: list[Received], kind: str) -> list[dict[str, Any]]:
    bodies = [orjson.loads(r.body) for r in received]
    return [b for b in bodies if kind in (b.get("kind"), b.get("message_type"))]


def fhir_bodies(received: list[Received], event: str) -> list[dict[str, Any]]:
    found = []
    for r in received:
        bundle = orjson.loads(r.body)
        header = bundle["entry"][0]["resource"]
        if header["eventCoding"]["code"] == event:
            found.append(bundle)
    return found


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


async def wait_for_kind(
    received: list[Received], count: int, kind: str, *, fhir: bool, seconds: float = 10.0
) -> list[dict[str, Any]]:
    """Wait until ``count`` deliveries of ``kind`` have arrived (other workflows deliver too)."""
    for _ in range(int(seconds / 0.02)):
        found = fhir_bodies(received, kind) if fhir else csc_bodies(received, kind)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} {kind} deliveries did not arrive")


async def decisions(h: Harness, kind: str) -> list[dict[str, Any]]:
    return [
        e for e in await h.entries() if e["event"] == "disclosure.decided" and e["kind"] == kind
    ]


async def meeting_rows(h: Harness) -> list[dict[str, Any]]:
    async with h.engine.connect() as conn:
        rows = (await conn.execute(select(meetings).order_by(meetings.c.start_date))).mappings()
        return [dict(r) for r in rows]


def target_of(appointment: dict[str, Any]) -> tuple[str, bool] | None:
    for ext in appointment.get("extension", ()):
        if ext["url"] == f"{LOCAL}/StructureDefinition/meeting-target":
            parts = {p["url"]: p for p in ext["extension"]}
            return parts["targetDate"]["valueDate"], parts["afterTarget"]["valueBoolean"]
    return None


# --- care review: trust to council, and the council's reply back --------------------------------


async def test_a_care_review_reaches_the_childs_social_worker_and_the_reply_comes_back(
    h: Harness,
) -> None:
    """FHIR Appointment in, CSC meeting-invitation-notice out to the allocated social worker; the
    social worker's CSC reply goes back to the care coordinator as a FHIR Appointment."""
    await known_family(h)
    response = await h.post_fhir(care_review())
    assert 202 == response.status, await response.text()
    summary = await response.json()
    assert [("999", "permit", "care-review-invitation")] == [
        (r["organisation"], r["outcome"], r["agreement"]["flow"]) for r in summary["recipients"]
    ]
    (notice,) = await wait_for_kind(h.council.received, 1, "meeting-invitation", fhir=False)
    assert "meeting-invitation-notice" == notice["message_type"]
    assert ("care-review", "CPA-RX9-0042", None) == (
        notice["meeting"]["kind"],
        notice["meeting"]["reference"],
        notice["meeting"]["target_date"],
    )
    # Addressed to the child's allocated social worker, as the council knows the child.
    assert "CH000123" in orjson.dumps(notice).decode()
    assert ("allocated-social-worker", "Shah") in [
        (c["role"], c["worker"]["surname"]) for c in notice["worker_contacts"] if c["worker"]
    ]

    (row,) = await meeting_rows(h)
    assert ("RX9", "trust-demo", "care-coordinator", "care-review", '["999"]') == (
        row["organiser_organisation"],
        row["organiser_partner"],
        row["organiser_role"],
        row["kind"],
        row["invited"],
    )

    reply = await h.post_csc(council_reply())
    assert 202 == reply.status, await reply.text()
    assert [("RX9", "permit", "meeting-replies-to-trust")] == [
        (r["organisation"], r["outcome"], r["agreement"]["flow"])
        for r in (await reply.json())["recipients"]
    ]
    (bundle,) = await wait_for_kind(h.trust.received, 1, "meeting-reply", fhir=True)
    (appointment,) = resources(bundle, "Appointment")
    assert "CPA-RX9-0042" == appointment["identifier"][0]["value"]
    assert ["accepted"] == [
        p["status"] for p in appointment["participant"] if p["required"] == "required"
    ]
    (row,) = await meeting_rows(h)
    replies = orjson.loads(row["replies"])
    assert [("999", ["accepted"], True)] == [
        (r["organisation"], r["responses"], r["carried"]) for r in replies
    ]
    assert (await h.verify()).intact


OTHER_REPLIES = """
id: test-other-council-replies
version: 1
title: Other Council (998) may answer the trust's meetings it is invited to
parties:
  - {code: RX9, partner: trust-demo, name: Demo Mental Health NHS Trust}
  - {code: "998", partner: council-other, name: Other Council}
flows:
  - id: other-meeting-replies
    from: "998"
    to: RX9
    message_kinds: [meeting-reply]
    purposes: [care-coordination]
    lawful_bases: [{art6: "6(1)(e)"}]
    preset: meeting-notice
"""


def _agreements_with_other_replies(tmp_path: Path) -> Path:
    directory = tmp_path / "agreements"
    shutil.copytree(agreements_for_tests(), directory)
    (directory / "other-replies.yaml").write_text(OTHER_REPLIES, encoding="utf-8")
    return directory


async def test_a_reply_to_an_unknown_meeting_or_one_not_sent_to_the_replier_is_refused(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """Same 404 for a meeting never carried, one not carried to the replier (another council
    that may send replies), one about another person and the organiser's own; each recorded as
    exchange.refused; nothing applied, nothing delivered."""
    agreements = _agreements_with_other_replies(tmp_path)
    async for h in start_harness(aiohttp_client, database, agreements_dir=agreements):
        await known_family(h)
        assert 202 == (await h.post_fhir(care_review())).status
        await wait_for_kind(h.council.received, 1, "meeting-invitation", fhir=False)
        before = await meeting_rows(h)

        unknown = await h.post_csc(council_reply(meeting_id="CPA-RX9-9999"))
        other = council_reply()
        other["la_code"] = "998"
        not_invited = await h.client.post(
            "/csc/messages",
            data=orjson.dumps(other),
            headers={
                "Authorization": f"Bearer {OTHER_COUNCIL_KEY}",
                "Content-Type": "application/json",
            },
        )
        another_person = council_reply()
        another_person["subject_nhs_number"] = CHILD
        wrong_person = await h.post_csc(another_person)
        own = await h.post_fhir(
            fhir_reply("CPA-RX9-0042", "care-review", "2025-02-10T14:00:00+00:00", about=MOTHER)
        )
        answers = (unknown, not_invited, wrong_person, own)
        bodies = [await r.json() for r in answers]
        assert [404, 404, 404, 404] == [r.status for r in answers], bodies
        details = {b.get("detail") or b["issue"][0]["diagnostics"] for b in bodies}
        assert 1 == len(details), details  # one answer for every case: no oracle
        assert MOTHER not in orjson.dumps(bodies).decode()

        refused = [e for e in await h.entries() if e["event"] == "exchange.refused"]
        assert [("meeting-reply", 404, "NotFound")] * 4 == [
            (e["kind"], e["status"], e["error"]) for e in refused
        ]
        assert before == await meeting_rows(h)  # no reply recorded
        assert [] == fhir_bodies(h.trust.received, "meeting-reply")


async def test_an_invitation_about_someone_unknown_is_refused(h: Harness) -> None:
    """The trust invites to the care review of a patient the gateway has never heard of: 404,
    recorded, nothing kept."""
    stranger = care_review()
    for entry in stranger["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["identifier"][0]["value"] = "9000000025"
    response = await h.post_fhir(stranger)
    assert 404 == response.status
    assert "9000000025" not in await response.text()
    assert [] == await meeting_rows(h)
    refused = [e for e in await h.entries() if e["event"] == "exchange.refused"]
    assert ["meeting-invitation"] == [e["kind"] for e in refused]


# --- conferences: council to trust, the target, and the trust's reply ---------------------------


async def test_a_conference_reaches_the_parents_care_coordinator_with_its_target(
    h: Harness,
) -> None:
    """Strategy discussion on Thu 10 April 2025; the ICPC's 15 working days skip Good Friday,
    Easter Monday and the early May bank holiday: target Tue 6 May. An ICPC on 6 May is on
    time, one re-arranged for 7 May is flagged; the trust's FHIR Appointment carries both."""
    await known_family(h)
    strategy = council_meeting("strategy-discussion", "MTG000030", "2025-04-10T10:00:00+01:00")
    response = await h.post_csc(strategy)
    assert 202 == response.status, await response.text()
    assert [("RX9", "permit", "conference-invitations")] == [
        (r["organisation"], r["outcome"], r["agreement"]["flow"])
        for r in (await response.json())["recipients"]
    ]
    (first,) = await wait_for_kind(h.trust.received, 1, "meeting-invitation", fhir=True)
    (appointment,) = resources(first, "Appointment")
    assert "strategy-discussion" == appointment["appointmentType"]["coding"][0]["code"]
    assert target_of(appointment) is None
    # To the mother's care coordinator, naming the mother as the trust knows her.
    header = first["entry"][0]["resource"]
    receiver = header["destination"][0]["receiver"]["reference"]
    (role,) = [e["resource"] for e in first["entry"] if e["fullUrl"] == receiver]
    assert "care-coordinator" == role["code"][0]["coding"][0]["code"]
    (mother,) = resources(first, "RelatedPerson")
    assert MOTHER in orjson.dumps(mother["identifier"]).decode()

    on_time = council_meeting(start="2025-05-06T10:00:00+01:00")
    assert 202 == (await h.post_csc(on_time)).status
    late = council_meeting(start="2025-05-07T10:00:00+01:00")
    assert 202 == (await h.post_csc(late)).status
    found = await wait_for_kind(h.trust.received, 3, "meeting-invitation", fhir=True)
    targets = [target_of(resources(b, "Appointment")[0]) for b in found[1:]]
    assert [("2025-05-06", False), ("2025-05-06", True)] == targets

    rows = {r["kind"]: r for r in await meeting_rows(h)}
    assert ("2025-05-06", True) == (
        rows["initial-cp-conference"]["target_date"],
        rows["initial-cp-conference"]["after_target"],
    )
    assert rows["strategy-discussion"]["target_date"] is None

    # The care coordinator accepts: the reply goes back to the council's social worker.
    reply = await h.post_fhir(
        fhir_reply("MTG000031", "initial-cp-conference", "2025-05-07T10:00:00+01:00")
    )
    assert 202 == reply.status, await reply.text()
    assert [("999", "permit", "meeting-replies-to-council")] == [
        (r["organisation"], r["outcome"], r["agreement"]["flow"])
        for r in (await reply.json())["recipients"]
    ]
    (answer,) = await wait_for_kind(h.council.received, 1, "meeting-reply", fhir=False)
    (meeting,) = answer["meetings"]
    assert ("MTG000031", ["accepted"]) == (
        meeting["reference"],
        [r["response"] for r in meeting["responses"]],
    )
    replies = orjson.loads((await meeting_rows(h))[-1]["replies"])
    assert [("RX9", ["accepted"])] == [(r["organisation"], r["responses"]) for r in replies]


async def test_the_target_counts_from_the_section_47_start_without_a_strategy_discussion(
    h: Harness,
) -> None:
    """No strategy discussion carried: the ICPC scheduled counts from the enquiry's start
    (Mon 6 January 2025 + 15 working days = Mon 27 January), and the trust is told."""
    await known_family(h)
    scheduled: dict[str, Any] = orjson.loads(
        (FIXTURES / "csc" / "icpc-scheduled.json").read_bytes()
    )
    scheduled.pop("icpc_target_date")
    scheduled.update(purpose="child-protection-conference", icpc_date="2025-01-28")
    response = await h.post_csc(scheduled)
    assert 202 == response.status, await response.text()
    assert [("RX9", "permit")] == [
        (r["organisation"], r["outcome"]) for r in (await response.json())["recipients"]
    ]
    (row,) = await meeting_rows(h)
    assert ("initial-cp-conference", "2025-01-28", "2025-01-27", True) == (
        row["kind"],
        row["start_date"],
        row["target_date"],
        row["after_target"],
    )
    (bundle,) = await wait_for_kind(h.trust.received, 1, "icpc-scheduled", fhir=True)
    (notice,) = resources(bundle, "Communication")
    assert ("2025-01-27", True) == target_of(notice)
    text = notice["payload"][0]["contentString"]
    assert "2025-01-28" in text
    assert "2025-01-27" in text


async def test_a_conference_with_no_parent_known_has_no_recipient(h: Harness) -> None:
    """The child is known but no parent is: the invitation is accepted, recorded, sent nowhere."""
    status = child_status()
    status.pop("family")
    assert 202 == (await h.post_csc(status)).status
    response = await h.post_csc(council_meeting())
    assert 202 == response.status
    body = await response.json()
    assert ([], "no parent of this child is known to the index") == (
        body["recipients"],
        body["no_recipient"],
    )
    (row,) = await meeting_rows(h)
    assert "[]" == row["invited"]


# --- refusals and consent withdrawn mid-workflow ------------------------------------------------


async def test_a_care_review_is_refused_for_a_council_with_no_agreement(h: Harness) -> None:
    """The mother's other child is open to council 998, which has no flow from the trust: that
    social worker's invitation is refused (no-agreement) and recorded; 999's goes."""
    await known_family(h)
    other = child_status("998", la_child_id="CH998001")
    other["child_details"] = {"nhs_number": "9000000025", "first_name": "Alex"}
    other["message_id"] = "csc-998-000001"
    response = await h.client.post(
        "/csc/messages",
        data=orjson.dumps(other),
        headers={
            "Authorization": f"Bearer {OTHER_COUNCIL_KEY}",
            "Content-Type": "application/json",
        },
    )
    assert 202 == response.status, await response.text()
    invited = await h.post_fhir(care_review())
    assert {("999", "permit", "flow-permits"), ("998", "refuse", "no-agreement")} == {
        (r["organisation"], r["outcome"], r["reason_code"])
        for r in (await invited.json())["recipients"]
    }
    await wait_for_kind(h.council.received, 1, "meeting-invitation", fhir=False)
    assert [] == csc_bodies(h.other.received, "meeting-invitation")
    refused = [d for d in await decisions(h, "meeting-invitation") if d["outcome"] == "refuse"]
    assert [("council-other", "no-agreement")] == [
        (d["recipient_partner"], d["reason_code"]) for d in refused
    ]
    (row,) = await meeting_rows(h)
    assert '["999"]' == row["invited"]  # only where it was carried


def _care_reviews_honour_refusals(tmp_path: Path) -> Path:
    """The test agreements, with the care review invitation honouring a parent's refusal."""
    directory = tmp_path / "agreements"
    shutil.copytree(agreements_for_tests(), directory)
    path = directory / "demo-trust-council.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for flow in document["flows"]:
        if flow["id"] == "care-review-invitation":
            flow["consent"] = "honour-refusal"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return directory


async def test_a_withdrawal_of_consent_stops_the_next_invitation(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """Under an agreement whose care review flow honours refusals: the first review's invitation
    goes; the mother withdraws consent to share with the council for care coordination; the next
    review's invitation is refused (consent-refused) and recorded, and a reply to it refused as
    not carried."""
    agreements = _care_reviews_honour_refusals(tmp_path)
    async for h in start_harness(aiohttp_client, database, agreements_dir=agreements):
        await known_family(h)
        first = await h.post_fhir(care_review())
        assert [("999", "permit")] == [
            (r["organisation"], r["outcome"]) for r in (await first.json())["recipients"]
        ]
        await wait_for_kind(h.council.received, 1, "meeting-invitation", fhir=False)

        assert 202 == (await h.post_fhir(withdrawal())).status

        second = await h.post_fhir(care_review("CPA-RX9-0043", "2025-05-12T14:00:00+00:00"))
        assert [("999", "refuse", "consent-refused")] == [
            (r["organisation"], r["outcome"], r["reason_code"])
            for r in (await second.json())["recipients"]
        ]
        refused = [d for d in await decisions(h, "meeting-invitation") if d["outcome"] == "refuse"]
        assert [("care-review-invitation", True)] == [
            (d["flow_id"], d["consent_ref"] is not None) for d in refused
        ]
        rows = {r["reference"]: r for r in await meeting_rows(h)}
        assert ('["999"]', "[]") == (
            rows["CPA-RX9-0042"]["invited"],
            rows["CPA-RX9-0043"]["invited"],
        )
        # Not invited to the second: the council's reply to it is refused like any other.
        late = await h.post_csc(council_reply("CPA-RX9-0043", "2025-05-12T14:00:00+00:00"))
        assert 404 == late.status
        await asyncio.sleep(0.2)
        assert 1 == len(csc_bodies(h.council.received, "meeting-invitation"))


async def test_review_conferences_and_core_groups_reach_the_care_coordinator_and_can_be_cancelled(
    h: Harness,
) -> None:
    """A review conference and a core group go the same way, with no target; re-sending an
    invitation with the same reference and status cancelled updates the one meeting, and the
    trust is told it is cancelled."""
    await known_family(h)
    for kind, ref in (("review-cp-conference", "MTG000040"), ("core-group", "MTG000041")):
        response = await h.post_csc(council_meeting(kind, ref, "2025-06-02T10:00:00+01:00"))
        assert [("RX9", "permit")] == [
            (r["organisation"], r["outcome"]) for r in (await response.json())["recipients"]
        ]
    cancelled = council_meeting("core-group", "MTG000041", "2025-06-02T10:00:00+01:00")
    cancelled["status"] = "cancelled"
    assert 202 == (await h.post_csc(cancelled)).status
    found = await wait_for_kind(h.trust.received, 3, "meeting-invitation", fhir=True)
    appointments = [resources(b, "Appointment")[0] for b in found]
    assert [
        ("review-cp-conference", "booked", None),
        ("core-group", "booked", None),
        ("core-group", "cancelled", None),
    ] == [
        (a["appointmentType"]["coding"][0]["code"], a["status"], target_of(a)) for a in appointments
    ]
    rows = {r["reference"]: r for r in await meeting_rows(h)}
    assert {"MTG000040", "MTG000041"} == set(rows)
    assert ("cancelled", '["RX9"]') == (rows["MTG000041"]["status"], rows["MTG000041"]["invited"])
