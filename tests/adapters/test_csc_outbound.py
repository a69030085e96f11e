"""The CSC adapter's council documents: meeting invitation, referral and worker contact notices,
and the disclosure summary, chosen by the disclosure's kind."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from adapters.base import Loss
from adapters.csc import CscAdapter
from adapters.csc.outbound import (
    DisclosureSummary,
    MeetingInvitationNotice,
    ReferralNotice,
    WorkerContactNotice,
)
from gateway.errors import ConfigurationError
from schemas.disclosure import Addressee
from schemas.facts import (
    Consent,
    ConsentActor,
    ContactPoint,
    CrisisEvent,
    CrisisKind,
    Diagnosis,
    EpisodeStatus,
    Fact,
    FamilyRelationship,
    HumanName,
    Meeting,
    MeetingKind,
    MentalHealthEpisode,
    Organisation,
    OrganisationKind,
    Period,
    Person,
    Referral,
    RelationshipRole,
    Risk,
    RoleKind,
    Sex,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId, NhsNumber
from schemas.labels import Confidentiality, SecurityLabels, Sensitivity
from schemas.message import MessageKind
from tests.adapters.helpers import disclosure

ADAPTER = CscAdapter()
TO_WORKER = Addressee(partner="council-999", organisation="999", worker_role="role-social-worker")
TO_COUNCIL = Addressee(partner="council-999", organisation="999")

MOTHER = Person(
    id="person-mother",
    identifiers=(NhsNumber(value="9000000009"),),
    name=HumanName(given=("Jane",), family="Smith"),
    birth_date=date(1990, 4, 12),
)
CHILD = Person(
    id="person-child",
    identifiers=(LaChildId(la_code="999", value="CH000123"), NhsNumber(value="9000000017")),
    name=HumanName(given=("Sam",), family="Smith"),
    birth_date=date(2016, 9, 3),
    sex=Sex.MALE,
)
LINK = FamilyRelationship(
    id="link-mother",
    person="person-mother",
    related_to="person-child",
    role=RelationshipRole.MOTHER,
)
TRUST = Organisation(
    id="org-trust",
    kind=OrganisationKind.NHS_TRUST,
    ods_code="RX9",
    name="Northtown Mental Health NHS Foundation Trust",
)
COUNCIL = Organisation(id="org-council", kind=OrganisationKind.LOCAL_AUTHORITY, la_code="999")
COORDINATOR = Worker(
    id="worker-coordinator",
    name=HumanName(given=("Alex",), family="Morgan"),
    telecom=(ContactPoint(system="phone", value="01632 960123"),),
)
COORDINATOR_ROLE = WorkerRole(
    id="role-coordinator",
    role=RoleKind.CARE_COORDINATOR,
    worker="worker-coordinator",
    organisation="org-trust",
    subject="person-mother",
    team="Northtown Community Mental Health Team",
    out_of_hours=(ContactPoint(system="phone", value="01632 960999", out_of_hours=True),),
)
SOCIAL_WORKER = Worker(id="worker-social", local_id="SW0042")
SOCIAL_WORKER_ROLE = WorkerRole(
    id="role-social-worker",
    role=RoleKind.ALLOCATED_SOCIAL_WORKER,
    worker="worker-social",
    organisation="org-council",
    subject="person-child",
    period=Period(start=date(2025, 1, 20)),
)
REVIEW = Meeting(
    id="meeting-review",
    kind=MeetingKind.CARE_REVIEW,
    subject="person-mother",
    start=datetime(2025, 2, 10, 14, tzinfo=UTC),
    end=datetime(2025, 2, 10, 15, tzinfo=UTC),
    participants=("role-coordinator", "role-social-worker"),
    location="Northtown CMHT, Meeting Room 2",
    reference="CPA-RX9-0042",
)
PEOPLE: tuple[Fact, ...] = (
    MOTHER,
    CHILD,
    LINK,
    TRUST,
    COUNCIL,
    COORDINATOR,
    COORDINATOR_ROLE,
    SOCIAL_WORKER,
    SOCIAL_WORKER_ROLE,
)


def render(
    facts: tuple[Fact, ...], kind: MessageKind, recipient: Addressee = TO_WORKER
) -> tuple[dict[str, Any], tuple[Loss, ...]]:
    rendered = ADAPTER.render(disclosure(facts, "person-mother", kind=kind, recipient=recipient))
    assert "application/json" == rendered.content_type
    body: dict[str, Any] = orjson.loads(rendered.body)
    return body, rendered.losses


def test_a_care_review_invitation_is_a_meeting_invitation_notice() -> None:
    """The trust's care review of the mother, for the child's social worker: every part, the
    terms of the disclosure, and no loss."""
    body, losses = render((*PEOPLE, REVIEW), MessageKind.MEETING_INVITATION)
    assert () == losses
    assert {
        "message_type": "meeting-invitation-notice",
        "schema_version": "1",
        "message_id": "disc-0001",
        "exchange_id": "exch-0001",
        "sent_at": "2025-03-14T23:07:00Z",
        "kind": "meeting-invitation",
        "from": {
            "organisation": "RX9",
            "organisation_name": "Northtown Mental Health NHS Foundation Trust",
        },
        "to": {"la_code": "999", "worker_id": "SW0042"},
        "subject": "person-mother",
        "child": {
            "ref": "person-child",
            "la_child_id": "CH000123",
            "nhs_number": "9000000017",
            "nhs_number_verification": None,
            "upn": None,
            "former_upn": None,
            "given_names": ["Sam"],
            "surname": "Smith",
            "date_of_birth": "2016-09-03",
            "sex": "M",
            "ethnicity": None,
            "postcode": None,
        },
        "people": [
            {
                "ref": "person-mother",
                "la_child_id": None,
                "nhs_number": "9000000009",
                "nhs_number_verification": None,
                "upn": None,
                "former_upn": None,
                "given_names": ["Jane"],
                "surname": "Smith",
                "date_of_birth": "1990-04-12",
                "sex": None,
                "ethnicity": None,
                "postcode": None,
            }
        ],
        "relationships": [
            {
                "ref": "link-mother",
                "person": "person-mother",
                "related_to": "person-child",
                "relationship": "mother",
                "parental_responsibility": None,
                "lives_with": None,
            }
        ],
        "organisations": [
            {
                "ref": "org-trust",
                "kind": "nhs-trust",
                "ods_code": "RX9",
                "la_code": None,
                "name": "Northtown Mental Health NHS Foundation Trust",
                "telecom": [],
            },
            {
                "ref": "org-council",
                "kind": "local-authority",
                "ods_code": None,
                "la_code": "999",
                "name": None,
                "telecom": [],
            },
        ],
        "worker_contacts": [
            {
                "ref": "role-coordinator",
                "role": "care-coordinator",
                "worker": {
                    "ref": "worker-coordinator",
                    "given_names": ["Alex"],
                    "surname": "Morgan",
                    "worker_id": None,
                    "social_work_england_registration": None,
                    "professional_registration": None,
                    "telecom": [
                        {"system": "phone", "value": "01632 960123", "out_of_hours": False}
                    ],
                },
                "organisation": "org-trust",
                "for_person": "person-mother",
                "team": "Northtown Community Mental Health Team",
                "telecom": [],
                "out_of_hours": [
                    {"system": "phone", "value": "01632 960999", "out_of_hours": True}
                ],
                "start": None,
                "end": None,
            },
            {
                "ref": "role-social-worker",
                "role": "allocated-social-worker",
                "worker": {
                    "ref": "worker-social",
                    "given_names": [],
                    "surname": None,
                    "worker_id": "SW0042",
                    "social_work_england_registration": None,
                    "professional_registration": None,
                    "telecom": [],
                },
                "organisation": "org-council",
                "for_person": "person-child",
                "team": None,
                "telecom": [],
                "out_of_hours": [],
                "start": "2025-01-20",
                "end": None,
            },
        ],
        "agreement": {
            "id": "northtown-safeguarding",
            "version": 3,
            "flow": "trust-to-council-crisis",
        },
        "purpose": "safeguarding-child",
        "lawful_basis": {
            "code": "art6(1)(e)+art9(2)(g)+sch1-para18",
            "art6": "6(1)(e)",
            "art9": "9(2)(g)",
            "dpa2018": "sch1-para18",
            "statutory_gateway": None,
            "age_band": "child",
            "no_consent_reason": "would-prejudice-protection",
        },
        "obligations": ["NORDSCLCD"],
        "withheld": [
            {
                "element": "diagnosis",
                "reason_code": "sensitivity-label",
                "reason": "psychiatric information is not shared under this agreement",
                "ask": "Northtown Trust information governance, 01632 960000",
            }
        ],
        "meeting": {
            "ref": "meeting-review",
            "reference": "CPA-RX9-0042",
            "kind": "care-review",
            "subject": "person-mother",
            "start": "2025-02-10T14:00:00Z",
            "end": "2025-02-10T15:00:00Z",
            "status": "booked",
            "location": "Northtown CMHT, Meeting Room 2",
            "participants": ["role-coordinator", "role-social-worker"],
            "responses": [],
            "target_date": None,  # a care review has no target; an ICPC has its 15 working days
            "after_target": None,
        },
    } == body
    MeetingInvitationNotice.model_validate(body)


RISK = Risk(
    id="risk-1",
    subject="person-child",
    summary="Mother reports thoughts of harming herself when alone with the children at night.",
    category="self-harm",
    period=Period(start=date(2025, 3, 1)),
)
REFERRAL = Referral(
    id="referral-1",
    subject="person-child",
    household=("person-mother",),
    concerns="Sam's mother was detained under s136 last night; Sam was with a neighbour.",
    risks=("risk-1",),
    referrer="role-coordinator",
    consent_given=False,
    basis_without_consent="would-prejudice-protection",
    reference="REF-RX9-2025-0031",
)


def test_a_referral_notice_carries_concerns_risks_household_referrer_and_consent() -> None:
    """A referral to the front door about a child the council does not know yet: the child is
    among the people (no LA child id), and nothing is lost."""
    unknown_child = CHILD.model_copy(update={"identifiers": (NhsNumber(value="9000000017"),)})
    facts = (MOTHER, unknown_child, LINK, TRUST, COORDINATOR, COORDINATOR_ROLE, RISK, REFERRAL)
    body, losses = render(facts, MessageKind.REFERRAL, TO_COUNCIL)
    notice = ReferralNotice.model_validate(body)
    assert ((), None, {"la_code": "999", "worker_id": None}) == (
        losses,
        body["child"],
        body["to"],
    )
    assert (
        "REF-RX9-2025-0031",
        ("person-mother",),
        ("risk-1",),
        "role-coordinator",
        False,
        "would-prejudice-protection",
    ) == (
        notice.referral.reference,
        notice.referral.household,
        notice.referral.risks,
        notice.referral.referrer,
        notice.referral.consent_given,
        notice.referral.basis_without_consent,
    )
    assert [("risk-1", "self-harm")] == [(r.ref, r.category) for r in notice.risks]


def test_a_worker_contact_notice_says_who_the_care_coordinator_is() -> None:
    """The care coordinator's name, team, phone and out-of-hours line, for the mother."""
    body, losses = render(PEOPLE, MessageKind.WORKER_CONTACT)
    notice = WorkerContactNotice.model_validate(body)
    contact = notice.worker_contacts[0]
    assert () == losses
    assert (
        "worker-contact-notice",
        RoleKind.CARE_COORDINATOR,
        "Morgan",
        "person-mother",
        "01632 960999",
    ) == (
        notice.message_type,
        contact.role,
        contact.worker.surname if contact.worker else None,
        contact.for_person,
        contact.out_of_hours[0].value,
    )


