"""Meeting invitations and replies between the agencies, and the initial conference's target date.

Who is invited (issue 7 item 4):

- a **care review** (CPA) the trust holds about a parent goes to the allocated social worker of each
  of the parent's children;
- a **strategy discussion**, an **initial** or **review child protection conference**, a **core
  group**, and an **ICPC scheduled** (``icpc-scheduled``), which the council holds about a child, go
  to the care coordinator of each of the child's parents.

Children and parents are those the message links to the person and those the index links
(``gateway.workflows.family``, shared with the crisis notice). The person the meeting is about
must be known to the index: an invitation about someone the gateway has never heard of is refused
(404, recorded as ``exchange.refused``), since no worker of theirs could be found.

Every invitation carried is recorded in the ``meetings`` table (organiser organisation and
partner, the organiser's reference, kind, start, the person's surrogate id, the organisations it
was carried to, an ICPC's target date), in the exchange's own commit. A **reply**
(``meeting-reply``, either format) quotes the organiser's reference: it goes back to the organiser's
worker (the role the organiser holds for the person: the care coordinator for a care review, the
allocated social worker otherwise), and is recorded on the row. A reply naming a meeting the
gateway has not carried, or one that was not carried to the replying organisation, or about
another person, is refused with the same 404 in every case (no oracle), before anything is
applied.

**The initial conference's target.** Working Together to Safeguard Children (2023): an initial
child protection conference is held within 15 working days of the strategy discussion that
started the section 47 enquiry. For an ICPC invitation (or an ``icpc-scheduled``), the gateway
counts ``workflows.icpc_target_working_days`` working days (``gateway.workcal``, bank holidays
included) from the latest strategy discussion it carried for the child from the same council, or
else from the section 47 enquiry's start (in the message, or in the index's episodes). The target
is set on the meeting (``Meeting.target_date``, or the enquiry's ``icpc_target_date``) unless the
council gave one, so the trust's rendering carries it; a conference set after its target is
flagged (in both renderings and on the row).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from sqlalchemy import Connection, and_, select

from gateway import index
from gateway.errors import InvalidMessage, Issue, NotFound
from gateway.recipients import Candidate
from gateway.store.tables import meetings, social_care_episodes
from gateway.workcal import WorkingCalendar
from gateway.workflows import family
from schemas.facts import (
    Meeting,
    MeetingKind,
    RoleKind,
    Section47,
    SocialCareEpisode,
)
from schemas.message import MessageKind

if TYPE_CHECKING:
    from gateway.pipeline import Exchange
    from gateway.services import Services

log = structlog.get_logger(__name__)

# Meetings the trust holds about a parent; every other kind the council holds about a child.
PARENT_MEETINGS = frozenset({MeetingKind.CARE_REVIEW})
# One answer for every reply that cannot be routed: unknown, not invited, another person's.
NOT_FOUND = (
    "no meeting with this reference was carried to the replying organisation about this person"
)
UNKNOWN_PERSON = (
    "the person the meeting is about is not known to the gateway: no worker of theirs can be "
    "found (the organiser's system shares their record first)"
)


def organiser_role(kind: MeetingKind) -> RoleKind:
    """The organiser's worker a reply goes back to."""
    return (
        RoleKind.CARE_COORDINATOR if kind in PARENT_MEETINGS else RoleKind.ALLOCATED_SOCIAL_WORKER
    )


def _meeting(ex: Exchange) -> Meeting | None:
    return next((f for f in ex.parsed.facts if isinstance(f, Meeting)), None)


def _enquiry(ex: Exchange) -> tuple[SocialCareEpisode, Section47] | None:
    for fact in ex.parsed.facts:
        if isinstance(fact, SocialCareEpisode) and fact.section47:
            return fact, fact.section47[-1]
    return None


