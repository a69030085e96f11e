"""Think family: a parent in adult mental health with a child open to children's social care.

Mental health clinicians in the study often did not know their patient had children, and the
children's social workers did not know the parent had a care coordinator. When what the gateway
holds after an exchange links a person with a **care coordinator** (an index ``worker_roles`` row,
role ``care-coordinator``) as parent or carer of a child **open to children's social care** (an
allocated social worker, or a social care episode without a closure date), the gateway makes two
``think-family`` messages of its own (``Exchange.derived``), each decided, minimised, rendered and
committed by the pipeline like a partner's message:

- **to the care coordinator's organisation** (the council's information, from the council): a flag
  on the parent's record, "parent or carer of a child open to children's social care", with the
  contact of the child's allocated social worker (or, where no worker is allocated, the council's
  front door), and nothing about the child;
- **to the child's council** (the trust's information, from the trust): that the parent has a care
  coordinator, with the care coordinator's contact, and the parent-child link.

A flag is proposed only in a direction some agreement has a ``think-family`` flow for (think
family is agreed between organisations, :func:`opted_in`). Each is raised **once per parent,
child and recipient** (``think_family_flags``), and raised again
only when the worker it names changes (a different person in the role, not a new phone number).
A refused flag (no flow, a consent refusal, a recipient not connected) is not recorded as raised:
it is considered again the next time an exchange changes what the index holds about the family.

Evaluation: :func:`watch` runs for every partner exchange in the reader's thread and looks at the
family links of the people the message names, as the index will hold them once the message is
learnt (the snapshot plus the planned learning, so a message that itself adds the link, the care
coordinator or the allocated worker raises the flag in its own commit). It does nothing for a
message that teaches the index nothing new. A CIN census import is not a partner exchange
(``gateway/imports.py`` writes through ``index.learn``): :class:`ImportFlags` looks at each child
of a committed batch who has a parent in the index the same way, and commits its flags as an
exchange of the imported child.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
import structlog
from sqlalchemy import Connection, delete, insert, select

from adapters.registry import default_adapters
from gateway import index
from gateway.directory import roles_for_organisation
from gateway.errors import Unavailable
from gateway.index import IndexedRole, Plan, Snapshot
from gateway.policy.agreements import load_agreements
from gateway.policy.engine import AgreementSet
from gateway.recipients import Candidate
from gateway.services import Services
from gateway.settings import PartnerSettings, Settings
from gateway.store.committer import GroupCommitter
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.reader import Reader
from gateway.store.tables import consents as consents_table
from gateway.store.tables import family_links, social_care_episodes, think_family_flags
from schemas.facts import (
    Consent,
    Fact,
    FamilyRelationship,
    Organisation,
    OrganisationKind,
    Period,
    Person,
    RelationshipRole,
    Risk,
    RoleKind,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId, NhsNumber
from schemas.labels import Purpose
from schemas.message import CanonicalMessage, MessageKind
from schemas.provenance import Provenance

if TYPE_CHECKING:
    from gateway.pipeline import Derived, Exchange

log = structlog.get_logger(__name__)

# The flags' words are the gateway's own (never a partner's free text): the agreement names
# risk.summary and risk.category, and these fixed texts are all that can fill them.
FLAG_CATEGORY = "think-family"
TO_CARE_COORDINATOR = (
    "Think family: this patient is a parent or carer of a child open to children's social care. "
    "Contact the child's allocated social worker (or the council's front door) before acting."
)
TO_SOCIAL_WORKER = (
    "Think family: this parent or carer of the child has a care coordinator in adult mental "
    "health services. Contact the care coordinator to coordinate support."
)
SOURCE_FORMAT = "gateway"
_PARENT = "parent"
_CHILD = "child"
_FLAG = "think-family-flag"
_LINK = "relationship"
_CONTACT = "contact-"


@dataclass
class FamilyState:
    """What the index holds (or will hold, once the exchange is learnt) about some families.

    People are named by *refs*: an indexed person id, or ``new:<fact id>`` for a person the
    exchange is about to add to the index.
    """

    links: dict[tuple[str, str], str] = field(default_factory=dict)  # (parent, child) -> role
    roles: dict[tuple[str, str, str], IndexedRole] = field(default_factory=dict)
    open_episodes: dict[str, set[str]] = field(default_factory=dict)  # child -> organisations
    identifiers: dict[str, list[str]] = field(default_factory=dict)  # ref -> index keys

    def roles_of(self, ref: str, role: RoleKind) -> list[IndexedRole]:
        return [r for (p, kind, _), r in sorted(self.roles.items()) if p == ref and kind == role]


@dataclass(frozen=True, slots=True)
class Flag:
    """One think-family message to raise: for whom, to whom, naming which worker."""

    parent: str  # ref
    child: str  # ref
    recipient_organisation: str
    worker_sha256: str
    message: CanonicalMessage
    candidate: Candidate
    known: dict[str, str]


# -- the rule -------------------------------------------------------------------------------------


def worker_key(role: IndexedRole) -> str:
    """What identifies the worker a flag names: the organisation, role and the worker (local id,
    registration or name), else the team or duty line. A new phone number is not a new worker."""
    worker: dict[str, object] = {"organisation": role.organisation, "role": role.role}
    facts = role.facts
    role_fact = facts[0]
    person = next((f for f in facts if isinstance(f, Worker)), None)
    if person is not None:
        worker["local_id"] = person.local_id
        worker["registration"] = person.registration.value if person.registration else None
        worker["name"] = person.name.model_dump(mode="json") if person.name else None
    elif isinstance(role_fact, WorkerRole):
        worker["team"] = role_fact.team
    return hashlib.sha256(orjson.dumps(worker, option=orjson.OPT_SORT_KEYS)).hexdigest()


def opted_in(agreements: AgreementSet, sender: str, recipient: str) -> bool:
    """Whether any agreement has a think-family flow from ``sender`` to ``recipient``: think family
    is something two organisations agree to. Where none has, no flag is proposed (nothing to
    refuse); where one has, the flow's own terms (purpose, consent) are decided and recorded."""
    return any(
        MessageKind.THINK_FAMILY in flow.message_kinds
        for _, flow in agreements.between(sender, recipient)
    )


