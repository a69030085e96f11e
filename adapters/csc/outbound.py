"""What a council's case system receives: the notices and the disclosure summary.

Every document carries the disclosure's terms (agreement, purpose, lawful basis, handling
obligations, and what was withheld, why and whom to ask) and its facts as *parts*: people,
family relationships, organisations, worker contacts, and, by document, the meeting, the referral
with its risks, or every section for a summary. Parts refer to each other by ``ref``, the
disclosure's own fact id (built from positions, never from identifiers). A case system files a
document under ``child``: the child as the council knows them, by LA child id.

| message_type | disclosure kind | sections besides people, relationships, organisations, workers |
|---|---|---|
| ``crisis-notice`` | crisis-event | (its own flat layout: ``crisis_notice.py``) |
| ``meeting-invitation-notice`` | meeting-invitation | ``meeting`` |
| ``referral-notice`` | referral | ``referral``, ``risks`` |
| ``worker-contact-notice`` | worker-contact | none |
| ``disclosure-summary`` | record-update, consent-directive, meeting-reply | every section |
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from adapters.csc.crisis_notice import (
    AgreementRef,
    CrisisNotice,
    LawfulBasis,
    LegalStatus,
    NoticeModel,
    Recipient,
    Withheld,
)
from schemas.facts import (
    AbuseCategory,
    ConsentActor,
    CrisisKind,
    EpisodeStatus,
    MeetingKind,
    OrganisationKind,
    PlanKind,
    ReferralStatus,
    RoleKind,
    Section47Outcome,
)
from schemas.identifiers import NhsNumberVerification
from schemas.labels import Purpose, Sensitivity
from schemas.message import MessageKind

SCHEMA_VERSION: Literal["1"] = "1"
Ref = str
When = datetime | date | None
RelationshipWord = Literal[
    "mother", "father", "parent", "step-parent", "guardian", "carer", "child", "other"
]


class Contact(NoticeModel):
    """A phone number, email address or web address; ``out_of_hours`` marks emergency routes."""

    system: Literal["phone", "email", "url", "other"]
    value: str
    out_of_hours: bool = False


class PersonPart(NoticeModel):
    """A person: identifiers this council can use, name, birth date and demographics."""

    ref: Ref
    la_child_id: str | None = None  # this council's own id for the person
    nhs_number: str | None = None
    nhs_number_verification: NhsNumberVerification | None = None
    upn: str | None = None
    former_upn: str | None = None
    given_names: tuple[str, ...] = ()
    surname: str | None = None
    date_of_birth: date | None = None
    sex: Literal["M", "F", "U"] | None = None
    ethnicity: str | None = None  # the DfE code (WBRI...) for the canonical UK Core category
    postcode: str | None = None


class RelationshipPart(NoticeModel):
    """``person`` is the ``relationship`` of ``related_to`` (the mother of the child, say)."""

    ref: Ref
    person: Ref
    related_to: Ref
    relationship: RelationshipWord
    parental_responsibility: bool | None = None
    lives_with: bool | None = None


class OrganisationPart(NoticeModel):
    """An NHS organisation (ODS code) or a council (DfE LA code)."""

    ref: Ref
    kind: OrganisationKind
    ods_code: str | None = None
    la_code: str | None = None
    name: str | None = None
    telecom: tuple[Contact, ...] = ()


class WorkerPart(NoticeModel):
    """A practitioner."""

    ref: Ref
    given_names: tuple[str, ...] = ()
    surname: str | None = None
    worker_id: str | None = None  # the employer's own id for the worker
    social_work_england_registration: str | None = None
    professional_registration: str | None = None
    telecom: tuple[Contact, ...] = ()


class WorkerContactPart(NoticeModel):
    """A worker in a role (care coordinator, allocated social worker...) for a person, and how
    to reach them, in and out of hours. A role with no worker is a team or duty line."""

    ref: Ref
    role: RoleKind
    worker: WorkerPart | None = None
    organisation: Ref | None = None
    for_person: Ref | None = None
    team: str | None = None
    telecom: tuple[Contact, ...] = ()
    out_of_hours: tuple[Contact, ...] = ()
    start: When = None
    end: When = None


class MeetingResponsePart(NoticeModel):
    """A participant's answer to the invitation."""

    participant: Ref
    response: Literal["accepted", "declined", "tentative"]


class MeetingPart(NoticeModel):
    """A meeting about a person: its participants are worker contacts."""

    ref: Ref
    reference: str | None = None  # the organiser's own id, which a reply quotes
    kind: MeetingKind
    subject: Ref
    start: datetime
    end: datetime | None = None
    status: Literal["proposed", "booked", "cancelled", "fulfilled"]
    location: str | None = None
    participants: tuple[Ref, ...] = ()
    responses: tuple[MeetingResponsePart, ...] = ()
    # The date it is due by (an initial conference's 15 working days from the strategy
    # discussion), and whether it is set after that date.
    target_date: date | None = None
    after_target: bool | None = None


class RiskPart(NoticeModel):
    """A risk, as a worded summary."""

    ref: Ref
    subject: Ref
    summary: str
    category: str | None = None
    start: When = None
    end: When = None


