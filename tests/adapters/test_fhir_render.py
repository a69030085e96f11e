"""Rendering for the trust's system: every kind of message the council may send, as FHIR that is
valid R4B, reads back to the same facts, and reports what it cannot carry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from adapters.base import Loss
from adapters.fhir_r4 import FhirR4Adapter
from adapters.fhir_r4.codes import OUT_OF_HOURS_EXTENSION, WITHHELD_EXTENSION
from schemas.disclosure import Addressee
from schemas.facts import (
    AbuseCategory,
    Consent,
    ConsentActor,
    ContactPoint,
    Fact,
    FamilyRelationship,
    HumanName,
    Meeting,
    MeetingKind,
    MeetingResponse,
    Organisation,
    OrganisationKind,
    Period,
    Person,
    Plan,
    PlanKind,
    Referral,
    ReferralStatus,
    RelationshipRole,
    RoleKind,
    Section47,
    Sex,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId, NhsNumber, SweRegistration
from schemas.labels import Purpose, SecurityLabels, Sensitivity
from schemas.message import CanonicalMessage, MessageKind
from tests.adapters.helpers import TRUST, disclosure

ADAPTER = FhirR4Adapter()
STRICT = FhirR4Adapter(validate_models=True)
TO_TRUST = Addressee(partner="northtown-trust", organisation="RX9", worker_role="coordinator")
THIRD_PARTY = SecurityLabels(sensitivity=frozenset({Sensitivity.THIRDPARTY}))

CHILD = Person(
    id="child",
    identifiers=(LaChildId(la_code="999", value="CH000123"), NhsNumber(value="9000000017")),
    name=HumanName(given=("Sam",), family="Smith"),
    birth_date=date(2016, 9, 3),
    sex=Sex.MALE,
)
MOTHER = Person(
    id="mother",
    identifiers=(NhsNumber(value="9000000009"),),
    name=HumanName(given=("Jane",), family="Smith"),
    sex=Sex.FEMALE,
    labels=THIRD_PARTY,
)
MOTHER_OF_CHILD = FamilyRelationship(
    id="link", person="mother", related_to="child", role=RelationshipRole.MOTHER
)
COUNCIL = Organisation(
    id="council",
    kind=OrganisationKind.LOCAL_AUTHORITY,
    la_code="999",
    name="Northtown Council Children's Services",
    telecom=(
        ContactPoint(system="phone", value="01632 960100"),
        ContactPoint(system="phone", value="01632 960999", out_of_hours=True),
    ),
)
TRUST_ORG = Organisation(id="trust", kind=OrganisationKind.NHS_TRUST, ods_code="RX9")
PRIYA = Worker(
    id="priya",
    name=HumanName(given=("Priya",), family="Shah"),
    registration=SweRegistration(value="SW123456"),
    local_id="W0042",
)
ALLOCATED = WorkerRole(
    id="allocated",
    role=RoleKind.ALLOCATED_SOCIAL_WORKER,
    worker="priya",
    organisation="council",
    subject="child",
    team="Children's Assessment Team",
    telecom=(ContactPoint(system="email", value="priya.shah@999.example"),),
    out_of_hours=(ContactPoint(system="phone", value="01632 960999", out_of_hours=True),),
    period=Period(start=date(2025, 1, 6)),
)
COORDINATOR = WorkerRole(id="coordinator", role=RoleKind.CARE_COORDINATOR, organisation="trust")
CP_PLAN = Plan(
    kind=PlanKind.CHILD_PROTECTION,
    period=Period(start=date(2025, 1, 20)),
    category=AbuseCategory.NEGLECT,
)
EPISODE = SocialCareEpisode(
    id="episode",
    subject="child",
    organisation="council",
    plans=(CP_PLAN,),
    allocated_worker="allocated",
)
PEOPLE: tuple[Fact, ...] = (CHILD, MOTHER, MOTHER_OF_CHILD, COUNCIL, TRUST_ORG, PRIYA, ALLOCATED)


# Fields that hold fact ids (directly, in tuples, or inside meeting responses).
REFERENCES = frozenset(
    {
        "person",
        "related_to",
        "worker",
        "organisation",
        "subject",
        "care_coordinator",
        "allocated_worker",
        "participants",
        "participant",
        "household",
        "risks",
        "referrer",
    }
)


def facts_content(facts: tuple[Fact, ...] | list[Fact]) -> list[str]:
    """The facts without their message-local ids, sorted: every reference is replaced by the
    referenced fact's own content (one level deep), lists are sorted, so two messages carrying
    the same information compare equal whatever ids and order they use."""
    by_id = {f.id: f for f in facts}

    def swap(value: object, key: str | None, deep: bool) -> object:
        if key in REFERENCES and isinstance(value, str) and value in by_id:
            return swap(dump(by_id[value]), None, False) if deep else "(ref)"
        if isinstance(value, dict):
            return {k: swap(v, k, deep) for k, v in value.items()}
        if isinstance(value, list):
            items = [swap(v, key, deep) for v in value]
            return sorted(items, key=lambda i: orjson.dumps(i, option=orjson.OPT_SORT_KEYS))
        return value

    def dump(fact: Fact) -> dict[str, Any]:
        dumped: dict[str, Any] = fact.model_dump(mode="json", exclude={"id"})
        return dumped

    return sorted(
        orjson.dumps(swap(dump(f), None, True), option=orjson.OPT_SORT_KEYS).decode() for f in facts
    )


def render(kind: MessageKind, *facts: Fact) -> tuple[dict[str, Any], tuple[Loss, ...], bytes]:
    rendered = ADAPTER.render(
        disclosure(
            (*PEOPLE, COORDINATOR, *facts), "child", kind=kind, sender="999", recipient=TO_TRUST
        )
    )
    return orjson.loads(rendered.body), rendered.losses, rendered.body


def of_type(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def again(body: bytes) -> CanonicalMessage:
    """The rendering read back, with full R4B validation on."""
    return STRICT.parse(body, TRUST)


SCENARIOS: dict[MessageKind, tuple[Fact, ...]] = {
    MessageKind.CP_PLAN_STARTED: (EPISODE,),
    MessageKind.CP_PLAN_ENDED: (
        EPISODE.model_copy(
            update={
                "plans": (
                    CP_PLAN.model_copy(
                        update={"period": Period(start=date(2025, 1, 20), end=date(2025, 6, 2))}
                    ),
                )
            }
        ),
    ),
    MessageKind.CHILD_STATUS: (EPISODE,),
    MessageKind.MEETING_INVITATION: (
        Meeting(
            id="icpc",
            kind=MeetingKind.INITIAL_CP_CONFERENCE,
            subject="child",
            start=datetime(2025, 2, 3, 10, tzinfo=UTC),
            end=datetime(2025, 2, 3, 12, tzinfo=UTC),
            participants=("allocated", "coordinator"),
            location="Northtown Civic Centre",
            reference="ICPC-2025-017",
        ),
    ),
    MessageKind.MEETING_REPLY: (
        Meeting(
            id="icpc",
            kind=MeetingKind.INITIAL_CP_CONFERENCE,
            subject="child",
            start=datetime(2025, 2, 3, 10, tzinfo=UTC),
            participants=("allocated", "coordinator"),
            reference="ICPC-2025-017",
            responses=(MeetingResponse(participant="allocated", response="accepted"),),
        ),
    ),
    MessageKind.REFERRAL_STATUS: (
        Referral(
            id="referral",
            subject="child",
            concerns="",
            status=ReferralStatus.ALLOCATED,
            reference="RX9-REF-0042",
        ),
    ),
    MessageKind.WORKER_CONTACT: (),
    MessageKind.ALLOCATED_WORKER_CHANGED: (),
}


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_every_kind_the_council_sends_reads_back_to_the_same_facts(kind: MessageKind) -> None:
    """Rendered, validated as R4B and parsed again: the same facts (the mother, a related person
    who is not the child, reads back labelled 3RDPARTY, as she was sent), no losses."""
    _, losses, body = render(kind, *SCENARIOS[kind])
    message = again(body)
    sent = (*PEOPLE, COORDINATOR, *SCENARIOS[kind])
    assert ((), kind, "999") == (losses, message.kind, message.provenance.organisation)
    assert facts_content(sent) == facts_content(message.facts)
    subject = message.fact(message.subject or "")
    assert isinstance(subject, Person)
    assert facts_content([CHILD]) == facts_content([subject])


def test_a_cp_plan_start_is_a_plan_flag_and_a_notice_to_the_care_coordinator() -> None:
    """CP plan started: a Flag with the plan, the category and the council as author, and a
    Communication about it addressed to the care coordinator's role."""
    bundle, _, _ = render(MessageKind.CP_PLAN_STARTED, EPISODE)
    (flag,) = of_type(bundle, "Flag")
    (notice,) = of_type(bundle, "Communication")
    urls = {e["resource"]["id"]: e["fullUrl"] for e in bundle["entry"]}
    header = bundle["entry"][0]["resource"]
    assert (
        [
            {
                "system": "https://joined-up.org.uk/CodeSystem/plan-kind",
                "code": "child-protection",
                "display": "Child protection plan",
            },
            {"system": "https://joined-up.org.uk/CodeSystem/abuse-category", "code": "NEG"},
        ],
        {"start": "2025-01-20"},
        "active",
    ) == (flag["code"]["coding"], flag["period"], flag["status"])
    assert (
        [{"reference": urls[flag["id"]]}],
        "Child protection plan started on 2025-01-20.",
        [{"reference": urls[flag["id"]]}],
    ) == (notice["about"], notice["payload"][0]["contentString"], header["focus"])
    assert "PractitionerRole" == next(
        e["resource"]["resourceType"]
        for e in bundle["entry"]
        if e["fullUrl"] == notice["recipient"][0]["reference"]
    )