def find_flags(
    conn: Connection,
    state: FamilyState,
    pairs: Iterable[tuple[str, str]],
    *,
    agreements: AgreementSet,
    at: datetime,
    source_message_id: str,
) -> list[Flag]:
    """The flags the families in ``state`` call for between organisations that have agreed to
    think family, less those already raised for the same worker (one query for the raised flags,
    one for the front door where no worker is allocated)."""
    wanted: list[Flag] = []
    for parent, child in sorted(set(pairs)):
        role_code = state.links.get((parent, child))
        if role_code is None:
            continue
        coordinators = state.roles_of(parent, RoleKind.CARE_COORDINATOR)
        if not coordinators:
            continue
        councils = {
            r.organisation: r for r in state.roles_of(child, RoleKind.ALLOCATED_SOCIAL_WORKER)
        }
        open_at = set(councils) | state.open_episodes.get(child, set())
        for council in sorted(open_at):
            for coordinator in coordinators:
                org = coordinator.organisation
                to_trust = opted_in(agreements, council, org)
                to_council = opted_in(agreements, org, council)
                if org == council or not (to_trust or to_council):
                    continue
                contact = councils.get(council) or council_contact(conn, council, child)
                if to_trust:
                    wanted.append(
                        _to_care_coordinator(
                            state,
                            parent,
                            child,
                            coordinator=coordinator,
                            contact=contact,
                            at=at,
                            source_message_id=source_message_id,
                        )
                    )
                if to_council:
                    wanted.append(
                        _to_social_worker(
                            state,
                            parent,
                            child,
                            role_code=role_code,
                            coordinator=coordinator,
                            contact=contact,
                            at=at,
                            source_message_id=source_message_id,
                        )
                    )
    return _not_yet_raised(conn, wanted)


def _not_yet_raised(conn: Connection, wanted: list[Flag]) -> list[Flag]:
    known = [
        f for f in wanted if not f.parent.startswith("new:") and not f.child.startswith("new:")
    ]
    raised: set[tuple[str, str, str, str]] = set()
    if known:
        rows = conn.execute(
            select(
                think_family_flags.c.parent_id,
                think_family_flags.c.child_id,
                think_family_flags.c.recipient_organisation,
                think_family_flags.c.worker_sha256,
            ).where(think_family_flags.c.parent_id.in_(sorted({f.parent for f in known})))
        )
        raised = {(str(a), str(b), str(c), str(d)) for a, b, c, d in rows}
    return [
        f
        for f in wanted
        if (f.parent, f.child, f.recipient_organisation, f.worker_sha256) not in raised
    ]