SUMMARY_FACTS: tuple[Fact, ...] = (
    *PEOPLE,
    MentalHealthEpisode(
        id="episode-1",
        subject="person-mother",
        status=EpisodeStatus.ACTIVE,
        period=Period(start=date(2024, 6, 1)),
        organisation="org-trust",
        team="Northtown Community Mental Health Team",
        care_coordinator="role-coordinator",
    ),
    CrisisEvent(
        id="crisis-1",
        kind=CrisisKind.ADMISSION,
        subject="person-mother",
        period=Period(start=datetime(2025, 3, 1, 2, tzinfo=UTC)),
        organisation="org-trust",
    ),
    Diagnosis(
        id="diagnosis-1",
        subject="person-mother",
        code_system="http://snomed.info/sct",
        code="35489007",
        display="Depressive disorder",
    ),
    Consent(
        id="consent-1",
        subject="person-mother",
        given_by=ConsentActor.SUBJECT,
        decision="permit",
        recipients=("999",),
        element_classes=("mental-health-episode", "diagnosis"),
        sensitivities=frozenset({Sensitivity.MH}),
        recorded_at=datetime(2025, 2, 1, 9, tzinfo=UTC),
    ),
    RISK,
    REVIEW,
)


def test_a_summary_carries_whatever_the_disclosure_holds() -> None:
    """A record update under consent: episode, crisis, diagnosis, consent, risk and meeting all
    in their sections, with nothing lost."""
    body, losses = render(SUMMARY_FACTS, MessageKind.RECORD_UPDATE)
    summary = DisclosureSummary.model_validate(body)
    assert () == losses
    assert (1, 1, 1, 1, 1, 1) == (
        len(summary.mental_health_episodes),
        len(summary.crisis_events),
        len(summary.diagnoses),
        len(summary.consents),
        len(summary.risks),
        len(summary.meetings),
    )


