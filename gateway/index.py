"""The index: who is who. Identifiers, family links and the workers allocated to people.

It learns from partner messages (and, for the demo, a seed file) and answers the questions routing
and look-ups need. It never holds case or clinical content: identifiers, links, and workers'
contact details only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import orjson
from pydantic import TypeAdapter
from sqlalchemy import Connection, Select, delete, insert, select, update

from gateway.ids import new_id
from gateway.settings import PartnerSettings
from gateway.store.tables import consents as consents_table
from gateway.store.tables import (
    family_links,
    person_identifiers,
    persons,
    social_care_episodes,
    worker_roles,
)
from schemas.facts import (
    Consent,
    Fact,
    FamilyRelationship,
    Organisation,
    Person,
    RelationshipRole,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId, NhsNumber, PersonIdentifier, Upn
from schemas.message import CanonicalMessage, MessageKind

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
    updated_at: datetime
    details: str  # the stored JSON of the facts, compared to spot a changed worker

    @property
    def facts(self) -> tuple[Fact, ...]:
        """The WorkerRole first, then its Worker and Organisation if known (parsed on demand)."""
        return _parse_details(self.details)

    @property
    def role_fact(self) -> WorkerRole:
        fact = self.facts[0]
        if not isinstance(fact, WorkerRole):
            raise TypeError("an indexed role starts with its WorkerRole fact")
        return fact


@lru_cache(maxsize=4096)
def _parse_details(details: str) -> tuple[Fact, ...]:
    # Facts are frozen, so one parsed copy can serve every exchange naming the same worker.
    return tuple(_FACT.validate_python(f) for f in orjson.loads(details))


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


def find_people(conn: Connection, keys: list[str]) -> dict[str, str]:
    """Index key to person id, for every one of ``keys`` the index holds (one query)."""
    if not keys:
        return {}
    return {str(r[0]): str(r[1]) for r in conn.execute(_persons_by_key(keys))}


def find_person(conn: Connection, keys: list[str]) -> str | None:
    """The person id matching any of ``keys`` (in the order given), or None."""
    if not keys:
        return None
    return _first_match(keys, conn.execute(_persons_by_key(keys)))


def _identifiers_of(person_ids: list[str]) -> Select[str, str]:
    return (
        select(person_identifiers.c.person_id, person_identifiers.c.key)
        .where(person_identifiers.c.person_id.in_(person_ids))
        .order_by(person_identifiers.c.key)
    )


def identifiers_of(conn: Connection, person_ids: list[str]) -> dict[str, list[str]]:
    """Every identifier key the index holds for each of ``person_ids`` (one query)."""
    found: dict[str, list[str]] = {p: [] for p in person_ids}
    for row in conn.execute(_identifiers_of(person_ids)):
        found[str(row[0])].append(str(row[1]))
    return found


def _roles_query() -> Select[str, str, str, str, str, datetime]:
    return select(
        worker_roles.c.person_id,
        worker_roles.c.role,
        worker_roles.c.organisation,
        worker_roles.c.source_partner,
        worker_roles.c.details,
        worker_roles.c.updated_at,
    ).order_by(worker_roles.c.person_id, worker_roles.c.organisation)


def _indexed_role(row: Sequence[Any]) -> IndexedRole:
    return IndexedRole(row[0], row[1], row[2], row[3], row[5], row[4])


def roles_for(conn: Connection, person_ids: list[str], role: str) -> list[IndexedRole]:
    """Workers in ``role`` for each of ``person_ids``, one per organisation (one query)."""
    if not person_ids:
        return []
    rows = conn.execute(
        _roles_query().where(worker_roles.c.person_id.in_(person_ids), worker_roles.c.role == role)
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
    episodes: int = 0
    consents: int = 0

    @property
    def changed(self) -> bool:
        counts = (self.persons, self.identifiers, self.family_links, self.worker_roles)
        return any(counts) or bool(self.episodes or self.consents)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the index holds about the people one message names, and their children.

    Read in four queries; routing and learning are both planned from it.
    """

    by_key: dict[str, str]  # identifier key -> person id
    identifiers: dict[str, list[str]]  # person id -> keys
    links: dict[tuple[str, str], str]  # (parent id, child id) -> role
    roles: dict[tuple[str, str, str], IndexedRole]  # (person id, role, organisation) -> role
    episodes: dict[tuple[str, str, str], str]  # (person id, organisation, referral date) -> JSON
    consents: dict[str, list[Consent]] = field(default_factory=dict)  # person id -> directives

    def consents_of(self, person_id: str | None) -> list[Consent]:
        """The consent directives on record for a person."""
        return list(self.consents.get(person_id, ())) if person_id else []

    def children_of(self, person_id: str) -> list[str]:
        """Children linked to ``person_id`` as a parent or carer."""
        return sorted(child for parent, child in self.links if parent == person_id)

    def roles_of(self, person_id: str, role: str) -> list[IndexedRole]:
        """Workers in ``role`` for ``person_id``, one per organisation."""
        return [
            r for (p, kind, _), r in sorted(self.roles.items()) if p == person_id and kind == role
        ]


