"""The council's "child-status" message: who the child is and who their allocated social worker is.

Field names follow the DfE CSC API payload (``la_child_id``, ``child_details``,
``social_care_episodes[].care_worker_details``, ``child_protection_plans``, ``closure_date``) and
the Standard Safeguarding Dataset; ``family`` and ``out_of_hours`` are Joined-up additions the
payload has no room for. Unknown fields are refused (``extra="forbid"``), never silently dropped.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import field_validator

from adapters.csc.common import (
    ChildDetails,
    CscModel,
    Envelope,
    OutOfHours,
    Text,
    Worker,
    not_before,
    not_before_start,
)
from adapters.csc.vocabulary import FamilyWord
from schemas.facts import AbuseCategory
from schemas.identifiers import NhsNumberStr

__all__ = [
    "CareWorker",
    "ChildDetails",
    "ChildProtectionPlan",
    "ChildStatusMessage",
    "FamilyMember",
    "OutOfHours",
    "SocialCareEpisode",
]


class CareWorker(Worker):
    """One ``care_worker_details`` entry: an allocation of a worker to the child."""

    start_date: date
    end_date: date | None = None

    _end_after_start = field_validator("end_date")(not_before_start)


class ChildProtectionPlan(CscModel):
    """One ``child_protection_plans`` entry."""

    start_date: date
    end_date: date | None = None
    category: AbuseCategory | None = None

    _end_after_start = field_validator("end_date")(not_before_start)


class SocialCareEpisode(CscModel):
    """One ``social_care_episodes`` entry (a CIN episode)."""

    referral_date: date
    care_worker_details: tuple[CareWorker, ...] = ()
    child_protection_plans: tuple[ChildProtectionPlan, ...] = ()
    closure_date: date | None = None

    _closed_after_referral = field_validator("closure_date")(not_before("referral_date"))


class FamilyMember(CscModel):
    """A parent or carer of the child, as the council knows them."""

    relationship: FamilyWord
    nhs_number: NhsNumberStr | None = None
    first_name: Text | None = None
    surname: Text | None = None
    date_of_birth: date | None = None


class ChildStatusMessage(Envelope):
    """A "child-status" message from a council's children's social care system."""

    message_type: Literal["child-status"]
    child_details: ChildDetails
    social_care_episodes: tuple[SocialCareEpisode, ...] = ()
    family: tuple[FamilyMember, ...] = ()
    out_of_hours: OutOfHours | None = None