def test_child_status_carries_the_council_with_office_hours_and_out_of_hours_contacts() -> None:
    """The CP-IS-like payload: plan type and dates on the Flag, its author the council, whose
    out-of-hours line is marked."""
    bundle, _, _ = render(MessageKind.CHILD_STATUS, EPISODE)
    (flag,) = of_type(bundle, "Flag")
    council = next(
        e["resource"] for e in bundle["entry"] if e["fullUrl"] == flag["author"]["reference"]
    )
    assert [
        {"system": "phone", "value": "01632 960100", "use": "work"},
        {
            "system": "phone",
            "value": "01632 960999",
            "use": "work",
            "extension": [{"url": OUT_OF_HOURS_EXTENSION, "valueBoolean": True}],
        },
    ] == council["telecom"]
    assert [] == of_type(bundle, "Communication")


def test_a_meeting_invitation_is_an_appointment_with_each_worker_invited() -> None:
    """The child is who it is about; each worker role is a required participant awaiting an
    answer; the place is a Location."""
    bundle, _, _ = render(
        MessageKind.MEETING_INVITATION, *SCENARIOS[MessageKind.MEETING_INVITATION]
    )
    (appointment,) = of_type(bundle, "Appointment")
    assert (
        ["information-only", "required", "required", "required"],
        ["needs-action", "needs-action", "needs-action", "accepted"],
        "booked",
    ) == (
        [p["required"] for p in appointment["participant"]],
        [p["status"] for p in appointment["participant"]],
        appointment["status"],
    )