def read_snapshot(conn: Connection, message: CanonicalMessage) -> Snapshot:
    """The index's view of everyone ``message`` names, and of their linked children."""
    keys = [k for f in message.facts if isinstance(f, Person) for k in _all_keys(f)]
    by_key = find_people(conn, keys)
    ids = sorted(set(by_key.values()))
    links: dict[tuple[str, str], str] = {}
    if ids:
        rows = conn.execute(
            select(family_links.c.parent_id, family_links.c.child_id, family_links.c.role).where(
                family_links.c.parent_id.in_(ids) | family_links.c.child_id.in_(ids)
            )
        )
        links = {(str(r[0]), str(r[1])): str(r[2]) for r in rows}
    everyone = sorted(set(ids) | {p for pair in links for p in pair})
    identifiers = identifiers_of(conn, everyone) if everyone else {}
    roles: dict[tuple[str, str, str], IndexedRole] = {}
    if everyone:
        for row in conn.execute(_roles_query().where(worker_roles.c.person_id.in_(everyone))):
            role = _indexed_role(row)
            roles[(role.person_id, role.role, role.organisation)] = role
    episodes: dict[tuple[str, str, str], str] = {}
    if everyone and any(isinstance(f, SocialCareEpisode) for f in message.facts):
        episode_rows = conn.execute(
            select(
                social_care_episodes.c.person_id,
                social_care_episodes.c.organisation,
                social_care_episodes.c.referral_date,
                social_care_episodes.c.details,
            ).where(social_care_episodes.c.person_id.in_(everyone))
        )
        episodes = {(str(p), str(o), str(r)): str(d) for p, o, r, d in episode_rows}
    consents: dict[str, list[Consent]] = {}
    if ids:
        consent_rows = conn.execute(
            select(consents_table.c.person_id, consents_table.c.details)
            .where(consents_table.c.person_id.in_(ids))
            .order_by(consents_table.c.recorded_at)
        )
        for person_id, details in consent_rows:
            consents.setdefault(str(person_id), []).append(_consent_from(str(details)))
    return Snapshot(by_key, identifiers, links, roles, episodes, consents)


@lru_cache(maxsize=4096)
def _consent_from(details: str) -> Consent:
    return Consent.model_validate_json(details)


def stored_consent(consent: Consent) -> tuple[str, str]:
    """The stored form of a directive: JSON with a stable id, and its hash (the reference)."""
    body = consent.model_copy(update={"id": "consent", "subject": "subject"})
    digest = hashlib.sha256(orjson.dumps(body.model_dump(mode="json"))).hexdigest()
    stored = body.model_copy(update={"id": f"consent-{digest[:12]}"})
    return orjson.dumps(stored.model_dump(mode="json")).decode(), digest


