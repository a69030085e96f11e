"""SSD-named CSC events to canonical facts.

Every event names the child (the subject, with the council's LA child id) and the council. Events
within an episode carry a social care episode fact holding only what the event says: its referral
date and the enquiry, conference or plan. Workers come as a Worker and a WorkerRole for the child;
invited trust workers as a WorkerRole for the person (a parent) they work with, found by NHS number.
An invitee's person whom the message does not name as the child's parent or carer (relationship
``other``, or none given) is a third party, labelled ``3RDPARTY`` (``build.family_labels``).
"""

from __future__ import annotations

from datetime import date, datetime

from adapters.csc.build import (
    CHILD,
    COUNCIL,
    CP_LATEST,
    REPLY_COMMENT,
    Builder,
    child,
    contacts,
    council,
    family_labels,
    split_name,
    worker_in_role,
)
from adapters.csc.common import ChildDetails
from adapters.csc.events import (
    AllocatedWorkerChanged,
    ConsentDirective,
    CpPlanEnded,
    CpPlanStarted,
    EpisodeEvent,
    Event,
    IcpcScheduled,
    MeetingInvitation,
    MeetingReply,
    ReferralStatusMessage,
    Section47Started,
)
from adapters.csc.vocabulary import RELATIONSHIP_TO_ROLE
from schemas.facts import (
    Consent,
    ConsentActor,
    FamilyRelationship,
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
    RoleKind,
    Section47,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.identifiers import NhsNumber
from schemas.labels import Purpose
from schemas.message import CanonicalMessage, MessageKind

CscEvent = (
    AllocatedWorkerChanged
    | Section47Started
    | IcpcScheduled
    | CpPlanStarted
    | CpPlanEnded
    | MeetingInvitation
    | MeetingReply
    | ReferralStatusMessage
    | ConsentDirective
)


def _start(event: Event, partner: str, received_at: datetime) -> Builder:
    """A builder holding the child (with whatever ``child_details`` give) and the council."""
    out = Builder(event, partner, received_at)
    d = event.child_details or ChildDetails()
    out.add(
        child(
            event,
            first_name=d.first_name,
            surname=d.surname,
            birth_date=d.date_of_birth,
            sex=d.sex,
            nhs_number=d.nhs_number,
            upn=d.unique_pupil_number,
        ),
        council(event, getattr(event, "out_of_hours", None)),
    )
    return out


def _episode(event: EpisodeEvent, **content: object) -> SocialCareEpisode:
    return SocialCareEpisode.model_validate(
        {
            "id": "social-care-episode-0",
            "subject": CHILD,
            "organisation": COUNCIL,
            "referral_date": event.referral_date,
            **content,
        }
    )


def event_to_canonical(event: CscEvent, partner: str, received_at: datetime) -> CanonicalMessage:
    """The canonical form of a validated CSC event."""
    out = _start(event, partner, received_at)
    match event:
        case AllocatedWorkerChanged():
            if event.worker_change_reason is not None:
                out.not_carried("$.worker_change_reason")
            period = Period(start=event.involvement_start_date, end=event.involvement_end_date)
            role = RoleKind(event.professional_role)
            out.add(
                *worker_in_role(event.worker, "0", role, period=period, line=event.out_of_hours)
            )
            return out.message(MessageKind.ALLOCATED_WORKER_CHANGED)
        case Section47Started():
            out.add(_episode(event, section47=(Section47(start=event.s47_start_date),)))
            return out.message(MessageKind.SECTION_47_STARTED)
        case IcpcScheduled():
            enquiry = Section47(
                start=event.s47_start_date,
                icpc_target_date=event.icpc_target_date,
                icpc_date=event.icpc_date,
            )
            out.add(_episode(event, section47=(enquiry,)))
            return out.message(MessageKind.ICPC_SCHEDULED)
        case CpPlanStarted():
            out.add(_episode(event, plans=(_plan(event, None),)))
            return out.message(MessageKind.CP_PLAN_STARTED)
        case CpPlanEnded():
            if event.cp_plan_latest_category is not None:
                out.not_carried("$.cp_plan_latest_category", CP_LATEST)
            out.add(_episode(event, plans=(_plan(event, event.cp_plan_end_date),)))
            return out.message(MessageKind.CP_PLAN_ENDED)
        case MeetingInvitation():
            return _invitation(out, event)
        case MeetingReply():
            return _reply(out, event)
        case ReferralStatusMessage():
            referral = Referral(
                id="referral-0",
                subject=CHILD,
                concerns="",  # an acknowledgement does not repeat the referral's concerns
                status=ReferralStatus(event.status),
                reference=event.referral_id,
            )
            if event.worker is not None:
                out.add(
                    *worker_in_role(
                        event.worker, "0", RoleKind.ALLOCATED_SOCIAL_WORKER, period=None
                    )
                )
            out.add(referral)
            return out.message(MessageKind.REFERRAL_STATUS)
        case ConsentDirective():
            out.add(
                Consent(
                    id="consent-0",
                    subject=CHILD,
                    given_by=ConsentActor(event.given_by),
                    decision=event.decision,
                    recipients=event.recipients,
                    purposes=tuple(Purpose(p) for p in event.purposes),
                    period=Period(start=event.start_date, end=event.end_date)
                    if event.start_date or event.end_date
                    else None,
                    recorded_at=event.recorded_at,
                )
            )
            out.not_carried("$.consent_id")
            return out.message(MessageKind.CONSENT_DIRECTIVE)


def _plan(event: CpPlanStarted | CpPlanEnded, end: date | None) -> Plan:
    unborn = event.unborn
    return Plan(
        kind=PlanKind.UNBORN_CHILD_PROTECTION if unborn else PlanKind.CHILD_PROTECTION,
        period=Period(start=event.cp_plan_start_date, end=end),
        category=event.cp_plan_initial_category,
    )


def _invitation(out: Builder, event: MeetingInvitation) -> CanonicalMessage:
    organiser = event.organiser
    worker, role = worker_in_role(
        organiser, "organiser", RoleKind(organiser.role), period=None, line=event.out_of_hours
    )
    out.add(worker, role)
    participants = [role.id]
    people: dict[str, str] = {}  # NHS number -> fact id
    trusts: dict[str, str] = {}  # ODS code -> fact id
    for i, invitee in enumerate(event.invitees):
        person = people.get(invitee.nhs_number)
        if person is None:
            person = people[invitee.nhs_number] = f"person-invitee-{i}"
            out.add(
                Person(
                    id=person,
                    identifiers=(NhsNumber(value=invitee.nhs_number),),
                    labels=family_labels(invitee.relationship),
                )
            )
            if invitee.relationship is not None:
                out.add(
                    FamilyRelationship(
                        id=f"family-relationship-invitee-{i}",
                        person=person,
                        related_to=CHILD,
                        role=RELATIONSHIP_TO_ROLE[invitee.relationship],
                    )
                )
        elif invitee.relationship is not None:
            out.not_carried(
                f"$.invitees[{i}].relationship", "given already for this person: not repeated"
            )
        trust = None
        if invitee.ods_code is not None:
            trust = trusts.get(invitee.ods_code)
            if trust is None:
                trust = trusts[invitee.ods_code] = f"organisation-invitee-{i}"
                out.add(
                    Organisation(
                        id=trust, kind=OrganisationKind.NHS_TRUST, ods_code=invitee.ods_code
                    )
                )
        telecom = contacts(invitee.phone, invitee.email)
        named = None
        if invitee.worker_name is not None or telecom:
            named = f"worker-invitee-{i}"
            out.add(Worker(id=named, name=split_name(invitee.worker_name), telecom=telecom))
        invited = WorkerRole(
            id=f"worker-role-invitee-{i}",
            role=RoleKind(invitee.role),
            worker=named,
            organisation=trust,
            subject=person,
        )
        out.add(invited)
        participants.append(invited.id)
    out.add(
        Meeting(
            id="meeting-0",
            kind=MeetingKind(event.meeting_type),
            subject=CHILD,
            start=event.start,
            end=event.end,
            status=event.status,
            participants=tuple(participants),
            location=event.location,
            reference=event.meeting_id,
        )
    )
    return out.message(MessageKind.MEETING_INVITATION)


def _reply(out: Builder, event: MeetingReply) -> CanonicalMessage:
    if event.comment is not None:
        out.not_carried("$.comment", REPLY_COMMENT)
    subject = CHILD
    if event.subject_nhs_number is not None:
        subject = "person-subject"
        out.add(Person(id=subject, identifiers=(NhsNumber(value=event.subject_nhs_number),)))
    responder = event.responder
    worker, role = worker_in_role(responder, "responder", RoleKind(responder.role), period=None)
    out.add(
        worker,
        role,
        Meeting(
            id="meeting-0",
            kind=MeetingKind(event.meeting_type),
            subject=subject,
            start=event.start,
            participants=(role.id,),
            responses=(MeetingResponse(participant=role.id, response=event.response),),
            reference=event.meeting_id,
        ),
    )
    return out.message(MessageKind.MEETING_REPLY, subject)