def test_a_referral_status_is_a_task_on_the_referral() -> None:
    """Allocated: Task accepted, business status allocated, focus the ServiceRequest."""
    bundle, _, _ = render(MessageKind.REFERRAL_STATUS, *SCENARIOS[MessageKind.REFERRAL_STATUS])
    (task,) = of_type(bundle, "Task")
    (request,) = of_type(bundle, "ServiceRequest")
    url = next(
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ServiceRequest"
    )
    assert (
        "accepted",
        "allocated",
        url,
        [{"system": "https://joined-up.org.uk/Id/referral-reference", "value": "RX9-REF-0042"}],
    ) == (
        task["status"],
        task["businessStatus"]["coding"][0]["code"],
        task["focus"]["reference"],
        request["identifier"],
    )


def test_worker_contact_puts_the_role_in_the_childs_care_team() -> None:
    """The allocated social worker's role, for the child, is a participant of the child's
    CareTeam; its out-of-hours line is marked on the PractitionerRole."""
    bundle, _, _ = render(MessageKind.WORKER_CONTACT)
    (team,) = of_type(bundle, "CareTeam")
    role = next(
        e["resource"]
        for e in bundle["entry"]
        if e["fullUrl"] == team["participant"][0]["member"]["reference"]
    )
    assert (
        "allocated-social-worker",
        [{"display": "Children's Assessment Team"}],
        [{"url": OUT_OF_HOURS_EXTENSION, "valueBoolean": True}],
    ) == (
        team["participant"][0]["role"][0]["coding"][0]["code"],
        role["healthcareService"],
        role["telecom"][1]["extension"],
    )


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_every_rendering_carries_the_withheld_manifest(kind: MessageKind) -> None:
    """Whatever the kind, the header says what was withheld, why, and whom to ask."""
    bundle, _, _ = render(kind, *SCENARIOS[kind])
    header = bundle["entry"][0]["resource"]
    assert ["diagnosis"] == [
        e["extension"][0]["valueString"]
        for e in header["extension"]
        if e["url"] == WITHHELD_EXTENSION
    ]