def _all_keys(person: Person) -> list[str]:
    return [i.key for i in person.identifiers]


def _attachable_keys(person: Person, organisations: tuple[str, ...]) -> list[str]:
    # SECURITY: an LA child id is the issuing council's to assign. Another partner quoting one
    # may use it to find the child, but never attach it to a person: a wrong link would send a
    # notice to the wrong child's social worker.
    return [
        i.key
        for i in person.identifiers
        if not (isinstance(i, LaChildId) and i.la_code not in organisations)
        and not (isinstance(i, Upn) and i.former)
    ]


@dataclass
class Plan:
    """The changes one message makes to the index; empty when it teaches nothing new."""

    new_persons: dict[str, list[str]] = field(default_factory=dict)  # fact id -> keys
    new_keys: list[tuple[str, str]] = field(default_factory=list)  # (person ref, key)
    links: list[tuple[str, str, str, bool]] = field(
        default_factory=list
    )  # parent, child, role, new
    roles: list[tuple[str, WorkerRole, str, str | None]] = field(default_factory=list)
    # (person ref, organisation, referral date, details JSON)
    episodes: list[tuple[str, str, str, str]] = field(default_factory=list)
    # (person ref, recorded at, details JSON, its hash)
    consents: list[tuple[str, datetime, str, str]] = field(default_factory=list)
    person_refs: dict[str, str] = field(
        default_factory=dict
    )  # fact id -> person id or "new:<fact>"

    @property
    def empty(self) -> bool:
        changes = (self.new_persons, self.new_keys, self.links, self.roles, self.episodes)
        return not (any(changes) or self.consents)


def plan_learning(
    message: CanonicalMessage, partner: PartnerSettings, snapshot: Snapshot, today: date
) -> Plan:
    """What ``message`` would change in the index, given ``snapshot`` (pure)."""
    plan = Plan()
    for person in message.facts:
        if not isinstance(person, Person):
            continue
        attachable = _attachable_keys(person, partner.organisations)
        matched = next(
            (snapshot.by_key[k] for k in person_keys(person) if k in snapshot.by_key), None
        )
        if matched is None:
            if attachable:
                plan.new_persons[person.id] = attachable
                plan.person_refs[person.id] = f"new:{person.id}"
            continue
        plan.person_refs[person.id] = matched
        held = set(snapshot.identifiers.get(matched, ()))
        # A key already held for someone else is a conflict to resolve by hand, never a merge.
        plan.new_keys.extend(
            (matched, k) for k in attachable if k not in held and k not in snapshot.by_key
        )
    for link in message.facts:
        if isinstance(link, FamilyRelationship):
            _plan_link(plan, link, snapshot)
    for episode in message.facts:
        if isinstance(episode, SocialCareEpisode):
            _plan_episode(plan, message, episode, partner, snapshot)
    for consent in message.facts:
        if isinstance(consent, Consent):
            _plan_consent(plan, consent, snapshot)
    for role in message.facts:
        if isinstance(role, WorkerRole):
            _plan_role(plan, message, role=role, partner=partner, snapshot=snapshot, today=today)
    return plan


def _plan_consent(plan: Plan, consent: Consent, snapshot: Snapshot) -> None:
    person_ref = plan.person_refs.get(consent.subject)
    if person_ref is None:
        return
    details, digest = stored_consent(consent)
    if digest not in {stored_consent(c)[1] for c in snapshot.consents_of(person_ref)}:
        plan.consents.append((person_ref, consent.recorded_at, details, digest))


