"""Referrals (issue 7 item 3), end to end through both adapters: the trust's FHIR referral reaches
the council's front door as a CSC referral notice, the council's acknowledgements come back to the
referrer as FHIR, and whatever is wrong is refused with a specific error, recorded, and nothing of
it applied."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, func, select

from gateway.appkeys import SERVICES
from gateway.directory import replace_entries
from gateway.services import Services
from gateway.settings import WorkflowSettings
from gateway.store.tables import outbox, persons, referrals
from gateway.workcal import WorkingCalendar
from schemas.facts import (
    ContactPoint,
    HumanName,
    Organisation,
    OrganisationKind,
    RoleKind,
    Worker,
    WorkerRole,
)
from tests.conftest import FIXTURES, OTHER_COUNCIL_KEY, Database, agreements_for_tests
from tests.delivery_helpers import synthetic_nhs_number, until_rows
from tests.gateway_harness import Harness, MovableClock, child_status, start_harness

LA_CHILD = "https://joined-up.org.uk/Id/la-child-id"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
SHARING_REQUEST = "https://joined-up.org.uk/StructureDefinition/sharing-request"
PARA18 = "art6(1)(e)+art9(2)(g)+sch1-para18"
FRIDAY_4PM = datetime(2025, 3, 14, 16, 0, tzinfo=UTC)  # GMT: Europe/London is UTC in March


@dataclass(frozen=True)
class Family:
    """A mother (the trust's patient) and her child, synthetic numbers from the 999 range."""

    number: int

    @property
    def mother(self) -> str:
        return synthetic_nhs_number(2 * self.number)

    @property
    def child(self) -> str:
        return synthetic_nhs_number(2 * self.number + 1)

    @property
    def la_child_id(self) -> str:
        return f"CH{self.number:06d}"


def _resource(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind
    )
    return found


def referral_bundle(
    family: Family,
    *,
    reference: str = "RX9-REF-0042",
    la_code: str | None = "999",
    consent: bool | None = True,
    basis: str | None = None,
    para18: bool = False,
) -> dict[str, Any]:
    """The referral fixture for ``family``: a new message, with its consent as given."""
    bundle: dict[str, Any] = orjson.loads((FIXTURES / "fhir" / "referral.json").read_bytes())
    bundle["id"] = str(uuid.uuid4())
    header = _resource(bundle, "MessageHeader")
    header["id"] = str(uuid.uuid4())
    _resource(bundle, "Patient")["identifier"] = [{"system": NHS, "value": family.mother}]
    child_ids: list[dict[str, str]] = [{"system": NHS, "value": family.child}]
    if la_code is not None:
        child_ids.append({"system": LA_CHILD, "value": f"{la_code}/{family.la_child_id}"})
    _resource(bundle, "RelatedPerson")["identifier"] = child_ids
    request = _resource(bundle, "ServiceRequest")
    request["identifier"][0]["value"] = reference
    parts: list[dict[str, Any]] = []
    if consent is not None:
        parts.append({"url": "consentGiven", "valueBoolean": consent})
    if basis is not None:
        parts.append({"url": "basisWithoutConsent", "valueString": basis})
    if parts:
        request["extension"][0]["extension"] = parts
    else:
        del request["extension"]
    if para18:
        header["extension"] = [
            {
                "url": SHARING_REQUEST,
                "extension": [
                    {"url": "lawfulBasis", "valueCode": PARA18},
                    {"url": "ageBand", "valueCode": "child"},
                    {"url": "noConsentReason", "valueCode": "would-prejudice-protection"},
                ],
            }
        ]
    return bundle


def referral_status(
    family: Family,
    status: str,
    *,
    reference: str = "RX9-REF-0042",
    la_code: str = "999",
    worker: bool = False,
) -> dict[str, Any]:
    """The council's acknowledgement of a referral (CSC referral-status)."""
    message: dict[str, Any] = orjson.loads((FIXTURES / "csc" / "referral-status.json").read_bytes())
    message.update(
        message_id=f"csc-{la_code}-{uuid.uuid4().hex[:10]}",
        la_code=la_code,
        la_child_id=family.la_child_id,
        child_details={"nhs_number": family.child},
        referral_id=reference,
        status=status,
        purpose="referral",
    )
    if not worker and status != "allocated":
        del message["worker"]
    return message


def consent_withdrawal(family: Family) -> dict[str, Any]:
    """The mother withdraws her consent to sharing with the council for referrals (COC)."""
    bundle: dict[str, Any] = orjson.loads(
        (FIXTURES / "fhir" / "consent-directive.json").read_bytes()
    )
    bundle["id"] = str(uuid.uuid4())
    _resource(bundle, "MessageHeader")["id"] = str(uuid.uuid4())
    _resource(bundle, "Patient")["identifier"] = [{"system": NHS, "value": family.mother}]
    consent = _resource(bundle, "Consent")
    consent["dateTime"] = "2025-03-15T12:00:00+00:00"
    provision = consent["provision"]
    del provision["class"], provision["securityLabel"]
    return bundle


def _contact(org_id: str, role: RoleKind, name: str, phone: str, *, ods: bool) -> Any:
    org = Organisation(
        id=org_id,
        kind=OrganisationKind.NHS_TRUST if ods else OrganisationKind.LOCAL_AUTHORITY,
        ods_code="RX9" if ods else None,
        la_code=None if ods else "999",
    )
    worker = Worker(id=f"{role.value}-worker", name=HumanName(family=name), local_id=name.upper())
    fact = WorkerRole(
        id=role.value,
        role=role,
        worker=worker.id,
        organisation=org.id,
        telecom=(ContactPoint(system="phone", value=phone),),
    )
    return fact, worker, org


async def load_directory(h: Harness, *, front_door: bool = True, leads: bool = True) -> None:
    """Directory entries for both organisations, as ops would load them."""
    at = datetime.now(UTC)
    council = []
    if front_door:
        council.append(_contact("la", RoleKind.FRONT_DOOR, "Mash", "01632 960700", ods=False))
    if leads:
        council.append(
            _contact("la", RoleKind.SAFEGUARDING_LEAD_CHILDREN, "Lead", "01632 960701", ods=False)
        )
    trust = []
    if leads:
        trust += [
            _contact("rx9", RoleKind.SAFEGUARDING_LEAD_ADULTS, "Adults", "01632 960100", ods=True),
            _contact("rx9", RoleKind.SAFEGUARDING_LEAD_CHILDREN, "Kids", "01632 960101", ods=True),
        ]

    def load(conn: Connection) -> None:
        replace_entries(conn, "999", council, source="file", at=at)
        replace_entries(conn, "RX9", trust, source="file", at=at)

    async with h.engine.begin() as conn:
        await conn.run_sync(load)


def services(h: Harness) -> Services:
    found: Services = h.client.app[SERVICES]
    return found


async def rows(h: Harness) -> list[dict[str, Any]]:
    async with h.engine.connect() as conn:
        found = await conn.execute(select(referrals).order_by(referrals.c.sent_at))
        return [dict(r._mapping) for r in found]


async def counts(h: Harness) -> tuple[int, int, int]:
    """Referrals, outbox rows and indexed people: what a refused message must leave alone."""
    async with h.engine.connect() as conn:
        found = []
        for table in (referrals, outbox, persons):
            query = select(func.count()).select_from(table)
            found.append(int((await conn.execute(query)).scalar_one()))
        return found[0], found[1], found[2]


async def refused(h: Harness) -> list[dict[str, Any]]:
    return [e for e in await h.entries() if e["event"] == "exchange.refused"]


async def decisions(h: Harness, kind: str) -> list[dict[str, Any]]:
    return [
        e for e in await h.entries() if e["event"] == "disclosure.decided" and e["kind"] == kind
    ]


async def settled(h: Harness) -> None:
    """Every delivery made and recorded (the ledger is verified when nothing is being written)."""
    await until_rows(h.engine, lambda found: all(r["status"] == "delivered" for r in found))


QUIET = WorkflowSettings(escalation_interval=0)  # tests call escalate_overdue themselves


async def test_referral_reaches_the_front_door_and_acknowledgements_come_back(
    hr: Harness, clock: MovableClock
) -> None:
    """The referral lands at the council as a referral notice addressed to the front door, with
    its withheld manifest; received and allocated land at the trust as FHIR Tasks; the referral
    is tracked with its working-hours deadline, and moves on with each acknowledgement."""
    h, family = hr, Family(1)
    await load_directory(h)
    response = await h.post_fhir(referral_bundle(family))
    summary = await response.json()
    assert 202 == response.status, summary
    assert [("999", "permit", "referral-to-front-door")] == [
        (r["organisation"], r["outcome"], r["agreement"]["flow"]) for r in summary["recipients"]
    ]
    notice = orjson.loads((await h.council.wait_for(1))[0].body)
    assert ("referral-notice", "RX9-REF-0042") == (
        notice["message_type"],
        notice["referral"]["reference"],
    )
    assert "detained under section 136" in notice["referral"]["concerns"]
    assert family.la_child_id == notice["child"]["la_child_id"]
    # Addressed to the front door the directory names; the refuge postcode is withheld, listed.
    assert "front-door" in [w["role"] for w in notice["worker_contacts"]]
    assert notice["to"]["worker_id"] == "MASH"
    withheld = {w["element"]: w["reason_code"] for w in notice["withheld"]}
    assert "person.postcode" in withheld, withheld
    assert "sensitivity-label" == withheld["person.postcode"]

    (row,) = await rows(h)
    deadline = WorkingCalendar().add_working_hours(FRIDAY_4PM, 8)
    assert deadline == datetime(2025, 3, 17, 16, 0, tzinfo=UTC)  # Friday 1 h + Monday 7 h
    assert ("sent", "RX9", "999", FRIDAY_4PM, deadline, None) == (
        row["status"],
        row["referrer_organisation"],
        row["front_door_organisation"],
        row["sent_at"],
        row["ack_deadline"],
        row["acknowledged_at"],
    )
    assert row["child_person_id"] is not None
    assert row["subject_person_id"] is not None
    # The child is new to the gateway: the notice names it once (as the referral's child, with
    # the council's own id), and the decision's entry names it by its new index id.
    assert "recipient-child" not in [p["ref"] for p in notice["people"]]
    assert [] == [p for p in notice["people"] if not (p["nhs_number"] or p["la_child_id"])]
    (front_door,) = [w for w in notice["worker_contacts"] if w["role"] == "front-door"]
    assert notice["child"]["ref"] == front_door["for_person"]
    (decided,) = [
        e
        for e in await h.entries()
        if e["event"] == "disclosure.decided" and e.get("flow_id") == "referral-to-front-door"
    ]
    assert row["child_person_id"] in decided["person_ids"]

    clock.now = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
    response = await h.post_csc(referral_status(family, "received"))
    ack = await response.json()
    assert 202 == response.status, ack
    assert [("RX9", "permit", "referral-status-to-trust")] == [
        (r["organisation"], r["outcome"], r["agreement"]["flow"]) for r in ack["recipients"]
    ]
    clock.now = datetime(2025, 3, 17, 11, 0, tzinfo=UTC)
    assert 202 == (await h.post_csc(referral_status(family, "allocated"))).status
    bundles = [orjson.loads(r.body) for r in await h.trust.wait_for(2)]
    statuses = []
    for bundle in bundles:
        kinds = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
        assert "referral-status" == kinds["MessageHeader"]["eventCoding"]["code"]
        assert "RX9-REF-0042" == kinds["ServiceRequest"]["identifier"][0]["value"]
        statuses.append(kinds["Task"]["businessStatus"]["coding"][0]["code"])
        # Addressed to the referrer the referral named.
        assert "Morgan" == kinds["Practitioner"]["name"][0]["family"]
    assert ["received", "allocated"] == sorted(statuses, key=["received", "allocated"].index)
    # The allocated one names the council's worker, as the agreement allows.
    (allocated,) = [b for b in bundles if b"allocated-social-worker" in orjson.dumps(b)]
    assert b"Reid" in orjson.dumps(allocated)
    (row,) = await rows(h)
    assert ("allocated", datetime(2025, 3, 17, 10, 0, tzinfo=UTC)) == (
        row["status"],
        row["acknowledged_at"],
    )
    await settled(h)
    assert (await h.verify()).intact


async def test_a_referral_is_routed_to_the_council_when_the_directory_has_no_front_door(
    hr: Harness,
) -> None:
    """No front door in the directory: the referral still goes, addressed to the council."""
    h = hr
    response = await h.post_fhir(referral_bundle(Family(2)))
    assert 202 == response.status
    assert ["permit"] == [r["outcome"] for r in (await response.json())["recipients"]]
    notice = orjson.loads((await h.council.wait_for(1))[0].body)
    assert ("999", None) == (notice["to"]["la_code"], notice["to"]["worker_id"])
    assert 1 == len(await rows(h))


async def test_bad_acknowledgements_are_refused_recorded_and_change_nothing(hr: Harness) -> None:
    """Unknown reference → 404; a status going backwards → 409; each recorded as
    exchange.refused, and neither the referral nor the outbox changes."""
    h, family = hr, Family(3)
    await load_directory(h)
    assert 202 == (await h.post_fhir(referral_bundle(family))).status
    assert 202 == (await h.post_csc(referral_status(family, "allocated"))).status
    before, (row,) = await counts(h), await rows(h)

    unknown = await h.post_csc(referral_status(family, "received", reference="RX9-REF-9999"))
    assert 404 == unknown.status
    backwards = await h.post_csc(referral_status(family, "received"))
    problem = await backwards.json()
    assert 409 == backwards.status
    assert "moves forward only" in problem["detail"]
    assert [(404, "NotFound"), (409, "Conflict")] == [
        (e["status"], e["error"]) for e in await refused(h)
    ]
    assert all(e["kind"] == "referral-status" for e in await refused(h))
    assert before == await counts(h)
    assert [row] == await rows(h)


async def test_an_acknowledgement_naming_no_purpose_is_kept_but_not_sent(hr: Harness) -> None:
    """The council did acknowledge (so nothing is escalated), but with no purpose nothing is
    disclosed to the trust: refused for purpose-missing, recorded."""
    h, family = hr, Family(9)
    assert 202 == (await h.post_fhir(referral_bundle(family))).status
    ack = referral_status(family, "received")
    del ack["purpose"]
    response = await h.post_csc(ack)
    assert [("RX9", "refuse", "purpose-missing")] == [
        (r["organisation"], r["outcome"], r["reason_code"])
        for r in (await response.json())["recipients"]
    ]
    (row,) = await rows(h)
    assert ("received", False) == (row["status"], row["acknowledged_at"] is None)


@pytest.mark.parametrize(
    ("change", "element"),
    [
        ("no-concerns", "resource.note"),  # the FHIR adapter's own check
        ("no-requester", "referral.referrer"),
        ("no-telecom", "referral.referrer"),
        ("no-consent", "referral.consent_given"),
        ("no-basis", "referral.basis_without_consent"),
        ("no-reference", "referral.reference"),
        ("long-reference", "referral.reference"),
        ("no-child", "referral.household"),
        ("unidentified-child", "resource.identifier"),  # the FHIR adapter's own check
    ],
)
async def test_a_referral_missing_what_it_must_carry_is_refused_naming_the_element(
    hr: Harness, change: str, element: str
) -> None:
    """Each missing element is named (no value repeated), recorded, and nothing is applied."""
    h = hr
    bundle = referral_bundle(Family(4), consent=change != "no-basis")
    request = _resource(bundle, "ServiceRequest")
    if change == "no-concerns":
        del request["note"]
    elif change == "no-requester":
        del request["requester"]
    elif change == "no-telecom":
        del _resource(bundle, "PractitionerRole")["telecom"]
    elif change == "no-consent":
        del request["extension"]
    elif change == "no-reference":
        del request["identifier"]
    elif change == "long-reference":
        request["identifier"][0]["value"] = "R" * 300
    elif change == "no-child":
        request["supportingInfo"] = [
            s for s in request["supportingInfo"] if "4402a588" not in s["reference"]
        ]
        bundle["entry"] = [
            e for e in bundle["entry"] if e["resource"]["resourceType"] != "RelatedPerson"
        ]
    elif change == "unidentified-child":
        del _resource(bundle, "RelatedPerson")["identifier"]
    before = await counts(h)
    response = await h.post_fhir(bundle)
    outcome = await response.json()
    assert response.status in (400, 422), outcome
    places = [" ".join(i.get("expression", [])) + " " + i["diagnostics"] for i in outcome["issue"]]
    assert any(element in place for place in places), places
    assert Family(4).mother not in orjson.dumps(outcome).decode()
    (entry,) = await refused(h)
    # Refused by the FHIR adapter (before the message has a kind) or by the referral workflow.
    kind = None if element.startswith("resource.") else "referral"
    assert (kind, response.status) == (entry["kind"], entry["status"])
    assert before == await counts(h)


async def test_a_referral_without_consent_needs_para18_else_it_is_refused_and_not_tracked(
    hr: Harness,
) -> None:
    """Consent not given and no ground to refer without it: refused (recorded), nothing sent,
    nothing tracked. The same referral on Sch 1 para 18 goes, and is tracked."""
    h, family = hr, Family(5)
    await load_directory(h)
    basis = "Asking the mother would put the child at risk."
    response = await h.post_fhir(referral_bundle(family, consent=False, basis=basis))
    summary = await response.json()
    assert 202 == response.status, summary
    assert [("999", "refuse", "consent-not-given")] == [
        (r["organisation"], r["outcome"], r["reason_code"]) for r in summary["recipients"]
    ]
    (decision,) = await decisions(h, "referral")
    assert ("refuse", "referral-to-front-door") == (decision["outcome"], decision["flow_id"])
    assert [] == await rows(h)
    assert 0 == await h.count(outbox)

    response = await h.post_fhir(
        referral_bundle(family, consent=False, basis=basis, para18=True, reference="RX9-REF-0043")
    )
    summary = await response.json()
    assert [("999", "permit")] == [(r["organisation"], r["outcome"]) for r in summary["recipients"]]
    notice = orjson.loads((await h.council.wait_for(1))[0].body)
    assert (basis, False) == (
        notice["referral"]["basis_without_consent"],
        notice["referral"]["consent_given"],
    )
    assert PARA18 == notice["lawful_basis"]["code"]
    assert ["RX9-REF-0043"] == [r["reference"] for r in await rows(h)]


async def test_the_same_reference_twice_is_a_conflict(hr: Harness) -> None:
    """A second referral with a reference already used with that council: 409, nothing applied."""
    h, family = hr, Family(6)
    assert 202 == (await h.post_fhir(referral_bundle(family))).status
    before = await counts(h)
    again = await h.post_fhir(referral_bundle(family))
    assert 409 == again.status
    assert before == await counts(h)
    assert [(409, "referral")] == [(e["status"], e["kind"]) for e in await refused(h)]


def _other_council_agreements(tmp_path: Path) -> Path:
    """The test agreements plus referrals from the trust to council 998 and its acks back."""
    directory = tmp_path / "agreements"
    directory.mkdir()
    for path in agreements_for_tests().glob("*.yaml"):
        (directory / path.name).write_bytes(path.read_bytes())
    (directory / "other-council-referrals.yaml").write_text(
        """id: other-council-referrals
version: 1
title: Referrals from the trust to council 998, for the tests
parties:
  - {code: RX9, partner: trust-demo, name: Test trust}
  - {code: "998", partner: council-other, name: Other council}
flows:
  - id: referral-to-998
    from: RX9
    to: "998"
    message_kinds: [referral]
    purposes: [referral]
    lawful_bases: [{art6: "6(1)(e)", art9: "9(2)(h)", dpa2018: sch1-para2}]
    consent: honour-refusal
    preset: referral
    elements: [referral.concerns, risk.summary]
    exclude_labels: [PSY, PSYTHPN, PATLOC]
  - id: referral-status-from-998
    from: "998"
    to: RX9
    message_kinds: [referral-status]
    purposes: [referral]
    lawful_bases: [{art6: "6(1)(e)", art9: "9(2)(h)", dpa2018: sch1-para2}]
    preset: referral-status
    elements: [referral.concerns]
""",
        encoding="utf-8",
    )
    return directory


async def test_an_acknowledgement_of_another_councils_referral_is_not_found(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """The child's LA child id picks council 998; council 999 quoting the reference gets the same
    404 as for an unknown one (no existence oracle); 998's own acknowledgement is carried."""
    family = Family(7)
    agreements = _other_council_agreements(tmp_path)
    async for h in start_harness(
        aiohttp_client, database, agreements_dir=agreements, workflows=QUIET
    ):
        response = await h.post_fhir(referral_bundle(family, la_code="998"))
        summary = await response.json()
        assert [("998", "permit")] == [
            (r["organisation"], r["outcome"]) for r in summary["recipients"]
        ]
        assert (
            "referral-notice" == orjson.loads((await h.other.wait_for(1))[0].body)["message_type"]
        )
        theirs = await h.post_csc(referral_status(family, "received"))
        unknown = await h.post_csc(referral_status(family, "received", reference="RX9-NOPE"))
        assert (404, 404) == (theirs.status, unknown.status)
        assert (await theirs.json())["detail"] == (await unknown.json())["detail"]
        assert ["sent"] == [r["status"] for r in await rows(h)]

        own = await h.post_csc(
            referral_status(family, "received", la_code="998"), key=OTHER_COUNCIL_KEY
        )
        assert 202 == own.status, await own.json()
        assert ["received"] == [r["status"] for r in await rows(h)]
        assert 1 == len(await h.trust.wait_for(1))


async def test_consent_withdrawn_after_the_referral(hr: Harness, clock: MovableClock) -> None:
    """The mother withdraws consent after the referral was sent. The council's acknowledgements
    still reach the referrer (the flow rests on public task, not consent, tells the referrer about
    its own referral, and is about the child, whose consent the mother's directive is not); a new
    referral to the council is refused (its flow honours refusals) unless made on Sch 1 para 18,
    which goes flagged for IG review."""
    h, family = hr, Family(8)
    await load_directory(h)
    assert 202 == (await h.post_fhir(referral_bundle(family))).status
    withdrawal = await h.post_fhir(consent_withdrawal(family))
    assert 202 == withdrawal.status, await withdrawal.json()
    # The withdrawal was made on Saturday the 15th; what follows happens on Monday, with it in
    # force (the gateway's clock stamps each message).
    clock.now = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)

    assert 202 == (await h.post_csc(referral_status(family, "received"))).status
    assert "received" == (await rows(h))[0]["status"]
    acks = await decisions(h, "referral-status")
    assert ["permit"] == [d["outcome"] for d in acks]

    again = await h.post_fhir(referral_bundle(family, reference="RX9-REF-0044"))
    assert [("refuse", "consent-refused")] == [
        (r["outcome"], r["reason_code"]) for r in (await again.json())["recipients"]
    ]
    assert 1 == len(await rows(h))
    urgent = await h.post_fhir(referral_bundle(family, reference="RX9-REF-0045", para18=True))
    assert ["permit"] == [r["outcome"] for r in (await urgent.json())["recipients"]]
    flagged = (await decisions(h, "referral"))[-1]
    assert flagged["flagged_for_review"] is True
    assert 2 == len(await rows(h))


async def test_without_an_la_id_the_council_comes_from_the_index_else_the_referral_must_say(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """With referral flows to two councils (999 and 998), a child no council is known to hold
    must be named by its LA child id: 422 naming referral.household, recorded, nothing applied.
    Once council 999's child-status has taught the index the child's LA child id, the same
    referral (NHS number only) goes to 999's front door."""
    family = Family(10)
    agreements = _other_council_agreements(tmp_path)
    async for h in start_harness(
        aiohttp_client, database, agreements_dir=agreements, workflows=QUIET
    ):
        before = await counts(h)
        response = await h.post_fhir(referral_bundle(family, la_code=None))
        outcome = await response.json()
        assert 422 == response.status, outcome
        assert ["referral.household"] == [i["expression"][0] for i in outcome["issue"]]
        assert "LA child id" in outcome["issue"][0]["diagnostics"]
        assert [(422, "referral")] == [(e["status"], e["kind"]) for e in await refused(h)]
        assert before == await counts(h)

        known = child_status(la_child_id=family.la_child_id)
        known["child_details"]["nhs_number"] = family.child
        known["family"][0]["nhs_number"] = family.mother
        assert 202 == (await h.post_csc(known)).status
        response = await h.post_fhir(referral_bundle(family, la_code=None))
        summary = await response.json()
        assert [("999", "permit")] == [
            (r["organisation"], r["outcome"]) for r in summary["recipients"]
        ]
        assert ["999"] == [r["front_door_organisation"] for r in await rows(h)]