def council_contact(conn: Connection, council: str, child: str) -> IndexedRole:
    """The council's front door from the directory, or the council itself, when no worker is
    allocated to a child with an open episode."""
    found = roles_for_organisation(conn, council, RoleKind.FRONT_DOOR)
    if found:
        return found[0]
    org = _organisation(council)
    role = WorkerRole(id="front-door", role=RoleKind.FRONT_DOOR, organisation=org.id)
    details = orjson.dumps([role.model_dump(mode="json"), org.model_dump(mode="json")]).decode()
    return IndexedRole(child, RoleKind.FRONT_DOOR.value, council, "", datetime.now(UTC), details)


def _organisation(code: str) -> Organisation:
    if code.isdigit() and len(code) == 3:
        return Organisation(id="organisation", kind=OrganisationKind.LOCAL_AUTHORITY, la_code=code)
    return Organisation(id="organisation", kind=OrganisationKind.NHS_TRUST, ods_code=code)


def _contact_facts(role: IndexedRole, subject: str | None) -> list[Fact]:
    """A worker's stored facts under ids of this message, the role about ``subject``."""
    facts = role.facts
    renamed = {f.id: f"{_CONTACT}{f.id}" for f in facts}
    out: list[Fact] = []
    has_org = False
    for fact in facts:
        if isinstance(fact, WorkerRole):
            out.append(
                fact.model_copy(
                    update={
                        "id": renamed[fact.id],
                        "subject": subject,
                        "worker": renamed.get(fact.worker or ""),
                        "organisation": renamed.get(fact.organisation or "")
                        or f"{_CONTACT}organisation",
                    }
                )
            )
        elif isinstance(fact, Organisation):
            has_org = True
            out.append(fact.model_copy(update={"id": renamed[fact.id]}))
        elif isinstance(fact, Worker):
            out.append(fact.model_copy(update={"id": renamed[fact.id]}))
    role_fact = out[0]
    if isinstance(role_fact, WorkerRole) and not has_org:
        # The role names its organisation: the stored facts did not carry one, so add the code.
        org = _organisation(role.organisation).model_copy(update={"id": role_fact.organisation})
        out.append(org)
    return out


def _message(
    *,
    sender: str,
    facts: list[Fact],
    purpose: Purpose,
    at: datetime,
    source_message_id: str,
    recipient: str,
) -> CanonicalMessage:
    return CanonicalMessage(
        message_id=f"think-family:{source_message_id}:{recipient}",
        kind=MessageKind.THINK_FAMILY,
        subject=_PARENT,
        facts=tuple(facts),
        provenance=Provenance(
            organisation=sender,
            system="joined-up",
            source_format=SOURCE_FORMAT,
            source_message_id=source_message_id,
            received_at=at,
        ),
        purpose=purpose,
        sent_at=at,
    )


def _flag_fact(summary: str, at: datetime) -> Risk:
    return Risk(
        id=_FLAG,
        subject=_PARENT,
        summary=summary,
        category=FLAG_CATEGORY,
        period=Period(start=at.date()),
    )


def _to_care_coordinator(
    state: FamilyState,
    parent: str,
    child: str,
    *,
    coordinator: IndexedRole,
    contact: IndexedRole,
    at: datetime,
    source_message_id: str,
) -> Flag:
    """The council's flag on the parent's record, to the care coordinator's organisation: the
    parent (addressed by the trust's own identifiers), the flag, the council's contact."""
    facts: list[Fact] = [
        Person(id=_PARENT),
        _flag_fact(TO_CARE_COORDINATOR, at),
        *_contact_facts(contact, None),
    ]
    council = contact.organisation
    message = _message(
        sender=council,
        facts=facts,
        purpose=Purpose.SAFEGUARDING_CHILD,
        at=at,
        source_message_id=source_message_id,
        recipient="trust",
    )
    candidate = Candidate(
        organisation=coordinator.organisation,
        child_person_id=parent,
        child_identifier_keys=tuple(state.identifiers.get(parent, ())),
        addressee=coordinator,
    )
    return Flag(
        parent,
        child,
        coordinator.organisation,
        worker_key(contact),
        message,
        candidate,
        {_PARENT: parent},
    )


