"""A child-status message to canonical facts.

The subject is the child, identified by the council's LA child id (namespaced by its DfE LA code),
plus the NHS number and UPN where given. Every social care episode becomes a fact with its plans;
the *current* allocated worker is the ``care_worker_details`` entry with no ``end_date`` in the open
episode (no ``closure_date``). Where several qualify, the latest ``start_date`` wins (then the
latest referral, for episodes). Other allocations are history: not mapped (the minimum necessary),
and listed as unmapped. The council's out-of-hours line goes on the council and on the allocated
worker's role.

A ``family[]`` member is a person linked to the child by their ``relationship``; one whose
relationship is ``other`` (not a parent or carer) is a third party, labelled ``3RDPARTY`` as the
FHIR adapter labels a related person who is not the subject's child (``build.family_labels``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from adapters.csc.build import (
    CHILD,
    COUNCIL,
    Builder,
    child,
    council,
    family_labels,
    name,
    worker_in_role,
)
from adapters.csc.child_status import ChildStatusMessage, FamilyMember
from adapters.csc.child_status import SocialCareEpisode as EpisodeIn
from adapters.csc.vocabulary import RELATIONSHIP_TO_ROLE
from schemas.facts import (
    FamilyRelationship,
    Period,
    Person,
    Plan,
    PlanKind,
    RoleKind,
    SocialCareEpisode,
)
from schemas.identifiers import NhsNumber
from schemas.message import CanonicalMessage, MessageKind

HISTORY = "only the current allocation is carried (the minimum necessary)"


class _Allocation(Protocol):
    @property
    def start_date(self) -> date: ...
    @property
    def end_date(self) -> date | None: ...


class _Episode(Protocol):
    @property
    def referral_date(self) -> date: ...
    @property
    def closure_date(self) -> date | None: ...
    @property
    def care_worker_details(self) -> Sequence[_Allocation]: ...


def current_allocation(episodes: Sequence[_Episode]) -> tuple[int, int] | None:
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


def to_canonical(
    message: ChildStatusMessage, partner: str, received_at: datetime
) -> CanonicalMessage:
    """The canonical form of a validated child-status message."""
    out = Builder(message, partner, received_at)
    details = message.child_details
    out.add(
        child(
            message,
            first_name=details.first_name,
            surname=details.surname,
            birth_date=details.date_of_birth,
            sex=details.sex,
            nhs_number=details.nhs_number,
            upn=details.unique_pupil_number,
        ),
        council(message, message.out_of_hours),
    )
    current = current_allocation(message.social_care_episodes)
    for e, episode in enumerate(message.social_care_episodes):
        allocated = None
        for w, entry in enumerate(episode.care_worker_details):
            if current != (e, w):
                path = f"$.social_care_episodes[{e}].care_worker_details[{w}]"
                out.not_carried(path, HISTORY)
                continue
            worker, role = worker_in_role(
                entry,
                f"{e}-{w}",
                RoleKind.ALLOCATED_SOCIAL_WORKER,
                period=Period(start=entry.start_date),
                line=message.out_of_hours,
            )
            out.add(worker, role)
            allocated = role.id
        out.add(_episode(e, episode, allocated))
    for index, member in enumerate(message.family):
        out.add(*_family_member(index, member))
    return out.message(MessageKind.CHILD_STATUS)


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
        name=name(member.first_name, member.surname),
        birth_date=member.date_of_birth,
        labels=family_labels(member.relationship),
    )
    link = FamilyRelationship(
        id=f"family-relationship-{index}",
        person=person.id,
        related_to=CHILD,
        role=RELATIONSHIP_TO_ROLE[member.relationship],
    )
    return person, link