def _plan_link(plan: Plan, link: FamilyRelationship, snapshot: Snapshot) -> None:
    if link.role is RelationshipRole.CHILD:
        parent, child, role = link.related_to, link.person, RelationshipRole.PARENT
    elif link.role in _PARENT_ROLES:
        parent, child, role = link.person, link.related_to, link.role
    else:
        return
    parent_ref, child_ref = plan.person_refs.get(parent), plan.person_refs.get(child)
    if parent_ref is None or child_ref is None or parent_ref == child_ref:
        return
    existing = snapshot.links.get((parent_ref, child_ref))
    if existing is None:
        plan.links.append((parent_ref, child_ref, role.value, True))
    elif role is not RelationshipRole.PARENT and existing != role.value:
        plan.links.append((parent_ref, child_ref, role.value, False))


def _plan_role(
    plan: Plan,
    message: CanonicalMessage,
    *,
    role: WorkerRole,
    partner: PartnerSettings,
    snapshot: Snapshot,
    today: date,
) -> None:
    person_ref = plan.person_refs.get(role.subject) if role.subject else None
    if person_ref is None:
        return
    organisation = _organisation_code(message, role)
    # SECURITY: a partner may only say who works for its own organisations; a trust cannot
    # rewrite the council's record of a child's allocated social worker, nor the reverse.
    if organisation not in partner.organisations:
        return
    existing = snapshot.roles.get((person_ref, role.role.value, organisation))
    if _ended(role, today):
        if existing is not None:
            plan.roles.append((person_ref, role, organisation, None))
        return
    details = _role_details(message, role)
    if existing is None or existing.details != details:
        plan.roles.append((person_ref, role, organisation, details))


def _plan_episode(
    plan: Plan,
    message: CanonicalMessage,
    episode: SocialCareEpisode,
    partner: PartnerSettings,
    snapshot: Snapshot,
) -> None:
    person_ref = plan.person_refs.get(episode.subject)
    if person_ref is None:
        return
    org = message.fact(episode.organisation) if episode.organisation else None
    organisation = message.provenance.organisation
    if isinstance(org, Organisation):
        organisation = org.la_code or org.ods_code or organisation
    # SECURITY: only the council itself records its social care episodes in the index.
    if organisation not in partner.organisations:
        return
    referral = episode.referral_date.isoformat() if episode.referral_date else "unknown"
    # The allocated worker is a fact of its own (worker_roles), and message-local references
    # mean nothing once stored: keep them out, so the stored status compares equal across messages.
    incoming = episode.model_copy(
        update={"allocated_worker": None, "organisation": None, "id": "episode", "subject": "child"}
    )
    stored = snapshot.episodes.get((person_ref, organisation, referral))
    if stored is not None and message.kind not in WHOLE_EPISODE_KINDS:
        incoming = merge_episodes(SocialCareEpisode.model_validate_json(stored), incoming)
    details = orjson.dumps(incoming.model_dump(mode="json")).decode()
    if stored != details:
        plan.episodes.append((person_ref, organisation, referral, details))


# Messages that state whole episodes (a census return, a full child record, a status snapshot):
# what they say replaces what was stored, so a corrected return can remove a plan or a factor.
# Every other kind (the council's events) carries a part of an episode and is merged.
WHOLE_EPISODE_KINDS = frozenset(
    {MessageKind.CIN_CENSUS_CHILD, MessageKind.CHILD_RECORD, MessageKind.CHILD_STATUS}
)


def merge_episodes(stored: SocialCareEpisode, incoming: SocialCareEpisode) -> SocialCareEpisode:
    """What the index holds after ``incoming`` about an episode it already knows.

    A council's events each carry a part of an episode (a section 47 started, a plan ended), so a
    part must add to the stored episode, not replace it: values the incoming fact states win,
    section 47 enquiries are matched by start date and plans by kind and start date (a later
    message's version replaces the earlier), and assessment factors accumulate.
    """
    scalars = {
        name: getattr(incoming, name)
        for name in (
            "referral_date",
            "referral_source",
            "primary_need",
            "closure_date",
            "closure_reason",
        )
        if getattr(incoming, name) is not None
    }
    s47 = {s.start: s for s in stored.section47} | {s.start: s for s in incoming.section47}
    plans = {(p.kind, p.period.start): p for p in stored.plans} | {
        (p.kind, p.period.start): p for p in incoming.plans
    }
    factors = tuple(dict.fromkeys((*stored.assessment_factors, *incoming.assessment_factors)))
    return stored.model_copy(
        update=scalars
        | {
            "section47": tuple(s47[k] for k in sorted(s47)),
            "plans": tuple(plans[k] for k in sorted(plans, key=_plan_order)),
            "assessment_factors": factors,
        }
    )