def _to_social_worker(
    state: FamilyState,
    parent: str,
    child: str,
    *,
    role_code: str,
    coordinator: IndexedRole,
    contact: IndexedRole,
    at: datetime,
    source_message_id: str,
) -> Flag:
    """The trust's word to the child's council: the parent (NHS number and the council's own
    ids), the link to the child (addressed by the council's identifiers), the care coordinator."""
    council = contact.organisation
    parent_ids = []
    for key in state.identifiers.get(parent, ()):
        identifier = index.identifier_from_key(key)
        if isinstance(identifier, NhsNumber) or (
            isinstance(identifier, LaChildId) and identifier.la_code == council
        ):
            parent_ids.append(identifier)
    facts: list[Fact] = [
        Person(id=_PARENT, identifiers=tuple(parent_ids)),
        Person(id=_CHILD),
        FamilyRelationship(
            id=_LINK, person=_PARENT, related_to=_CHILD, role=RelationshipRole(role_code)
        ),
        _flag_fact(TO_SOCIAL_WORKER, at),
        *_contact_facts(coordinator, _PARENT),
    ]
    message = _message(
        sender=coordinator.organisation,
        facts=facts,
        purpose=Purpose.CARE_COORDINATION,
        at=at,
        source_message_id=source_message_id,
        recipient="council",
    )
    candidate = Candidate(
        organisation=council,
        child_person_id=child,
        child_identifier_keys=tuple(state.identifiers.get(child, ())),
        addressee=contact,
    )
    return Flag(
        parent,
        child,
        council,
        worker_key(coordinator),
        message,
        candidate,
        {_PARENT: parent, _CHILD: child},
    )


# -- the state after an exchange ------------------------------------------------------------------


def _closed(details: str) -> bool:
    return SocialCareEpisode.model_validate_json(details).closure_date is not None


def state_after(
    conn: Connection, snapshot: Snapshot, plan: Plan, partner_id: str, at: datetime
) -> tuple[FamilyState, list[tuple[str, str]]]:
    """The families of the message's people as the index will hold them after ``plan``; and the
    (parent, child) pairs to look at: every link touching someone the message names."""
    state = FamilyState(links=dict(snapshot.links), roles=dict(snapshot.roles))
    for parent, child, role_code, _new in plan.links:
        state.links[(parent, child)] = role_code
    for ref, role, organisation, details in plan.roles:
        key = (ref, role.role.value, organisation)
        if details is None:
            state.roles.pop(key, None)
        else:
            state.roles[key] = IndexedRole(
                ref, role.role.value, organisation, partner_id, at, details
            )
    named = set(plan.person_refs.values())
    pairs = [pair for pair in state.links if pair[0] in named or pair[1] in named]
    children = sorted({child for _, child in pairs})
    # Episodes: the snapshot holds them only when the message carries episodes of its own.
    held = {(p, o, r): d for (p, o, r), d in snapshot.episodes.items() if p in children}
    missing = [c for c in children if not c.startswith("new:") and not any(k[0] == c for k in held)]
    if missing and not snapshot.episodes:
        for p, o, r, d in conn.execute(
            select(
                social_care_episodes.c.person_id,
                social_care_episodes.c.organisation,
                social_care_episodes.c.referral_date,
                social_care_episodes.c.details,
            ).where(social_care_episodes.c.person_id.in_(missing))
        ):
            held[(str(p), str(o), str(r))] = str(d)
    for ref, organisation, referral, details in plan.episodes:
        held[(ref, organisation, referral)] = details
    for (ref, organisation, _), details in held.items():
        if not _closed(details):
            state.open_episodes.setdefault(ref, set()).add(organisation)
    refs = {p for pair in pairs for p in pair}
    for ref in refs:
        keys = list(snapshot.identifiers.get(ref, ()))
        if ref.startswith("new:"):
            keys.extend(plan.new_persons.get(ref.removeprefix("new:"), ()))
        keys.extend(k for r, k in plan.new_keys if r == ref and k not in keys)
        state.identifiers[ref] = sorted(keys)
    return state, pairs


