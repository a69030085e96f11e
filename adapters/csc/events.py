"""CSC events, named after the Standard Safeguarding Dataset tables they come from.

Each event carries the common envelope (``message_id``, ``la_code``, ``sent_at``, ``la_child_id``)
and, optionally, ``child_details`` so the receiver can match the child by NHS number. Field names
are the SSD's columns without their table prefix (``ssd_s47_enquiry.s47e_s47_start_date`` is
``s47_start_date``). The episode an event belongs to is named by its ``referral_date``
(``ssd_cin_episodes.cine_referral_date``), as the CIN census does.

| message_type | SSD table |
|---|---|
| ``allocated-worker-changed`` | ``ssd_involvements`` (+ ``ssd_professionals``) |
| ``section-47-started`` | ``ssd_s47_enquiry`` |
| ``icpc-scheduled`` | ``ssd_initial_cp_conference`` |
| ``cp-plan-started``, ``cp-plan-ended`` | ``ssd_cp_plans`` |
| ``meeting-invitation``, ``meeting-reply`` | meetings (strategy, conferences, core group) |
| ``referral-status`` | ``ssd_cin_episodes`` (the front door's acknowledgement of a referral) |
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from adapters.csc.common import (
    ChildDetails,
    CouncilRole,
    CouncilWorker,
    CscModel,
    Email,
    Envelope,
    LongText,
    MessageId,
    OdsCode,
    OutOfHours,
    Phone,
    RecordId,
    Text,
    Worker,
    not_before,
)
from adapters.csc.vocabulary import FamilyWord
from schemas.facts import AbuseCategory
from schemas.identifiers import NhsNumberStr

PurposeCode = Literal[
    "safeguarding-child",
    "child-protection-conference",
    "care-coordination",
    "crisis-response",
    "referral",
]
CouncilMeeting = Literal[
    "strategy-discussion", "initial-cp-conference", "review-cp-conference", "core-group"
]
# The RoleKind values of a trust worker a council may invite.
TrustRole = Literal["care-coordinator", "amhp", "safeguarding-lead-adults", "link-worker"]


class Event(Envelope):
    """An SSD event about one child."""

    child_details: ChildDetails | None = None


class EpisodeEvent(Event):
    """An event within a CIN episode, named by its referral date."""

    referral_date: date


class AllocatedWorkerChanged(Event):
    """``allocated-worker-changed`` (``ssd_involvements``): a worker starts or ends a role for the
    child. An ``involvement_end_date`` ends it."""

    message_type: Literal["allocated-worker-changed"]
    worker: Worker
    professional_role: CouncilRole
    involvement_start_date: date
    involvement_end_date: date | None = None
    worker_change_reason: Text | None = None
    out_of_hours: OutOfHours | None = None

    _end = field_validator("involvement_end_date")(not_before("involvement_start_date"))


class Section47Started(EpisodeEvent):
    """``section-47-started`` (``ssd_s47_enquiry``)."""

    message_type: Literal["section-47-started"]
    s47_start_date: date

    _start = field_validator("s47_start_date")(not_before("referral_date"))


class IcpcScheduled(EpisodeEvent):
    """``icpc-scheduled`` (``ssd_initial_cp_conference``): the initial child protection conference
    of a section 47 enquiry, due by ``icpc_target_date`` and set for ``icpc_date``."""

    message_type: Literal["icpc-scheduled"]
    s47_start_date: date
    icpc_target_date: date | None = None
    icpc_date: date

    _start = field_validator("s47_start_date")(not_before("referral_date"))
    _date = field_validator("icpc_date")(not_before("s47_start_date"))


class CpPlanStarted(EpisodeEvent):
    """``cp-plan-started`` (``ssd_cp_plans``); ``unborn`` (a Joined-up addition) marks a
    pre-birth plan, as CP-IS does."""

    message_type: Literal["cp-plan-started"]
    cp_plan_start_date: date
    cp_plan_initial_category: AbuseCategory | None = None
    unborn: bool = False


class CpPlanEnded(EpisodeEvent):
    """``cp-plan-ended`` (``ssd_cp_plans``)."""

    message_type: Literal["cp-plan-ended"]
    cp_plan_start_date: date
    cp_plan_end_date: date
    cp_plan_initial_category: AbuseCategory | None = None
    cp_plan_latest_category: AbuseCategory | None = None
    unborn: bool = False

    _end = field_validator("cp_plan_end_date")(not_before("cp_plan_start_date"))


class Invitee(CscModel):
    """A trust worker the council invites: by role, for the person (a parent) they work with."""

    role: TrustRole
    nhs_number: NhsNumberStr  # the person whose worker is invited
    relationship: FamilyWord | None = None  # how that person stands to the child
    ods_code: OdsCode | None = None  # the trust, where the council knows it
    worker_name: Text | None = None
    phone: Phone | None = None
    email: Email | None = None


class MeetingInvitation(Event):
    """``meeting-invitation``: the council invites trust workers to a meeting about the child (a
    strategy discussion, an initial or review child protection conference, a core group). Send it
    again with ``status: cancelled`` to cancel."""

    message_type: Literal["meeting-invitation"]
    meeting_id: RecordId
    meeting_type: CouncilMeeting
    start: AwareDatetime
    end: AwareDatetime | None = None
    location: Text | None = None
    status: Literal["booked", "cancelled"] = "booked"
    organiser: CouncilWorker
    invitees: Annotated[tuple[Invitee, ...], Field(max_length=50)]
    out_of_hours: OutOfHours | None = None

    @field_validator("invitees")
    @classmethod
    def _someone_is_invited(cls, value: tuple[Invitee, ...]) -> tuple[Invitee, ...]:
        # Not min_length: pydantic would also report "too few" when an invitee is invalid.
        if not value:
            raise ValueError("must name at least one invitee")
        return value

    @field_validator("end")
    @classmethod
    def _ends_after_start(cls, value: AwareDatetime | None, info: ValidationInfo) -> object:
        start = info.data.get("start")
        if value is not None and start is not None and value < start:
            raise ValueError("must not be before start")
        return value


class MeetingReply(Event):
    """``meeting-reply``: a council worker answers a trust's invitation (a care review, say),
    quoting the meeting's id, type and start. ``subject_nhs_number`` names the person the meeting
    is about when that is not the child (a parent's care review); ``comment`` is not carried."""

    message_type: Literal["meeting-reply"]
    meeting_id: RecordId
    meeting_type: Literal["care-review"] | CouncilMeeting
    start: AwareDatetime
    subject_nhs_number: NhsNumberStr | None = None
    response: Literal["accepted", "declined", "tentative"]
    responder: CouncilWorker
    comment: LongText | None = None


class ReferralStatusMessage(Event):
    """``referral-status``: the front door's acknowledgement of a referral (``referral_id`` is the
    referrer's own reference): received, allocated to a worker, or its outcome."""

    message_type: Literal["referral-status"]
    referral_id: MessageId
    status: Literal["received", "allocated", "no-further-action", "assessment", "section-47"]
    worker: Worker | None = Field(default=None, validate_default=True)

    @field_validator("worker")
    @classmethod
    def _allocated_names_the_worker(cls, value: Worker | None, info: ValidationInfo) -> object:
        if value is None and info.data.get("status") == "allocated":
            raise ValueError("is required when the status is allocated")
        return value


class ConsentDirective(Event):
    """A consent decision the council holds about sharing the child's information (its consent
    record): who gave it, permit or deny, to which organisations, for which purposes, when."""

    message_type: Literal["consent-directive"]
    consent_id: RecordId
    decision: Literal["permit", "deny"]
    given_by: Literal["competent-child", "parent", "local-authority-care-order"]
    recipients: Annotated[tuple[OdsCode, ...], Field(max_length=50)] = ()  # empty: any
    purposes: Annotated[tuple[PurposeCode, ...], Field(max_length=10)] = ()  # empty: any
    start_date: date | None = None
    end_date: date | None = None
    recorded_at: AwareDatetime

    _end_after_start = field_validator("end_date")(not_before("start_date"))