@pytest.mark.parametrize(
    "kind", [MessageKind.RECORD_UPDATE, MessageKind.CONSENT_DIRECTIVE, MessageKind.MEETING_REPLY]
)
def test_kinds_without_a_notice_of_their_own_are_summaries(kind: MessageKind) -> None:
    """Record updates, consent directives and meeting replies render as disclosure summaries."""
    body, _ = render(PEOPLE, kind)
    assert ("disclosure-summary", kind.value) == (body["message_type"], body["kind"])


def test_what_a_notice_has_no_place_for_is_a_loss() -> None:
    """A meeting notice given a diagnosis, a crisis and a second meeting reports each as lost,
    and nothing of them appears in the body."""
    other = REVIEW.model_copy(update={"id": "meeting-2", "location": "Ward 3"})
    facts = (*PEOPLE, REVIEW, other, *SUMMARY_FACTS[9:12])
    body, losses = render(facts, MessageKind.MEETING_INVITATION)
    assert (
        Loss("meeting", "the meeting invitation notice carries one meeting, or none"),
        Loss("mental-health-episode", "the meeting invitation notice has no place for it"),
        Loss("crisis-event", "the meeting invitation notice has no place for it"),
        Loss("diagnosis", "the meeting invitation notice has no place for it"),
    ) == losses
    text = orjson.dumps(body).decode()
    assert ("35489007" not in text, "Ward 3" not in text) == (True, True)


