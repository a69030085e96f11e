"""The CSC "crisis notice": what a council's case system receives when a parent is in crisis.

A small, flat JSON document a case system can file against the child: who the child and parent
are, what happened (type, Mental Health Act legal status, when), who to call at the trust (the care
coordinator, in and out of hours), and the terms of the disclosure: agreement, purpose, lawful
basis, handling obligations, and what was withheld, why and whom to ask. Sections the disclosure
did not include are ``null``; nothing appears that the disclosure did not contain.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.csc.vocabulary import FamilyWord
from schemas.facts import CrisisKind, EpisodeStatus

SCHEMA_VERSION: Literal["1"] = "1"


class NoticeModel(BaseModel):
    """Strict, immutable, and serialised with ``None`` kept: a ``null`` says "not disclosed"."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CareCoordinator(NoticeModel):
    """The parent's care coordinator (key worker) at the trust."""

    name: str | None = None
    team: str | None = None
    phone: str | None = None
    email: str | None = None
    out_of_hours: str | None = None  # the crisis line


class Sender(NoticeModel):
    """The sending organisation."""

    organisation: str  # ODS code
    organisation_name: str | None = None
    care_coordinator: CareCoordinator | None = None


class Recipient(NoticeModel):
    """The council and, where known, the child's allocated social worker."""

    la_code: str = Field(pattern=r"^\d{3}$")
    worker_id: str | None = None


class Child(NoticeModel):
    """The child, as the council knows them."""

    la_child_id: str
    nhs_number: str | None = None
    first_name: str | None = None
    surname: str | None = None
    date_of_birth: date | None = None


class Parent(NoticeModel):
    """The parent or carer the crisis is about."""

    first_name: str | None = None
    surname: str | None = None
    date_of_birth: date | None = None
    nhs_number: str | None = None
    relationship: FamilyWord | None = None


class LegalStatus(NoticeModel):
    """The Mental Health Act legal status (UK Core legal status classification)."""

    system: str
    code: str
    display: str | None = None


class Event(NoticeModel):
    """What happened."""

    type: CrisisKind
    legal_status: LegalStatus | None = None
    start: datetime | date | None = None
    end: datetime | date | None = None


class MentalHealthEpisode(NoticeModel):
    """The parent's current period of care with the trust."""

    status: EpisodeStatus
    team: str | None = None
    start: datetime | date | None = None
    end: datetime | date | None = None


class AgreementRef(NoticeModel):
    """The data-sharing agreement and flow the disclosure was made under."""

    id: str
    version: int
    flow: str


class LawfulBasis(NoticeModel):
    """The lawful basis for the disclosure."""

    code: str  # e.g. art6(1)(e)+art9(2)(g)+sch1-para18
    art6: str
    art9: str | None = None
    dpa2018: str | None = None
    statutory_gateway: str | None = None
    age_band: str | None = None
    no_consent_reason: str | None = None


class Withheld(NoticeModel):
    """One element not disclosed: which, why, and whom to ask."""

    element: str
    reason_code: str
    reason: str
    ask: str | None = None


class CrisisNotice(NoticeModel):
    """A crisis notice for a council's children's social care system."""

    message_type: Literal["crisis-notice"] = "crisis-notice"
    schema_version: Literal["1"] = SCHEMA_VERSION
    notice_id: str
    exchange_id: str
    sent_at: datetime
    from_: Sender = Field(alias="from")
    to: Recipient
    child: Child
    parent: Parent | None
    event: Event | None
    mental_health_episode: MentalHealthEpisode | None
    agreement: AgreementRef
    purpose: str
    lawful_basis: LawfulBasis
    obligations: tuple[str, ...]
    withheld: tuple[Withheld, ...]
