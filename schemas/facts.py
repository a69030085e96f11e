"""Canonical facts: people, family links, organisations, workers, episodes, events, consent.

Every fact has a ``fact`` discriminator (its *element class*, used by agreements and minimisation),
a message-local ``id`` that other facts refer to, and its own security labels. Element paths used
by agreements are ``<fact>.<field>``, for example ``crisis-event.legal_status``.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from schemas.base import CanonicalModel
from schemas.identifiers import OdsCodeStr, PersonIdentifier, SweRegistration
from schemas.labels import ElementLabels, Purpose, SecurityLabels, Sensitivity

LocalId = Annotated[str, Field(min_length=1, max_length=128)]


class Period(CanonicalModel):
    """A start and an optional end."""

    start: datetime | date | None = None
    end: datetime | date | None = None


class Sex(StrEnum):
    """Administrative sex / gender as both FHIR and the CIN census can carry it."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class HumanName(CanonicalModel):
    """A person's usual name."""

    given: tuple[str, ...] = ()
    family: str | None = None


class ContactPoint(CanonicalModel):
    """A way to reach someone; ``out_of_hours`` marks emergency-duty routes."""

    system: Literal["phone", "email", "url", "other"]
    value: Annotated[str, Field(min_length=1, max_length=256)]
    out_of_hours: bool = False


_NOT_LABELLABLE = frozenset({"id", "fact", "labels", "element_labels"})


class _Fact(CanonicalModel):
    id: LocalId
    labels: SecurityLabels = SecurityLabels()
    element_labels: tuple[ElementLabels, ...] = ()  # stricter labels on single fields

    @model_validator(mode="after")
    def _element_labels_name_fields(self) -> _Fact:
        for item in self.element_labels:
            if item.element in _NOT_LABELLABLE or item.element not in type(self).model_fields:
                raise ValueError(f"{item.element!r} is not a labellable field of this fact")
        return self


FactBase = _Fact  # the base of every fact class (for code that inspects the classes' rules)


class Person(_Fact):
    """A parent, carer or child, with typed identifiers."""

    fact: Literal["person"] = "person"
    identifiers: tuple[PersonIdentifier, ...] = ()
    name: HumanName | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    ethnicity: str | None = None  # DfE / UK Core ethnic category code
    postcode: str | None = None


class RelationshipRole(StrEnum):
    """How the related person stands to the subject (v3-RoleCode, normalised)."""

    MOTHER = "MTH"
    FATHER = "FTH"
    PARENT = "PRN"
    GUARDIAN = "GUARD"
    CHILD = "CHILD"
    CARER = "CAREGIVER"
    STEP_PARENT = "STPPRN"
    OTHER = "O"


class FamilyRelationship(_Fact):
    """``person`` is ``role`` of ``related_to`` (for example: person is MTH of the child)."""

    fact: Literal["family-relationship"] = "family-relationship"
    person: LocalId
    related_to: LocalId
    role: RelationshipRole
    parental_responsibility: bool | None = None
    lives_with: bool | None = None


class OrganisationKind(StrEnum):
    """The kind of partner organisation."""

    NHS_TRUST = "nhs-trust"
    LOCAL_AUTHORITY = "local-authority"
    POLICE = "police"
    SCHOOL = "school"
    OTHER = "other"


class Organisation(_Fact):
    """An NHS organisation (ODS code) or council (DfE LA code held as ``la_code``)."""

    fact: Literal["organisation"] = "organisation"
    kind: OrganisationKind
    ods_code: OdsCodeStr | None = None
    la_code: Annotated[str | None, Field(pattern=r"^\d{3}$")] = None
    name: str | None = None
    telecom: tuple[ContactPoint, ...] = ()


class Worker(_Fact):
    """A practitioner: a social worker, care coordinator, manager, lead."""

    fact: Literal["worker"] = "worker"
    name: HumanName | None = None
    local_id: str | None = None  # the employer's own worker id (CSC ``worker_id``)
    registration: SweRegistration | None = None
    professional_registration: str | None = None  # e.g. NMC PIN or HCPC number
    telecom: tuple[ContactPoint, ...] = ()


class RoleKind(StrEnum):
    """Roles the practitioners need to find (modelled generically: CPA or key worker)."""

    CARE_COORDINATOR = "care-coordinator"
    ALLOCATED_SOCIAL_WORKER = "allocated-social-worker"
    TEAM_MANAGER = "team-manager"
    SAFEGUARDING_LEAD_ADULTS = "safeguarding-lead-adults"
    SAFEGUARDING_LEAD_CHILDREN = "safeguarding-lead-children"
    LINK_WORKER = "link-worker"
    IRO_OR_CP_CHAIR = "iro-or-cp-chair"
    AMHP = "amhp"
    FRONT_DOOR = "front-door"
    OUT_OF_HOURS = "out-of-hours"
    # A clinician in unscheduled care (emergency department, urgent treatment centre, minor
    # injuries unit, out-of-hours GP, ambulance service, maternity: the settings that check a
    # child's status with the national CP-IS service).
    UNSCHEDULED_CARE_CLINICIAN = "unscheduled-care-clinician"