def consents_for(
    conn: Connection, snapshot: Snapshot, message: CanonicalMessage, plan: Plan, parents: set[str]
) -> None:
    """Make the parents' consent directives visible to the policy stage: those on record for a
    parent the message does not name (the snapshot reads only the named people's), and those
    arriving in the message for a parent it adds to the index."""
    read = set(snapshot.by_key.values())
    missing = sorted(p for p in parents if p not in read and not p.startswith("new:"))
    if missing:
        rows = conn.execute(
            select(consents_table.c.person_id, consents_table.c.details)
            .where(consents_table.c.person_id.in_(missing))
            .order_by(consents_table.c.recorded_at)
        )
        for person_id, details in rows:
            snapshot.consents.setdefault(str(person_id), []).append(
                Consent.model_validate_json(str(details))
            )
    for fact in message.facts:
        ref = plan.person_refs.get(fact.subject) if isinstance(fact, Consent) else None
        if isinstance(fact, Consent) and ref in parents and ref and ref.startswith("new:"):
            snapshot.consents.setdefault(ref, []).append(fact)


# -- the pipeline's watcher -----------------------------------------------------------------------


def watch(ex: Exchange, conn: Connection, services: Services) -> None:
    """Add the think-family flags the families this exchange touches call for."""
    if not ex.teaches or ex.snapshot is None:
        return  # nothing new in the index: nothing new to flag
    message = ex.parsed
    plan = index.plan_learning(message, ex.partner, ex.snapshot, ex.received_at.date())
    if not (plan.links or plan.roles or plan.episodes or plan.new_persons):
        return
    state, pairs = state_after(conn, ex.snapshot, plan, ex.partner.id, ex.received_at)
    flags = find_flags(
        conn,
        state,
        pairs,
        agreements=services.agreements,
        at=ex.received_at,
        source_message_id=ex.exchange_id,
    )
    if not flags:
        return
    consents_for(conn, ex.snapshot, message, plan, {f.parent for f in flags})
    add_flags(ex, flags, lambda: ex.learnt.person_ids)


def add_flags(ex: Exchange, flags: list[Flag], person_ids: Callable[[], dict[str, str]]) -> None:
    """Queue ``flags`` as derived messages, and the write recording those that were raised
    (``person_ids``: fact id to indexed id, for people the exchange added, read at write time)."""
    # The pipeline imports the workflows: its Derived is imported when a flag is made.
    from gateway.pipeline import Derived  # noqa: PLC0415

    derived = [Derived(message=f.message, candidate=f.candidate, known=f.known) for f in flags]
    ex.derived.extend(derived)
    ex.writes.append(_record(ex, list(zip(flags, derived, strict=True)), person_ids))


def _record(
    ex: Exchange, raised: list[tuple[Flag, Derived]], person_ids: Callable[[], dict[str, str]]
) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        ids = person_ids()

        def real(ref: str) -> str:
            return ids.get(ref.removeprefix("new:"), "") if ref.startswith("new:") else ref

        for flag, derived in raised:
            routed = next((r for r in ex.routed if r.derived is derived), None)
            if routed is None:
                continue
            # The ledger names the indexed person, also one this very exchange added.
            routed.candidate = replace(
                routed.candidate, child_person_id=real(routed.candidate.child_person_id)
            )
            if routed.disclosure is None or routed.outbox_id is None:
                continue  # refused: not raised, considered again on the family's next change
            parent, child = real(flag.parent), real(flag.child)
            if not parent or not child:
                continue
            where = (
                think_family_flags.c.parent_id == parent,
                think_family_flags.c.child_id == child,
                think_family_flags.c.recipient_organisation == flag.recipient_organisation,
            )
            conn.execute(delete(think_family_flags).where(*where))
            conn.execute(
                insert(think_family_flags).values(
                    parent_id=parent,
                    child_id=child,
                    recipient_organisation=flag.recipient_organisation,
                    worker_sha256=flag.worker_sha256,
                    exchange_id=ex.exchange_id,
                    disclosure_id=routed.disclosure.disclosure_id,
                    raised_at=ex.received_at,
                )
            )

    return write