def resolve_invitation(ex: Exchange, conn: Connection, services: Services) -> None:
    """Find who a meeting invitation (or an ICPC scheduled) goes to, set an ICPC's target, and
    record the meeting at commit."""
    message = ex.parsed
    snapshot = ex.snapshot
    if snapshot is None:
        raise RuntimeError("resolve reads the snapshot first")
    meeting = _meeting(ex)
    enquiry = _enquiry(ex)
    if meeting is None and (message.kind is not MessageKind.ICPC_SCHEDULED or enquiry is None):
        raise InvalidMessage(
            [Issue("meeting", "an invitation holds the meeting it invites to", "required")]
        )
    kind = meeting.kind if meeting is not None else MeetingKind.INITIAL_CP_CONFERENCE
    about = meeting.subject if meeting is not None else message.subject
    person_id = ex.known.get(about or "")
    if person_id is None:
        raise NotFound(UNKNOWN_PERSON)
    sender = message.provenance.organisation
    if kind in PARENT_MEETINGS:
        people = family.relatives(ex, snapshot, of=about, want="children")
        role, whose = RoleKind.ALLOCATED_SOCIAL_WORKER, "child of this person"
    else:
        people = family.relatives(ex, snapshot, of=about, want="parents")
        role, whose = RoleKind.CARE_COORDINATOR, "parent of this child"
    ex.candidates.extend(family.candidates_in_role(snapshot, people, role, not_from=sender))
    if not ex.candidates:
        ex.no_recipient_reason = (
            f"no {whose} is known to have a {role.value.replace('-', ' ')}"
            if people
            else f"no {whose} is known to the index"
        )
    target = after = None
    if kind is MeetingKind.INITIAL_CP_CONFERENCE:
        target, after = _icpc_target(
            ex, conn, services, person_id=person_id, meeting=meeting, enquiry=enquiry
        )
    start = meeting.start if meeting is not None else None
    calendar = WorkingCalendar(services.settings.workflows.working_hours)
    held_on = _held_on(ex, calendar, meeting, enquiry)
    row: dict[str, Any] = {
        "organiser_organisation": sender,
        "organiser_partner": ex.partner.id,
        "organiser_role": organiser_role(kind).value,
        "reference": meeting.reference if meeting is not None else None,
        "kind": kind.value,
        "start": start,
        "start_date": held_on.isoformat(),
        "status": meeting.status if meeting is not None else "booked",
        "subject_person_id": person_id,
        "target_date": target.isoformat() if target else None,
        "after_target": after,
    }
    ex.writes.append(_record_invitation(ex, row))


def _held_on(
    ex: Exchange,
    calendar: WorkingCalendar,
    meeting: Meeting | None,
    enquiry: tuple[SocialCareEpisode, Section47] | None,
) -> date:
    if meeting is not None:
        return meeting.start.astimezone(calendar.zone).date()
    if enquiry is not None and enquiry[1].icpc_date is not None:
        return enquiry[1].icpc_date
    return ex.received_at.astimezone(calendar.zone).date()


def _icpc_target(
    ex: Exchange,
    conn: Connection,
    services: Services,
    *,
    person_id: str,
    meeting: Meeting | None,
    enquiry: tuple[SocialCareEpisode, Section47] | None,
) -> tuple[date | None, bool | None]:
    """The ICPC's target date (the council's own, else counted here) and whether it is late;
    the target is set on the message's meeting or enquiry so that it is carried."""
    calendar = WorkingCalendar(services.settings.workflows.working_hours)
    held_on = _held_on(ex, calendar, meeting, enquiry)
    given = meeting.target_date if meeting is not None else None
    if given is None and enquiry is not None:
        given = enquiry[1].icpc_target_date
    target = given
    if target is None:
        start = _counted_from(ex, conn, person_id, held_on, enquiry)
        if start is not None:
            days = services.settings.workflows.icpc_target_working_days
            target = calendar.add_working_days(start, days)
    if target is None:
        return None, None
    after = held_on > target
    if given is None:
        _set_target(ex, target, meeting, enquiry)
    if after:
        # No content: the kind, the dates and the exchange, for operators watching the target.
        log.info(
            "meeting.icpc_after_target",
            exchange_id=ex.exchange_id,
            target_date=target.isoformat(),
            held_on=held_on.isoformat(),
        )
    return target, after


def _counted_from(
    ex: Exchange,
    conn: Connection,
    person_id: str,
    held_on: date,
    enquiry: tuple[SocialCareEpisode, Section47] | None,
) -> date | None:
    """The latest strategy discussion the gateway carried for the child from this council (on
    or before the conference), else the section 47 enquiry's start."""
    sender = ex.parsed.provenance.organisation
    strategy = conn.execute(
        select(meetings.c.start_date)
        .where(
            meetings.c.organiser_organisation == sender,
            meetings.c.subject_person_id == person_id,
            meetings.c.kind == MeetingKind.STRATEGY_DISCUSSION.value,
            meetings.c.status != "cancelled",
            meetings.c.start_date <= held_on.isoformat(),
        )
        .order_by(meetings.c.start_date.desc())
        .limit(1)
    ).scalar_one_or_none()
    if strategy is not None:
        return date.fromisoformat(str(strategy))
    if enquiry is not None:
        return enquiry[1].start
    stored = conn.execute(
        select(social_care_episodes.c.details).where(
            social_care_episodes.c.person_id == person_id,
            social_care_episodes.c.organisation == sender,
        )
    ).scalars()
    starts = [
        s.start
        for details in stored
        for s in SocialCareEpisode.model_validate_json(details).section47
        if s.start <= held_on
    ]
    return max(starts) if starts else None


