"""A child-status message to canonical facts.

The subject is the child, identified by the council's LA child id (namespaced by its DfE LA code),
plus the NHS number and UPN where given. Every social care episode becomes a fact with its plans;
the *current* allocated worker is the ``care_worker_details`` entry with no ``end_date`` in the open
episode (no ``closure_date``). Where several qualify, the latest ``start_date`` wins (then the
latest referral, for episodes). Ended allocations are history and are not mapped: the minimum
necessary. The council's out-of-hours line goes on the council and on the allocated worker's role.
"""

from __future__ import annotations

from datetime import datetime

from adapters.csc.child_status import CareWorker, ChildStatusMessage, FamilyMember, OutOfHours
from adapters.csc.child_status import SocialCareEpisode as EpisodeIn
from adapters.csc.vocabulary import RELATIONSHIP_TO_ROLE, SEX_TO_CANONICAL
from schemas.facts import (
    ContactPoint,
    Fact,
    FamilyRelationship,
    HumanName,
    Organisation,
    OrganisationKind,
    Period,
    Person,
    Plan,
    PlanKind,
    RoleKind,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId, NhsNumber, PersonIdentifier, Upn
from schemas.message import CanonicalMessage, MessageKind
from schemas.provenance import Provenance

SOURCE_FORMAT = "csc"
CHILD = "person-child"
COUNCIL = "organisation-la"


def to_canonical(
    message: ChildStatusMessage, partner: str, received_at: datetime
) -> CanonicalMessage:
    """The canonical form of a validated child-status message."""
    facts: list[Fact] = [_child(message), _council(message)]
    current = _current_allocation(message.social_care_episodes)
    for index, episode in enumerate(message.social_care_episodes):
        allocated = None
        if current is not None and current[0] == index:
            worker, role = _allocated_worker(message, index, current[1])
            facts.extend((worker, role))
            allocated = role.id
        facts.append(_episode(index, episode, allocated))
    for index, member in enumerate(message.family):
        facts.extend(_family_member(index, member))
    return CanonicalMessage(
        message_id=message.message_id,
        kind=MessageKind.CHILD_STATUS,
        subject=CHILD,
        facts=tuple(facts),
        provenance=Provenance(
            organisation=message.la_code,
            system=partner,
            source_format=SOURCE_FORMAT,
            source_message_id=message.message_id,
            received_at=received_at,
        ),
        sent_at=message.sent_at,
    )


def _name(first: str | None, last: str | None) -> HumanName | None:
    if first is None and last is None:
        return None
    return HumanName(given=(first,) if first else (), family=last)


def _child(message: ChildStatusMessage) -> Person:
    details = message.child_details
    identifiers: list[PersonIdentifier] = [
        LaChildId(la_code=message.la_code, value=message.la_child_id)
    ]
    if details.nhs_number is not None:
        identifiers.append(NhsNumber(value=details.nhs_number))
    if details.unique_pupil_number is not None:
        identifiers.append(Upn(value=details.unique_pupil_number))
    return Person(
        id=CHILD,
        identifiers=tuple(identifiers),
        name=_name(details.first_name, details.surname),
        birth_date=details.date_of_birth,
        sex=SEX_TO_CANONICAL[details.sex] if details.sex else None,
    )


def _out_of_hours(line: OutOfHours | None) -> tuple[ContactPoint, ...]:
    if line is None:
        return ()
    contacts = [ContactPoint(system="phone", value=line.phone, out_of_hours=True)]
    if line.email is not None:
        contacts.append(ContactPoint(system="email", value=line.email, out_of_hours=True))
    return tuple(contacts)


def _council(message: ChildStatusMessage) -> Organisation:
    return Organisation(
        id=COUNCIL,
        kind=OrganisationKind.LOCAL_AUTHORITY,
        la_code=message.la_code,
        telecom=_out_of_hours(message.out_of_hours),
    )


def _current_allocation(episodes: tuple[EpisodeIn, ...]) -> tuple[int, int] | None:
    """(episode index, worker index) of the current allocated worker, if there is one."""
    best: tuple[int, int] | None = None
    best_key = None
    for e, episode in enumerate(episodes):
        if episode.closure_date is not None:
            continue
        for w, worker in enumerate(episode.care_worker_details):
            key = (worker.start_date, episode.referral_date)
            if worker.end_date is None and (best_key is None or key > best_key):
                best, best_key = (e, w), key
    return best


def _allocated_worker(
    message: ChildStatusMessage, episode: int, index: int
) -> tuple[Worker, WorkerRole]:
    entry: CareWorker = message.social_care_episodes[episode].care_worker_details[index]
    contacts: list[ContactPoint] = []
    if entry.phone is not None:
        contacts.append(ContactPoint(system="phone", value=entry.phone))
    if entry.email is not None:
        contacts.append(ContactPoint(system="email", value=entry.email))
    worker = Worker(
        id=f"worker-{episode}-{index}",
        name=_split_name(entry.worker_name),
        local_id=entry.worker_id,
        telecom=tuple(contacts),
    )
    role = WorkerRole(
        id=f"worker-role-{episode}-{index}",
        role=RoleKind.ALLOCATED_SOCIAL_WORKER,
        worker=worker.id,
        organisation=COUNCIL,
        subject=CHILD,
        team=entry.team,
        telecom=tuple(contacts),
        out_of_hours=_out_of_hours(message.out_of_hours),
        period=Period(start=entry.start_date),
    )
    return worker, role


def _split_name(name: str | None) -> HumanName | None:
    """``worker_name`` is one string: the last word is taken as the family name."""
    if name is None:
        return None
    *given, family = name.split()
    return HumanName(given=tuple(given), family=family)


def _episode(index: int, episode: EpisodeIn, allocated: str | None) -> SocialCareEpisode:
    return SocialCareEpisode(
        id=f"social-care-episode-{index}",
        subject=CHILD,
        organisation=COUNCIL,
        referral_date=episode.referral_date,
        plans=tuple(
            Plan(
                kind=PlanKind.CHILD_PROTECTION,
                period=Period(start=plan.start_date, end=plan.end_date),
                category=plan.category,
            )
            for plan in episode.child_protection_plans
        ),
        closure_date=episode.closure_date,
        allocated_worker=allocated,
    )


def _family_member(index: int, member: FamilyMember) -> tuple[Person, FamilyRelationship]:
    person = Person(
        id=f"person-family-{index}",
        identifiers=(NhsNumber(value=member.nhs_number),) if member.nhs_number else (),
        name=_name(member.first_name, member.surname),
        birth_date=member.date_of_birth,
    )
    link = FamilyRelationship(
        id=f"family-relationship-{index}",
        person=person.id,
        related_to=CHILD,
        role=RELATIONSHIP_TO_ROLE[member.relationship],
    )
    return person, link