# -- a CIN census import --------------------------------------------------------------------------


class ImportFlags:
    """Think family for a CIN census import, which writes through ``index.learn`` without the
    pipeline: after each batch is committed, each of its children who has a parent in the index
    is looked at as an exchange would be, and its flags are decided, minimised, rendered and
    committed as an exchange of the imported child (no recipient of its own)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @classmethod
    def start(cls, settings: Settings, committer: GroupCommitter) -> ImportFlags:
        """The pipeline's dependencies, for the import's own committer."""
        agreements = load_agreements(settings.agreements_dir)
        reader = Reader(
            create_sync_engine_for(settings.database_url, schema=settings.database_schema), 1
        )
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        adapters = default_adapters(validate_fhir_models=settings.validate_fhir_models)
        return cls(Services(settings, engine, committer, reader, agreements, adapters))

    async def close(self) -> None:
        self.services.reader.close()
        await self.services.engine.dispose()

    async def after_batch(self, messages: list[CanonicalMessage], partner: PartnerSettings) -> int:
        """Raise the flags the batch's children call for; the number of children flagged."""
        at = datetime.now(UTC)

        def read(conn: Connection) -> list[tuple[CanonicalMessage, Snapshot, list[Flag]]]:
            keys = {
                k: m
                for m in messages
                for f in m.facts
                if isinstance(f, Person)
                for k in index.person_keys(f)
            }
            found = index.find_people(conn, list(keys))
            linked = {
                str(r[0])
                for r in conn.execute(
                    select(family_links.c.child_id).where(
                        family_links.c.child_id.in_(sorted(set(found.values())))
                    )
                )
            }
            todo = {id(keys[k]): keys[k] for k, pid in found.items() if pid in linked}
            out = []
            for message in todo.values():
                snapshot = index.read_snapshot(conn, message)
                plan = Plan(person_refs=_indexed(message, snapshot))
                state, pairs = state_after(conn, snapshot, plan, partner.id, at)
                flags = find_flags(
                    conn,
                    state,
                    pairs,
                    agreements=self.services.agreements,
                    at=at,
                    source_message_id=message.message_id,
                )
                if flags:
                    consents_for(conn, snapshot, message, plan, {f.parent for f in flags})
                    out.append((message, snapshot, flags))
            return out

        found = await self.services.reader.run(read)
        for message, snapshot, flags in found:
            try:
                await self._commit(message, snapshot, flags, partner, at)
            except Unavailable:
                # The child is imported; its flags are not raised (nothing of them is stored),
                # and are considered again when the family next changes in the index.
                log.error("think_family_import_flags_unrecorded", flags=len(flags))
        return len(found)

    async def _commit(
        self,
        message: CanonicalMessage,
        snapshot: Snapshot,
        flags: list[Flag],
        partner: PartnerSettings,
        at: datetime,
    ) -> None:
        from gateway.pipeline import (  # noqa: PLC0415 - the pipeline imports the workflows
            Exchange,
            commit,
            decide_all,
            minimise_all,
            render_all,
        )

        services = self.services
        ex = Exchange(
            partner=partner,
            adapter=next(iter(services.adapters.values())),  # never parses: the child is read
            body=orjson.dumps(message.model_dump(mode="json")),
            request_id=str(uuid.uuid4()),
            received_at=at,
        )
        ex.message = message
        ex.snapshot = snapshot
        ex.teaches = False
        ex.known = _indexed(message, snapshot)
        ex.no_recipient_reason = "a CIN census child is not forwarded: think-family flags only"
        add_flags(ex, flags, dict)
        for stage in (decide_all, minimise_all, render_all, commit):
            await stage(ex, services)


def _indexed(message: CanonicalMessage, snapshot: Snapshot) -> dict[str, str]:
    """Each person fact of ``message`` to the indexed person it matches (first key first)."""
    found: dict[str, str] = {}
    for fact in message.facts:
        if isinstance(fact, Person):
            match = next(
                (snapshot.by_key[k] for k in index.person_keys(fact) if k in snapshot.by_key),
                None,
            )
            if match is not None:
                found[fact.id] = match
    return found