class WorkerRole(_Fact):
    """A worker in a role for an organisation, optionally for one person, with contacts."""

    fact: Literal["worker-role"] = "worker-role"
    role: RoleKind
    worker: LocalId | None = None  # a Worker fact; None for a team or duty line
    organisation: LocalId | None = None
    subject: LocalId | None = None  # the person this worker is allocated to
    team: str | None = None
    telecom: tuple[ContactPoint, ...] = ()
    out_of_hours: tuple[ContactPoint, ...] = ()
    period: Period | None = None


class EpisodeStatus(StrEnum):
    """FHIR EpisodeOfCare.status values, which also cover CSC episodes."""

    PLANNED = "planned"
    WAITLIST = "waitlist"
    ACTIVE = "active"
    ONHOLD = "onhold"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class MentalHealthEpisode(_Fact):
    """A period of care with the mental health trust."""

    fact: Literal["mental-health-episode"] = "mental-health-episode"
    subject: LocalId
    status: EpisodeStatus
    period: Period | None = None
    organisation: LocalId | None = None
    team: str | None = None
    care_coordinator: LocalId | None = None  # a WorkerRole fact


class PlanKind(StrEnum):
    """CSC plans, with the CP-IS plan types."""

    CHILD_IN_NEED = "child-in-need"
    CHILD_PROTECTION = "child-protection"
    LOOKED_AFTER = "looked-after"
    UNBORN_CHILD_PROTECTION = "unborn-child-protection"


class AbuseCategory(StrEnum):
    """Child protection plan categories."""

    NEGLECT = "NEG"
    PHYSICAL = "PHY"
    SEXUAL = "SAB"
    EMOTIONAL = "EMO"
    MULTIPLE = "MUL"


class Plan(CanonicalModel):
    """A plan within a social care episode."""

    kind: PlanKind
    period: Period
    category: AbuseCategory | None = None


class Section47Outcome(StrEnum):
    """How a section 47 enquiry ended (SSD ``s47e_s47_outcome_json``, reduced to its decision):
    a code, never a narrative, so it is not free text."""

    NO_FURTHER_ACTION = "no-further-action"
    INITIAL_CONFERENCE = "initial-conference"
    CHILD_IN_NEED_PLAN = "child-in-need-plan"
    OTHER = "other"


class Section47(CanonicalModel):
    """A section 47 enquiry and its initial conference."""

    start: date
    icpc_target_date: date | None = None
    icpc_date: date | None = None
    outcome: Section47Outcome | None = None


class SocialCareEpisode(_Fact):
    """A child's involvement with children's social care (CIN episode), with plans."""

    fact: Literal["social-care-episode"] = "social-care-episode"
    subject: LocalId
    organisation: LocalId | None = None
    referral_date: date | None = None
    referral_source: str | None = None  # CIN ReferralSource code
    primary_need: str | None = None  # CIN PrimaryNeedCode
    assessment_factors: tuple[str, ...] = ()  # CIN FactorsIdentifiedAtAssessment codes
    section47: tuple[Section47, ...] = ()
    plans: tuple[Plan, ...] = ()
    closure_date: date | None = None
    closure_reason: str | None = None
    allocated_worker: LocalId | None = None  # a WorkerRole fact


class MeetingKind(StrEnum):
    """Meetings that cross agencies."""

    CARE_REVIEW = "care-review"
    STRATEGY_DISCUSSION = "strategy-discussion"
    INITIAL_CP_CONFERENCE = "initial-cp-conference"
    REVIEW_CP_CONFERENCE = "review-cp-conference"
    CORE_GROUP = "core-group"


class MeetingResponse(CanonicalModel):
    """One participant's answer to a meeting invitation."""

    participant: LocalId  # a WorkerRole fact among the meeting's participants
    response: Literal["accepted", "declined", "tentative"]