def _set_target(
    ex: Exchange,
    target: date,
    meeting: Meeting | None,
    enquiry: tuple[SocialCareEpisode, Section47] | None,
) -> None:
    """Carry the target: on the meeting, or on the enquiry of an ICPC scheduled."""
    message = ex.parsed
    if meeting is not None:
        replaced: Any = meeting.model_copy(update={"target_date": target})
        original: Any = meeting
    elif enquiry is not None:
        episode, section47 = enquiry
        dated = section47.model_copy(update={"icpc_target_date": target})
        replaced = episode.model_copy(update={"section47": (*episode.section47[:-1], dated)})
        original = episode
    else:
        return
    facts = tuple(replaced if f is original else f for f in message.facts)
    ex.message = message.model_copy(update={"facts": facts})


def _invited(ex: Exchange) -> list[str]:
    return sorted(
        {r.candidate.organisation for r in ex.routed if r.derived is None and r.disclosure}
    )


def _record_invitation(ex: Exchange, row: dict[str, Any]) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        at = ex.received_at
        invited = _invited(ex)
        if row["reference"] is not None:
            key = and_(
                meetings.c.organiser_organisation == row["organiser_organisation"],
                meetings.c.reference == row["reference"],
            )
        else:
            key = and_(
                meetings.c.organiser_organisation == row["organiser_organisation"],
                meetings.c.reference.is_(None),
                meetings.c.subject_person_id == row["subject_person_id"],
                meetings.c.kind == row["kind"],
            )
        existing = conn.execute(
            select(meetings.c.id, meetings.c.invited, meetings.c.subject_person_id).where(key)
        ).first()
        if existing is None:
            conn.execute(
                meetings.insert().values(
                    id=str(uuid.uuid4()),
                    invited=orjson.dumps(invited).decode(),
                    replies="[]",
                    exchange_id=ex.exchange_id,
                    created_at=at,
                    updated_at=at,
                    **row,
                )
            )
            return
        same_person = existing.subject_person_id == row["subject_person_id"]
        before = orjson.loads(existing.invited) if same_person else []
        values: dict[str, Any] = {
            **row,
            "invited": orjson.dumps(sorted({*before, *invited})).decode(),
            "exchange_id": ex.exchange_id,
            "updated_at": at,
        }
        if not same_person:
            values["replies"] = "[]"
        conn.execute(meetings.update().where(meetings.c.id == existing.id).values(**values))

    return write


def resolve_reply(ex: Exchange, conn: Connection, services: Services) -> None:
    """Find the organiser a reply goes back to, or refuse it (404) before anything is applied."""
    message = ex.parsed
    meeting = _meeting(ex)
    if meeting is None or meeting.reference is None:
        raise InvalidMessage(
            [
                Issue(
                    "meeting.reference",
                    "a reply quotes the organiser's reference for the meeting",
                    "required",
                )
            ]
        )
    sender = message.provenance.organisation
    person_id = ex.known.get(meeting.subject)
    rows = conn.execute(select(meetings).where(meetings.c.reference == meeting.reference)).all()
    found = None
    for row in rows:
        # SECURITY: only an organisation the invitation was carried to may answer it, about
        # the person it was about; every other case gets the same answer.
        if (
            row.organiser_organisation != sender
            and sender in orjson.loads(row.invited)
            and row.kind == meeting.kind.value
            and person_id is not None
            and row.subject_person_id == person_id
        ):
            found = row
            break
    if found is None:
        raise NotFound(NOT_FOUND)
    organiser = found.organiser_organisation
    roles = [
        r
        for r in index.roles_for(conn, [found.subject_person_id], found.organiser_role)
        if r.organisation == organiser
    ]
    if roles:
        identifiers = index.identifiers_of(conn, [found.subject_person_id])
        ex.candidates.append(
            Candidate(
                organisation=organiser,
                child_person_id=found.subject_person_id,
                child_identifier_keys=tuple(identifiers.get(found.subject_person_id, ())),
                addressee=roles[0],
            )
        )
    else:
        ex.no_recipient_reason = "the meeting's organiser has no worker on record for the person"
    answers: list[str] = [r.response for r in meeting.responses]
    ex.writes.append(_record_reply(ex, found.id, sender, answers))


def _record_reply(
    ex: Exchange, meeting_id: str, sender: str, answers: list[str]
) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        stored = conn.execute(
            select(meetings.c.replies).where(meetings.c.id == meeting_id)
        ).scalar_one()
        replies = orjson.loads(stored)
        replies.append(
            {
                "organisation": sender,
                "responses": answers,
                "at": ex.received_at.isoformat(),
                "exchange_id": ex.exchange_id,
                "carried": any(r.disclosure for r in ex.routed if r.derived is None),
            }
        )
        conn.execute(
            meetings.update()
            .where(meetings.c.id == meeting_id)
            .values(replies=orjson.dumps(replies).decode(), updated_at=ex.received_at)
        )

    return write
