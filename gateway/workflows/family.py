"""Who is family to a message's subject, and their workers in a role: the routing every workflow
shares (the crisis notice's children and their allocated social workers, a conference's parents
and their care coordinators).

A person's children (or parents) are those the message itself links to them, where the other
person is already indexed, plus those the index links to them. Each worker in the role found for
one of those people is a candidate recipient, addressed to that worker, about that person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from gateway.index import Snapshot
from gateway.recipients import Candidate
from schemas.facts import FamilyRelationship, RelationshipRole, RoleKind

if TYPE_CHECKING:
    from gateway.pipeline import Exchange


def relatives(
    ex: Exchange, snapshot: Snapshot, *, of: str | None, want: Literal["children", "parents"]
) -> list[str]:
    """The indexed children (or parents) of the person with fact id ``of`` in the message."""
    message = ex.parsed
    person_id = ex.known.get(of) if of else None
    found: list[str] = []
    for fact in message.facts:
        if not isinstance(fact, FamilyRelationship) or of is None:
            continue
        if fact.role is RelationshipRole.OTHER:
            continue  # not a parent or carer (the index does not link them either)
        # ``person`` is ``role`` of ``related_to``: a parent role makes ``person`` the parent,
        # CHILD makes ``person`` the child.
        if fact.role is RelationshipRole.CHILD:
            parent, child = fact.related_to, fact.person
        else:
            parent, child = fact.person, fact.related_to
        other = child if want == "children" else parent
        if (parent if want == "children" else child) != of:
            continue
        indexed = ex.known.get(other)
        if indexed is not None and indexed not in found:
            found.append(indexed)
    if person_id is not None:
        if want == "children":
            from_index = snapshot.children_of(person_id)
        else:
            from_index = sorted(p for p, c in snapshot.links if c == person_id)
        found.extend(p for p in from_index if p not in found)
    return found


def candidates_in_role(
    snapshot: Snapshot, people: list[str], role: RoleKind, *, not_from: str | None = None
) -> list[Candidate]:
    """A candidate for each worker in ``role`` for each of ``people`` (one per organisation),
    about that person; never the sending organisation ``not_from`` itself."""
    found: list[Candidate] = []
    for person_id in people:
        for indexed in snapshot.roles_of(person_id, role):
            if indexed.organisation == not_from:
                continue
            found.append(
                Candidate(
                    organisation=indexed.organisation,
                    child_person_id=person_id,
                    child_identifier_keys=tuple(snapshot.identifiers.get(person_id, ())),
                    addressee=indexed,
                )
            )
    return found
