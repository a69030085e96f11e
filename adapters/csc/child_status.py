"""The council's "child-status" message: who the child is and who their allocated social worker is.

Field names follow the DfE CSC API payload (``la_child_id``, ``child_details``,
``social_care_episodes[].care_worker_details``, ``child_protection_plans``, ``closure_date``) and
the Standard Safeguarding Dataset; ``family`` and ``out_of_hours`` are Joined-up additions the
payload has no room for. Unknown fields are refused (``extra="forbid"``), never silently dropped.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from adapters.csc.vocabulary import FamilyWord
from schemas.facts import AbuseCategory
from schemas.identifiers import LaCodeStr, NhsNumberStr, UpnStr

Text = Annotated[str, Field(min_length=1, max_length=200)]
Phone = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9+() -]+$")]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class CscModel(BaseModel):
    """Strict about unknown fields; immutable once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _not_before_start(value: date | None, info: ValidationInfo) -> date | None:
    start = info.data.get("start_date")
    if value is not None and isinstance(start, date) and value < start:
        raise ValueError("must not be before start_date")
    return value


class ChildDetails(CscModel):
    """``child_details``: the child's identity as the council records it."""

    first_name: Text | None = None
    surname: Text | None = None
    date_of_birth: date | None = None
    sex: Literal["M", "F", "U"] | None = None  # CIN census 2025-26 ``Sex``
    unique_pupil_number: UpnStr | None = None
    nhs_number: NhsNumberStr | None = None


class CareWorker(CscModel):
    """One ``care_worker_details`` entry: an allocation of a worker to the child."""

    worker_id: Annotated[str, Field(min_length=1, max_length=64)]
    worker_name: Text | None = None
    team: Text | None = None
    phone: Phone | None = None
    email: Email | None = None
    start_date: date
    end_date: date | None = None

    _end_after_start = field_validator("end_date")(_not_before_start)


class ChildProtectionPlan(CscModel):
    """One ``child_protection_plans`` entry."""

    start_date: date
    end_date: date | None = None
    category: AbuseCategory | None = None

    _end_after_start = field_validator("end_date")(_not_before_start)


class SocialCareEpisode(CscModel):
    """One ``social_care_episodes`` entry (a CIN episode)."""

    referral_date: date
    care_worker_details: tuple[CareWorker, ...] = ()
    child_protection_plans: tuple[ChildProtectionPlan, ...] = ()
    closure_date: date | None = None

    @field_validator("closure_date")
    @classmethod
    def _closed_after_referral(cls, value: date | None, info: ValidationInfo) -> date | None:
        referral = info.data.get("referral_date")
        if value is not None and isinstance(referral, date) and value < referral:
            raise ValueError("must not be before referral_date")
        return value


class FamilyMember(CscModel):
    """A parent or carer of the child, as the council knows them."""

    relationship: FamilyWord
    nhs_number: NhsNumberStr | None = None
    first_name: Text | None = None
    surname: Text | None = None
    date_of_birth: date | None = None


class OutOfHours(CscModel):
    """The council's emergency duty team."""

    phone: Phone
    email: Email | None = None


class ChildStatusMessage(CscModel):
    """A "child-status" message from a council's children's social care system."""

    message_type: Literal["child-status"]
    message_id: Annotated[str, Field(min_length=1, max_length=128)]
    la_code: LaCodeStr
    sent_at: AwareDatetime
    la_child_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
    child_details: ChildDetails
    social_care_episodes: tuple[SocialCareEpisode, ...] = ()
    family: tuple[FamilyMember, ...] = ()
    out_of_hours: OutOfHours | None = None