class ReferralPart(NoticeModel):
    """A structured referral: concerns, risks, household, referrer, and consent or the basis for
    sharing without it."""

    ref: Ref
    reference: str | None = None  # the referrer's own id, which a referral-status quotes
    subject: Ref
    household: tuple[Ref, ...] = ()
    concerns: str
    risks: tuple[Ref, ...] = ()
    referrer: Ref | None = None
    status: ReferralStatus
    consent_given: bool | None = None
    basis_without_consent: str | None = None


class MentalHealthEpisodePart(NoticeModel):
    """A period of care with the trust."""

    ref: Ref
    subject: Ref
    status: EpisodeStatus
    start: When = None
    end: When = None
    organisation: Ref | None = None
    team: str | None = None
    care_coordinator: Ref | None = None


class Section47Part(NoticeModel):
    """A section 47 enquiry and its initial conference."""

    start_date: date
    icpc_target_date: date | None = None
    icpc_date: date | None = None
    outcome: Section47Outcome | None = None  # a code: no-further-action, initial-conference, ...


class PlanPart(NoticeModel):
    """A plan: child in need, child protection, looked after, unborn child protection."""

    kind: PlanKind
    start: When = None
    end: When = None
    category: AbuseCategory | None = None


class SocialCareEpisodePart(NoticeModel):
    """A child's involvement with children's social care."""

    ref: Ref
    subject: Ref
    organisation: Ref | None = None
    referral_date: date | None = None
    referral_source: str | None = None
    primary_need: str | None = None
    assessment_factors: tuple[str, ...] = ()
    section_47: tuple[Section47Part, ...] = ()
    plans: tuple[PlanPart, ...] = ()
    closure_date: date | None = None
    closure_reason: str | None = None
    allocated_worker: Ref | None = None


class CrisisEventPart(NoticeModel):
    """A crisis: team contact, self-harm attendance, detention, admission, discharge."""

    ref: Ref
    kind: CrisisKind
    subject: Ref
    start: When = None
    end: When = None
    legal_status: LegalStatus | None = None
    organisation: Ref | None = None
    location: str | None = None
    reason: str | None = None


class DiagnosisPart(NoticeModel):
    """A diagnosis, where an agreement lets one through."""

    ref: Ref
    subject: Ref
    code_system: str
    code: str
    display: str | None = None


class ConsentPart(NoticeModel):
    """A consent directive: who permits or denies sharing what, with whom, for what."""

    ref: Ref
    subject: Ref
    given_by: ConsentActor
    decision: Literal["permit", "deny"]
    recipients: tuple[str, ...] = ()
    purposes: tuple[Purpose, ...] = ()
    element_classes: tuple[str, ...] = ()
    sensitivities: tuple[Sensitivity, ...] = ()  # data labelled so; empty: any label
    start: When = None
    end: When = None
    recorded_at: datetime


class Origin(NoticeModel):
    """The sending organisation."""

    organisation: str  # ODS code or DfE LA code
    organisation_name: str | None = None


class Document(NoticeModel):
    """What every notice and summary holds: header, terms, and the parts every document has."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    message_id: str  # the disclosure's id
    exchange_id: str
    sent_at: datetime
    kind: MessageKind  # the disclosure's kind, e.g. "meeting-invitation"
    from_: Origin = Field(alias="from")
    to: Recipient
    subject: Ref | None  # the person the sender's message was about
    child: PersonPart | None  # the child as this council knows them (LA child id), if disclosed
    people: tuple[PersonPart, ...] = ()  # everyone else
    relationships: tuple[RelationshipPart, ...] = ()
    organisations: tuple[OrganisationPart, ...] = ()
    worker_contacts: tuple[WorkerContactPart, ...] = ()
    agreement: AgreementRef
    purpose: str
    lawful_basis: LawfulBasis
    obligations: tuple[str, ...]
    withheld: tuple[Withheld, ...]


class MeetingInvitationNotice(Document):
    """An invitation from the trust to a meeting (a care review, say) for a council worker."""

    message_type: Literal["meeting-invitation-notice"] = "meeting-invitation-notice"
    meeting: MeetingPart


class ReferralNotice(Document):
    """A structured referral from the trust to the council's front door."""

    message_type: Literal["referral-notice"] = "referral-notice"
    referral: ReferralPart
    risks: tuple[RiskPart, ...] = ()


class WorkerContactNotice(Document):
    """Who a person's worker at the trust is (their care coordinator, say) and how to reach them."""

    message_type: Literal["worker-contact-notice"] = "worker-contact-notice"


class DisclosureSummary(Document):
    """Whatever facts a disclosure holds, section by section, within what consent and the
    agreement allow; the withheld manifest says what was left out."""

    message_type: Literal["disclosure-summary"] = "disclosure-summary"
    meetings: tuple[MeetingPart, ...] = ()
    referrals: tuple[ReferralPart, ...] = ()
    risks: tuple[RiskPart, ...] = ()
    mental_health_episodes: tuple[MentalHealthEpisodePart, ...] = ()
    social_care_episodes: tuple[SocialCareEpisodePart, ...] = ()
    crisis_events: tuple[CrisisEventPart, ...] = ()
    diagnoses: tuple[DiagnosisPart, ...] = ()
    consents: tuple[ConsentPart, ...] = ()


OUTBOUND: dict[str, type[BaseModel]] = {
    "crisis-notice": CrisisNotice,
    "meeting-invitation-notice": MeetingInvitationNotice,
    "referral-notice": ReferralNotice,
    "worker-contact-notice": WorkerContactNotice,
    "disclosure-summary": DisclosureSummary,
}