def _plan_order(key: tuple[object, object]) -> tuple[str, str]:
    kind, start = key
    return (str(start or ""), str(kind))


def _role_details(message: CanonicalMessage, role: WorkerRole) -> str:
    related: list[Fact] = [role]
    for ref in (role.worker, role.organisation):
        fact = message.fact(ref) if ref else None
        if isinstance(fact, Worker | Organisation):
            related.append(fact)
    return orjson.dumps([f.model_dump(mode="json") for f in related]).decode()


def learn(
    conn: Connection, message: CanonicalMessage, partner: PartnerSettings, learnt: Learnt
) -> None:
    """Record the people, family links and the sender's own workers that ``message`` names.

    Runs inside the committer's transaction, which holds the ledger head lock: the snapshot is
    read again there, so the plan cannot race another writer.
    """
    now = datetime.now(UTC)
    plan = plan_learning(message, partner, read_snapshot(conn, message), now.date())
    ids = {ref: ref for ref in plan.person_refs.values() if not ref.startswith("new:")}
    for fact_id, keys in plan.new_persons.items():
        person_id = new_id()
        ids[f"new:{fact_id}"] = person_id
        conn.execute(insert(persons).values(id=person_id, created_at=now))
        learnt.persons += 1
        plan.new_keys.extend((person_id, k) for k in keys)
    if plan.new_keys:
        conn.execute(
            insert(person_identifiers),
            [
                {
                    "key": k,
                    "person_id": ids.get(p, p),
                    "source_partner": partner.id,
                    "updated_at": now,
                }
                for p, k in plan.new_keys
            ],
        )
        learnt.identifiers += len(plan.new_keys)
    for parent, child, role_code, new in plan.links:
        values = {"role": role_code, "source_partner": partner.id, "updated_at": now}
        if new:
            conn.execute(
                insert(family_links).values(parent_id=ids[parent], child_id=ids[child], **values)
            )
            learnt.family_links += 1
        else:
            conn.execute(
                update(family_links)
                .where(
                    family_links.c.parent_id == ids[parent], family_links.c.child_id == ids[child]
                )
                .values(**values)
            )
    for person_ref, role, organisation, details in plan.roles:
        person_id = ids[person_ref]
        conn.execute(
            delete(worker_roles).where(
                worker_roles.c.person_id == person_id,
                worker_roles.c.role == role.role.value,
                worker_roles.c.organisation == organisation,
            )
        )
        if details is not None:
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
    for person_ref, organisation, referral, details in plan.episodes:
        key = (
            social_care_episodes.c.person_id == ids[person_ref],
            social_care_episodes.c.organisation == organisation,
            social_care_episodes.c.referral_date == referral,
        )
        conn.execute(delete(social_care_episodes).where(*key))
        conn.execute(
            insert(social_care_episodes).values(
                person_id=ids[person_ref],
                organisation=organisation,
                referral_date=referral,
                source_partner=partner.id,
                details=details,
                updated_at=now,
            )
        )
        learnt.episodes += 1
    for person_ref, recorded_at, details, digest in plan.consents:
        conn.execute(
            insert(consents_table).values(
                person_id=ids[person_ref],
                source_partner=partner.id,
                recorded_at=recorded_at,
                details=details,
                details_sha256=digest,
            )
        )
        learnt.consents += 1
    learnt.person_ids = {fact: ids[ref] for fact, ref in plan.person_refs.items()}


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
