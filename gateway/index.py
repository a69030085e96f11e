"""The index: who is who. Identifiers, family links and the workers allocated to people.

It learns from partner messages (and, for the demo, a seed file) and answers the questions routing
and look-ups need. It never holds case or clinical content: identifiers, links, and workers'
contact details only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from pydantic import TypeAdapter
from sqlalchemy import Connection, Select, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.settings import PartnerSettings
from gateway.store.tables import family_links, person_identifiers, persons, worker_roles
from schemas.facts import (
    Fact,
    FamilyRelationship,
    Organisation,
    Person,
    RelationshipRole,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId, NhsNumber, PersonIdentifier, Upn
from schemas.message import CanonicalMessage

_FACT = TypeAdapter(Fact)
_PARENT_ROLES = frozenset(RelationshipRole) - {RelationshipRole.CHILD, RelationshipRole.OTHER}


def person_keys(person: Person) -> list[str]:
    """Index keys of a person's identifiers, NHS number first (the most trusted match)."""
    ordered = sorted(person.identifiers, key=lambda i: 0 if isinstance(i, NhsNumber) else 1)
    return [i.key for i in ordered if not (isinstance(i, Upn) and i.former)]


def identifier_from_key(key: str) -> PersonIdentifier:
    """Rebuild a typed identifier from its index key."""
    kind, _, rest = key.partition(":")
    if kind == "nhs":
        return NhsNumber(value=rest)
    if kind == "la":
        la_code, _, value = rest.partition(":")
        return LaChildId(la_code=la_code, value=value)
    if kind == "upn":
        return Upn(value=rest)
    raise ValueError("unknown identifier key kind")


@dataclass(frozen=True, slots=True)
class IndexedRole:
    """A worker allocated to a person, as the index knows it."""

    person_id: str
    role: str
    organisation: str
    partner: str
    facts: tuple[Fact, ...]  # the WorkerRole first, then its Worker and Organisation if known
    updated_at: datetime

    @property
    def role_fact(self) -> WorkerRole:
        fact = self.facts[0]
        if not isinstance(fact, WorkerRole):
            raise TypeError("an indexed role starts with its WorkerRole fact")
        return fact


def _persons_by_key(keys: list[str]) -> Select[str, str]:
    return select(person_identifiers.c.key, person_identifiers.c.person_id).where(
        person_identifiers.c.key.in_(keys)
    )


def _first_match(keys: list[str], rows: Any) -> str | None:
    by_key = {row[0]: row[1] for row in rows}
    for key in keys:
        if key in by_key:
            return str(by_key[key])
    return None


async def find_people(conn: AsyncConnection, keys: list[str]) -> dict[str, str]:
    """Index key to person id, for every one of ``keys`` the index holds (one query)."""
    if not keys:
        return {}
    rows = await conn.execute(_persons_by_key(keys))
    return {str(r[0]): str(r[1]) for r in rows}


async def find_person(conn: AsyncConnection, keys: list[str]) -> str | None:
    """The person id matching any of ``keys`` (in the order given), or None."""
    if not keys:
        return None
    return _first_match(keys, await conn.execute(_persons_by_key(keys)))


def _find_person_sync(conn: Connection, keys: list[str]) -> str | None:
    if not keys:
        return None
    return _first_match(keys, conn.execute(_persons_by_key(keys)))


def _identifiers_of(person_ids: list[str]) -> Select[str, str]:
    return (
        select(person_identifiers.c.person_id, person_identifiers.c.key)
        .where(person_identifiers.c.person_id.in_(person_ids))
        .order_by(person_identifiers.c.key)
    )


async def identifiers_of(conn: AsyncConnection, person_ids: list[str]) -> dict[str, list[str]]:
    """Every identifier key the index holds for each of ``person_ids`` (one query)."""
    found: dict[str, list[str]] = {p: [] for p in person_ids}
    for row in await conn.execute(_identifiers_of(person_ids)):
        found[str(row[0])].append(str(row[1]))
    return found


async def children_of(conn: AsyncConnection, person_id: str) -> list[str]:
    """Ids of the children the index links to this person as a parent or carer."""
    rows = await conn.execute(
        select(family_links.c.child_id)
        .where(family_links.c.parent_id == person_id)
        .order_by(family_links.c.child_id)
    )
    return [str(r[0]) for r in rows]


def _indexed_role(row: Sequence[Any]) -> IndexedRole:
    facts = tuple(_FACT.validate_python(f) for f in orjson.loads(row[4]))
    return IndexedRole(row[0], row[1], row[2], row[3], facts, row[5])


async def roles_for(conn: AsyncConnection, person_ids: list[str], role: str) -> list[IndexedRole]:
    """Workers in ``role`` for each of ``person_ids``, one per organisation (one query)."""
    if not person_ids:
        return []
    rows = await conn.execute(
        select(
            worker_roles.c.person_id,
            worker_roles.c.role,
            worker_roles.c.organisation,
            worker_roles.c.source_partner,
            worker_roles.c.details,
            worker_roles.c.updated_at,
        )
        .where(worker_roles.c.person_id.in_(person_ids), worker_roles.c.role == role)
        .order_by(worker_roles.c.person_id, worker_roles.c.organisation)
    )
    return [_indexed_role(row) for row in rows]


@dataclass
class Learnt:
    """What one message taught the index: fact id to person id, and counts for the audit entry."""

    person_ids: dict[str, str] = field(default_factory=dict)
    persons: int = 0
    identifiers: int = 0
    family_links: int = 0
    worker_roles: int = 0


