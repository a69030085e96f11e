"""The council's "child-record" message: one child record of the DfE CSC API payload (v0.8).

The DfE payload sends ``la_code`` once per batch and one object per child; a "child-record"
message is one such child object with the Joined-up envelope (``message_type``, ``message_id``,
``la_code``, ``sent_at``) beside its own fields. Field names are the payload's. Joined-up additions:
``child_details.nhs_number``, ``social_care_episodes[].primary_need_code`` (the CIN census
``PrimaryNeedCode``) and ``child_protection_plans[].category`` (the SSD's
``cppl_cp_plan_initial_category``). Unknown fields are refused.

``purge: true`` asks the receiver to delete a record. The gateway's canonical model has no
deletion, so a purged item is left out of the canonical message and listed as unmapped; a purge of
the whole child is refused (422): the gateway cannot act on it.
"""

from __future__ import annotations

import datetime as dt
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, field_validator

from adapters.csc.common import (
    Code,
    CscModel,
    Envelope,
    RecordId,
    Sex,
    Text,
    not_before,
    not_before_start,
)
from adapters.csc.vocabulary import (
    AssessmentFactor,
    ClosureReason,
    EthnicityCode,
    PrimaryNeed,
    ReferralSource,
)
from schemas.facts import AbuseCategory
from schemas.identifiers import NhsNumberStr, UpnStr

Postcode = Annotated[str, Field(min_length=2, max_length=8, pattern=r"^[A-Za-z0-9 ]+$")]


class Purgeable(CscModel):
    """An item the council may ask to delete (``purge: true``)."""

    purge: bool = False


class Dated(Purgeable):
    """An item with a start and an optional end date."""

    start_date: date
    end_date: date | None = None

    _end_after_start = field_validator("end_date")(not_before_start)


class ChildDetails(Purgeable):
    """``child_details``."""

    unique_pupil_number: UpnStr | None = None
    former_unique_pupil_number: UpnStr | None = None
    unique_pupil_number_unknown_reason: Annotated[str, Field(pattern=r"^UN[0-9]{1,2}$")] | None = (
        None
    )
    first_name: Text | None = None
    surname: Text | None = None
    date_of_birth: date | None = None
    expected_date_of_birth: date | None = None
    sex: Sex | None = None
    ethnicity: EthnicityCode | None = None
    disabilities: tuple[Code, ...] = ()
    postcode: Postcode | None = None
    uasc_flag: bool | None = None
    uasc_end_date: date | None = None
    nhs_number: NhsNumberStr | None = None


class SdqAssessment(CscModel):
    """One Strengths and Difficulties Questionnaire score."""

    date: dt.date
    score: int

    @field_validator("score")
    @classmethod
    def _a_total_difficulties_score(cls, value: int) -> int:
        if not 0 <= value <= 40:
            raise ValueError("must be an SDQ score from 0 to 40")
        return value


class HealthAndWellbeing(Purgeable):
    """``health_and_wellbeing``."""

    sdq_assessments: tuple[SdqAssessment, ...] = ()


class EducationHealthCarePlan(Purgeable):
    """One ``education_health_care_plans`` entry."""

    education_health_care_plan_id: RecordId
    request_received_date: date | None = None
    request_outcome_date: date | None = None
    assessment_outcome_date: date | None = None
    plan_start_date: date | None = None


class CareWorkerDetails(CscModel):
    """One ``care_worker_details`` entry: an allocation of a worker to the child."""

    worker_id: RecordId
    start_date: date
    end_date: date | None = None

    _end_after_start = field_validator("end_date")(not_before_start)


class ChildAndFamilyAssessment(Purgeable):
    """One ``child_and_family_assessments`` entry."""

    child_and_family_assessment_id: RecordId | None = None
    start_date: date
    authorisation_date: date | None = None
    factors: tuple[AssessmentFactor, ...] = ()

    _authorised_after_start = field_validator("authorisation_date")(not_before("start_date"))


class ChildInNeedPlan(Dated):
    """One ``child_in_need_plans`` entry."""

    child_in_need_plan_id: RecordId | None = None


class Section47Assessment(Dated):
    """One ``section_47_assessments`` entry (with its initial child protection conference)."""

    section_47_assessment_id: RecordId | None = None
    icpc_required_flag: bool | None = None
    icpc_date: date | None = None

    _icpc_after_start = field_validator("icpc_date")(not_before("start_date"))


class ChildProtectionPlan(Dated):
    """One ``child_protection_plans`` entry."""

    child_protection_plan_id: RecordId | None = None
    category: AbuseCategory | None = None


class ChildLookedAfterPlacement(Dated):
    """One ``child_looked_after_placements`` entry."""

    child_looked_after_placement_id: RecordId | None = None
    start_reason: Code | None = None
    placement_type: Code | None = None
    postcode: Postcode | None = None
    end_reason: Code | None = None
    change_reason: Annotated[str, Field(min_length=1, max_length=16)] | None = None


class Adoption(Purgeable):
    """``adoption``."""

    initial_decision_date: date | None = None
    matched_date: date | None = None
    placed_date: date | None = None


class CareLeavers(Purgeable):
    """``care_leavers``."""

    contact_date: date | None = None
    activity: Code | None = None
    accommodation: Code | None = None


class SocialCareEpisode(Purgeable):
    """One ``social_care_episodes`` entry (a CIN episode)."""

    social_care_episode_id: RecordId | None = None
    referral_date: date
    referral_source: ReferralSource | None = None
    referral_no_further_action_flag: bool | None = None
    primary_need_code: PrimaryNeed | None = None
    care_worker_details: tuple[CareWorkerDetails, ...] = ()
    child_and_family_assessments: tuple[ChildAndFamilyAssessment, ...] = ()
    child_in_need_plans: tuple[ChildInNeedPlan, ...] = ()
    section_47_assessments: tuple[Section47Assessment, ...] = ()
    child_protection_plans: tuple[ChildProtectionPlan, ...] = ()
    child_looked_after_placements: tuple[ChildLookedAfterPlacement, ...] = ()
    adoption: Adoption | None = None
    care_leavers: CareLeavers | None = None
    closure_date: date | None = None
    closure_reason: ClosureReason | None = None

    _closed_after_referral = field_validator("closure_date")(not_before("referral_date"))


class ChildRecordMessage(Envelope):
    """A "child-record" message: one DfE CSC API child record from a council."""

    message_type: Literal["child-record"]
    mis_child_id: RecordId | None = None
    purge: bool = False
    child_details: ChildDetails
    health_and_wellbeing: HealthAndWellbeing | None = None
    education_health_care_plans: tuple[EducationHealthCarePlan, ...] = ()
    social_care_episodes: tuple[SocialCareEpisode, ...] = ()