def test_what_a_part_cannot_hold_is_a_loss() -> None:
    """Labels, a sex the CSC codes lack, another council's child id and a worker who was not
    disclosed are each reported by element."""
    mother = MOTHER.model_copy(
        update={
            "sex": Sex.OTHER,
            "identifiers": (*MOTHER.identifiers, LaChildId(la_code="998", value="P77")),
            "labels": SecurityLabels(confidentiality=Confidentiality.R),
        }
    )
    facts = (mother, CHILD, COORDINATOR_ROLE, REVIEW)
    _, losses = render(facts, MessageKind.MEETING_INVITATION, TO_COUNCIL)
    assert [
        "person.labels",
        "person.identifiers",
        "person.sex",
        "worker-role.worker",
    ] == [loss.element for loss in losses]


@pytest.mark.parametrize(
    ("kind", "facts", "recipient"),
    [
        (MessageKind.CHILD_STATUS, PEOPLE, TO_WORKER),
        (MessageKind.CIN_CENSUS_CHILD, PEOPLE, TO_WORKER),
        (MessageKind.MEETING_INVITATION, PEOPLE, TO_WORKER),
        (MessageKind.REFERRAL, PEOPLE, TO_WORKER),
        (MessageKind.WORKER_CONTACT, PEOPLE, Addressee(partner="trust", organisation="RX9")),
    ],
)
def test_what_cannot_be_rendered_for_a_council_is_a_configuration_error(
    kind: MessageKind, facts: tuple[Fact, ...], recipient: Addressee
) -> None:
    """A kind with no council document, an invitation without a meeting, a referral without a
    referral, or a recipient that is not a council: ConfigurationError, which the pipeline
    records as a refusal."""
    with pytest.raises(ConfigurationError):
        render(facts, kind, recipient)