def test_what_the_plan_flags_cannot_carry_is_reported() -> None:
    """An episode's referral source, section 47s and closure are not on a plan flag: losses."""
    fuller = EPISODE.model_copy(
        update={
            "referral_source": "3A",
            "section47": (Section47(start=date(2025, 1, 8)),),
            "closure_date": date(2025, 7, 1),
        }
    )
    _, losses, _ = render(MessageKind.CHILD_STATUS, fuller)
    reason = "the FHIR plan flags carry the plans, the child and the council only"
    assert (
        Loss("social-care-episode.referral_source", reason),
        Loss("social-care-episode.section47", reason),
        Loss("social-care-episode.closure_date", reason),
    ) == losses


def test_a_narrower_ethnic_category_is_reported() -> None:
    """DfE's Traveller of Irish heritage has no UK Core category of its own: it goes as C."""
    traveller = CHILD.model_copy(update={"ethnicity": "WIRT"})
    rendered = ADAPTER.render(
        disclosure(
            (traveller,), "child", kind=MessageKind.CHILD_STATUS, sender="999", recipient=TO_TRUST
        )
    )
    patient = of_type(orjson.loads(rendered.body), "Patient")[0]
    assert (
        "C",
        (
            Loss(
                "person.ethnicity",
                "UK Core has no category of its own for this DfE code: the broader one is sent",
            ),
        ),
    ) == (patient["extension"][0]["valueCodeableConcept"]["coding"][0]["code"], rendered.losses)


def test_a_fact_about_a_person_not_sent_is_a_loss() -> None:
    """A meeting whose subject was withheld cannot be rendered: it is reported, not invented."""
    meeting = SCENARIOS[MessageKind.MEETING_INVITATION][0]
    rendered = ADAPTER.render(
        disclosure((COUNCIL, meeting), None, kind=MessageKind.MEETING_INVITATION, sender="999")
    )
    assert (Loss("meeting", "a meeting cannot be sent without the person it is about"),) == (
        rendered.losses
    )


def test_a_consent_directive_reads_back_whole() -> None:
    """Every part of a directive survives the round trip."""
    consent = Consent(
        id="consent",
        subject="child",
        given_by=ConsentActor.COMPETENT_CHILD,
        decision="permit",
        recipients=("RX9",),
        purposes=(Purpose.SAFEGUARDING_CHILD,),
        element_classes=("social-care-episode",),
        sensitivities=frozenset({Sensitivity.MH}),
        period=Period(start=date(2025, 1, 1), end=date(2025, 12, 31)),
        recorded_at=datetime(2025, 1, 1, 9, tzinfo=UTC),
    )
    _, losses, body = render(MessageKind.CONSENT_DIRECTIVE, consent)
    message = again(body)
    assert ((), facts_content((*PEOPLE, COORDINATOR, consent))) == (
        losses,
        facts_content(message.facts),
    )