def learn(
    conn: Connection, message: CanonicalMessage, partner: PartnerSettings, learnt: Learnt
) -> None:
    """Record the people, family links and the sender's own workers that ``message`` names.

    Runs inside the committer's transaction, which holds the ledger head lock, so the
    check-then-insert below cannot race another writer.
    """
    now = datetime.now(UTC)
    for fact in message.facts:
        if isinstance(fact, Person):
            _learn_person(
                conn,
                fact,
                partner=partner.id,
                organisations=partner.organisations,
                now=now,
                learnt=learnt,
            )
    for fact in message.facts:
        if isinstance(fact, FamilyRelationship):
            _learn_link(conn, fact, partner.id, now, learnt)
    for fact in message.facts:
        if isinstance(fact, WorkerRole):
            _learn_role(conn, message=message, role=fact, partner=partner, now=now, learnt=learnt)


def _learn_person(
    conn: Connection,
    person: Person,
    *,
    partner: str,
    organisations: tuple[str, ...],
    now: datetime,
    learnt: Learnt,
) -> None:
    # SECURITY: an LA child id is the issuing council's to assign. Another partner quoting one
    # may use it to find the child, but never attach it to a person: a wrong link would send a
    # notice to the wrong child's social worker.
    keys = [
        i.key
        for i in person.identifiers
        if not (isinstance(i, LaChildId) and i.la_code not in organisations)
        and not (isinstance(i, Upn) and i.former)
    ]
    lookup_keys = person_keys(person)
    if not lookup_keys:
        return
    person_id = _find_person_sync(conn, lookup_keys)
    if person_id is None:
        if not keys:
            return
        person_id = str(uuid.uuid4())
        conn.execute(insert(persons).values(id=person_id, created_at=now))
        learnt.persons += 1
    known = {str(r[1]) for r in conn.execute(_identifiers_of([person_id]))}
    for key in keys:
        if key in known:
            continue
        # A key already held for someone else is a conflict to resolve by hand, never a merge.
        if _find_person_sync(conn, [key]) is not None:
            continue
        conn.execute(
            insert(person_identifiers).values(
                key=key, person_id=person_id, source_partner=partner, updated_at=now
            )
        )
        learnt.identifiers += 1
    learnt.person_ids[person.id] = person_id


def _learn_link(
    conn: Connection, link: FamilyRelationship, partner: str, now: datetime, learnt: Learnt
) -> None:
    if link.role is RelationshipRole.CHILD:
        parent, child, role = (
            learnt.person_ids.get(link.related_to),
            learnt.person_ids.get(link.person),
            RelationshipRole.PARENT,
        )
    elif link.role in _PARENT_ROLES:
        parent, child, role = (
            learnt.person_ids.get(link.person),
            learnt.person_ids.get(link.related_to),
            link.role,
        )
    else:
        return
    if parent is None or child is None or parent == child:
        return
    existing = (
        conn.execute(
            select(family_links.c.role).where(
                family_links.c.parent_id == parent, family_links.c.child_id == child
            )
        )
    ).first()
    if existing is None:
        conn.execute(
            insert(family_links).values(
                parent_id=parent,
                child_id=child,
                role=role.value,
                source_partner=partner,
                updated_at=now,
            )
        )
        learnt.family_links += 1
    elif role is not RelationshipRole.PARENT and existing[0] != role.value:
        conn.execute(
            update(family_links)
            .where(family_links.c.parent_id == parent, family_links.c.child_id == child)
            .values(role=role.value, source_partner=partner, updated_at=now)
        )


def _organisation_code(message: CanonicalMessage, role: WorkerRole) -> str:
    org = message.fact(role.organisation) if role.organisation else None
    if isinstance(org, Organisation):
        return org.ods_code or org.la_code or message.provenance.organisation
    return message.provenance.organisation


def _ended(role: WorkerRole, today: date) -> bool:
    end = role.period.end if role.period else None
    if end is None:
        return False
    end_date = end.date() if isinstance(end, datetime) else end
    return end_date < today


def _learn_role(
    conn: Connection,
    *,
    message: CanonicalMessage,
    role: WorkerRole,
    partner: PartnerSettings,
    now: datetime,
    learnt: Learnt,
) -> None:
    person_id = learnt.person_ids.get(role.subject) if role.subject else None
    if person_id is None:
        return
    organisation = _organisation_code(message, role)
    # SECURITY: a partner may only say who works for its own organisations; a trust cannot
    # rewrite the council's record of a child's allocated social worker, nor the reverse.
    if organisation not in partner.organisations:
        return
    where = (
        worker_roles.c.person_id == person_id,
        worker_roles.c.role == role.role.value,
        worker_roles.c.organisation == organisation,
    )
    conn.execute(delete(worker_roles).where(*where))
    if _ended(role, now.date()):
        return
    related: list[Fact] = [role]
    for ref in (role.worker, role.organisation):
        fact = message.fact(ref) if ref else None
        if isinstance(fact, Worker | Organisation):
            related.append(fact)
    details = orjson.dumps([f.model_dump(mode="json") for f in related]).decode()
    conn.execute(
        insert(worker_roles).values(
            person_id=person_id,
            role=role.role.value,
            organisation=organisation,
            source_partner=partner.id,
            details=details,
            updated_at=now,
        )
    )
    learnt.worker_roles += 1