class Meeting(_Fact):
    """A meeting about a person, with invited participants and, in a reply, their answers."""

    fact: Literal["meeting"] = "meeting"
    kind: MeetingKind
    subject: LocalId
    start: datetime
    end: datetime | None = None
    status: Literal["proposed", "booked", "cancelled", "fulfilled"] = "booked"
    participants: tuple[LocalId, ...] = ()  # WorkerRole facts
    location: str | None = None
    reference: str | None = None  # the organiser's own id for the meeting, which replies quote
    responses: tuple[MeetingResponse, ...] = ()
    # The date by which it is due: an initial child protection conference's target, 15 working
    # days from the strategy discussion (or the section 47 enquiry's start). Set by the gateway's
    # meetings workflow on the invitation it carries, so both sides know it.
    target_date: date | None = None

    @model_validator(mode="after")
    def _responses_from_participants(self) -> Meeting:
        if any(r.participant not in self.participants for r in self.responses):
            raise ValueError("a meeting response must come from one of its participants")
        return self


class Risk(_Fact):
    """A risk as a worded summary (a label is never the point: DOMAIN.md section 1)."""

    fact: Literal["risk"] = "risk"
    subject: LocalId
    summary: Annotated[str, Field(max_length=4000)]
    category: str | None = None
    period: Period | None = None


class CrisisKind(StrEnum):
    """Crisis events that matter to the child's social worker."""

    CRISIS_TEAM_CONTACT = "crisis-team-contact"
    SELF_HARM_ATTENDANCE = "self-harm-attendance"
    DETENTION = "detention"
    ADMISSION = "admission"
    DISCHARGE = "discharge"
    MISSED_APPOINTMENT = "missed-appointment"


class LegalStatus(CanonicalModel):
    """Mental Health Act legal status (UK Core ``Extension-UKCore-LegalStatus``)."""

    system: str
    code: str
    display: str | None = None


class CrisisEvent(_Fact):
    """A crisis: team contact, self-harm attendance, detention, admission, discharge."""

    fact: Literal["crisis-event"] = "crisis-event"
    kind: CrisisKind
    subject: LocalId
    period: Period
    legal_status: LegalStatus | None = None
    organisation: LocalId | None = None
    location: str | None = None
    reason: str | None = None


class Diagnosis(_Fact):
    """A diagnosis (FHIR Condition). Internal by default: labelled PSY and restricted."""

    fact: Literal["diagnosis"] = "diagnosis"
    subject: LocalId
    code_system: str
    code: str
    display: str | None = None


class ReferralStatus(StrEnum):
    """Where a referral to the council's front door has got to."""

    SENT = "sent"
    RECEIVED = "received"
    ALLOCATED = "allocated"
    NO_FURTHER_ACTION = "no-further-action"
    ASSESSMENT = "assessment"
    SECTION_47 = "section-47"


class Referral(_Fact):
    """A structured referral to children's social care."""

    fact: Literal["referral"] = "referral"
    subject: LocalId
    household: tuple[LocalId, ...] = ()
    concerns: Annotated[str, Field(max_length=8000)]
    risks: tuple[LocalId, ...] = ()
    referrer: LocalId | None = None  # WorkerRole fact
    status: ReferralStatus = ReferralStatus.SENT
    consent_given: bool | None = None
    basis_without_consent: str | None = None
    reference: str | None = None  # the referrer's own id for the referral, which replies quote


class ConsentActor(StrEnum):
    """Whose consent counts."""

    SUBJECT = "subject"
    COMPETENT_CHILD = "competent-child"
    PARENT = "parent"
    LOCAL_AUTHORITY_CARE_ORDER = "local-authority-care-order"


class Consent(_Fact):
    """A consent directive: permit or deny sharing, by recipient, purpose, class and label."""

    fact: Literal["consent"] = "consent"
    subject: LocalId
    given_by: ConsentActor
    decision: Literal["permit", "deny"]
    recipients: tuple[str, ...] = ()  # organisation codes; empty = any
    purposes: tuple[Purpose, ...] = ()  # empty = any
    element_classes: tuple[str, ...] = ()  # fact names; empty = all
    sensitivities: frozenset[Sensitivity] = frozenset()  # data labelled so; empty = any label
    period: Period | None = None
    recorded_at: datetime


Fact = Annotated[
    Person
    | FamilyRelationship
    | Organisation
    | Worker
    | WorkerRole
    | MentalHealthEpisode
    | SocialCareEpisode
    | Meeting
    | Risk
    | CrisisEvent
    | Diagnosis
    | Referral
    | Consent,
    Field(discriminator="fact"),
]

FACT_CLASSES: tuple[type[CanonicalModel], ...] = (
    Person,
    FamilyRelationship,
    Organisation,
    Worker,
    WorkerRole,
    MentalHealthEpisode,
    SocialCareEpisode,
    Meeting,
    Risk,
    CrisisEvent,
    Diagnosis,
    Referral,
    Consent,
)
