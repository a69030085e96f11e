"""What the review pages read: ``ledger_search`` and ``ledger_persons`` find entries, and the
entries themselves are always read back from ``ledger`` (the finding aid is never shown as
evidence).

Every function takes an async connection and returns plain values for the templates; none of them
writes. A "decision" is a ``disclosure.decided`` or ``lookup.decided`` entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.tables import (
    checkpoints,
    ledger,
    ledger_head,
    ledger_nodes,
    ledger_persons,
    ledger_search,
    person_identifiers,
    persons,
)

DECISION_EVENTS = ("disclosure.decided", "lookup.decided")
Outcome = Literal["any", "shared", "refused", "override"]
SEARCH_LIMIT = 200
_IN_CHUNK = 500  # values per IN (...) list, well under every driver's parameter limit


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """A search, already validated (see ``forms.py``)."""

    person_id: str | None = None
    partner: str | None = None
    purpose: str | None = None
    basis: str | None = None
    outcome: Outcome = "any"
    date_from: date | None = None
    date_to: date | None = None
    before: int | None = None  # show decisions older than this seq (the next page)


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision as the pages show it, read from its ledger entry."""

    seq: int
    at: datetime
    event: str
    exchange_id: str | None
    kind: str
    sender: str | None
    recipient: str | None
    recipient_organisation: str | None
    outcome: str
    reason_code: str
    explanation: str | None
    agreement_id: str | None
    agreement_version: int | None
    flow_id: str | None
    purpose: str | None
    lawful_basis: str | None
    consent_ref: str | None
    override_reason: str | None
    override_approver: str | None
    flagged: bool
    s16la_judgement: str | None
    disclosure_id: str | None
    disclosed: tuple[str, ...]
    withheld: tuple[tuple[str, str], ...]
    losses: tuple[str, ...]
    person_ids: tuple[str, ...]
    delivery: str | None = None  # the newest delivery attempt's outcome, where there was one

    @property
    def is_lookup(self) -> bool:
        return self.event == "lookup.decided"

    @property
    def shared(self) -> bool:
        return self.outcome == "permit"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery attempt."""

    seq: int
    at: datetime
    disclosure_id: str
    partner: str | None
    attempt: int
    outcome: str
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ExchangeView:
    """Everything the ledger holds about one exchange (no record content: there is none)."""

    exchange_id: str
    received: dict[str, Any] | None
    index_updates: list[dict[str, Any]]
    decisions: list[Decision]
    no_recipient: list[dict[str, Any]]
    deliveries: list[Delivery]
    seqs: list[int]
    entries: list[dict[str, Any]]

    @property
    def person_ids(self) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for entry in self.entries:
            for person in entry.get("person_ids") or ():
                found[str(person)] = None
        return tuple(found)


@dataclass(frozen=True, slots=True)
class Review:
    """An IG officer's review of a flagged decision."""

    seq: int
    at: datetime
    reviewed_seq: int
    reviewer: str
    comment: str


@dataclass(frozen=True, slots=True)
class OverrideQueue:
    pending: list[Decision]
    reviewed: list[tuple[Decision, Review]]


@dataclass(frozen=True, slots=True)
class LedgerStatus:
    entries: int
    tree_size: int
    checkpoint_size: int | None
    checkpoint_at: datetime | None
    last_verified: dict[str, Any] | None
    last_verified_seq: int | None


@dataclass(frozen=True, slots=True)
class PersonReport:
    person_id: str
    decisions: list[Decision]
    context: list[dict[str, Any]] = field(default_factory=list)  # the decisions' received entries
    deliveries: list[Delivery] = field(default_factory=list)


def _at(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def decision_from(entry: dict[str, Any]) -> Decision:
    """The page's view of a decision entry."""
    lookup = entry.get("event") == "lookup.decided"
    version = entry.get("agreement_version")
    return Decision(
        seq=int(entry["seq"]),
        at=_at(entry["at"]),
        event=str(entry["event"]),
        exchange_id=_str(entry.get("exchange_id")),
        kind=f"look-up: {entry.get('role')}" if lookup else str(entry.get("kind", "")),
        # A look-up is answered from the index, to the partner that asked.
        sender=None if lookup else _str(entry.get("partner")),
        recipient=_str(entry.get("partner")) if lookup else _str(entry.get("recipient_partner")),
        recipient_organisation=_str(entry.get("recipient_organisation")),
        outcome=str(entry.get("outcome", "")),
        reason_code=str(entry.get("reason_code", "")),
        explanation=_str(entry.get("explanation")),
        agreement_id=_str(entry.get("agreement_id")),
        agreement_version=int(version) if version is not None else None,
        flow_id=_str(entry.get("flow_id")),
        purpose=_str(entry.get("purpose")),
        lawful_basis=_str(entry.get("lawful_basis")),
        consent_ref=_str(entry.get("consent_ref")),
        override_reason=_str(entry.get("override_reason")),
        override_approver=_str(entry.get("override_approver")),
        flagged=bool(entry.get("flagged_for_review")),
        s16la_judgement=_str(entry.get("s16la_judgement")),
        disclosure_id=_str(entry.get("disclosure_id")),
        disclosed=tuple(str(d) for d in entry.get("disclosed") or ()),
        withheld=tuple(
            (str(w.get("element")), str(w.get("reason_code"))) for w in entry.get("withheld") or ()
        ),
        losses=tuple(str(x) for x in entry.get("losses") or ()),
        person_ids=tuple(str(p) for p in entry.get("person_ids") or ()),
    )


def _delivery_from(entry: dict[str, Any]) -> Delivery:
    status = entry.get("status_code")
    return Delivery(
        seq=int(entry["seq"]),
        at=_at(entry["at"]),
        disclosure_id=str(entry.get("disclosure_id", "")),
        partner=_str(entry.get("partner")),
        attempt=int(entry.get("attempt", 0)),
        outcome=str(entry.get("outcome", "")),
        status_code=int(status) if status is not None else None,
        error=_str(entry.get("error")),
    )


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


async def entries_by_seq(conn: AsyncConnection, seqs: Sequence[int]) -> list[dict[str, Any]]:
    """The ledger entries with these seqs, parsed, in the order of ``seqs``."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(list(dict.fromkeys(seqs))):
        rows = await conn.execute(
            select(ledger.c.seq, ledger.c.entry).where(ledger.c.seq.in_(chunk))
        )
        for seq, text in rows:
            document = orjson.loads(text)
            if isinstance(document, dict):
                found[int(seq)] = document
    return [found[s] for s in seqs if s in found]


async def person_for_key(conn: AsyncConnection, key: str) -> str | None:
    """The index's person id for an identifier key (``nhs:...``, ``la:...:...``), if any."""
    row = (
        await conn.execute(
            select(person_identifiers.c.person_id).where(person_identifiers.c.key == key)
        )
    ).first()
    return None if row is None else str(row[0])


async def person_known(conn: AsyncConnection, person_id: str) -> bool:
    """Whether the index or the ledger knows this person id."""
    for query in (
        select(persons.c.id).where(persons.c.id == person_id),
        select(ledger_persons.c.seq).where(ledger_persons.c.person_id == person_id).limit(1),
    ):
        if (await conn.execute(query)).first() is not None:
            return True
    return False


def _search_query(filters: SearchFilters, limit: int) -> Select[int]:
    query = select(ledger_search.c.seq).where(ledger_search.c.event.in_(DECISION_EVENTS))
    if filters.person_id is not None:
        query = query.join(ledger_persons, ledger_persons.c.seq == ledger_search.c.seq).where(
            ledger_persons.c.person_id == filters.person_id
        )
    if filters.partner is not None:
        query = query.where(
            or_(
                ledger_search.c.partner == filters.partner,
                ledger_search.c.recipient_partner == filters.partner,
            )
        )
    if filters.purpose is not None:
        query = query.where(ledger_search.c.purpose == filters.purpose)
    if filters.basis is not None:
        query = query.where(ledger_search.c.lawful_basis == filters.basis)
    if filters.outcome == "shared":
        query = query.where(ledger_search.c.outcome == "permit")
    elif filters.outcome == "refused":
        query = query.where(ledger_search.c.outcome == "refuse")
    elif filters.outcome == "override":
        query = query.where(ledger_search.c.flagged.is_(True))
    if filters.date_from is not None:
        query = query.where(ledger_search.c.at >= datetime.combine(filters.date_from, time(), UTC))
    if filters.date_to is not None:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), UTC)
        query = query.where(ledger_search.c.at < end)
    if filters.before is not None:
        query = query.where(ledger_search.c.seq < filters.before)
    return query.order_by(ledger_search.c.seq.desc()).limit(limit)


async def search(
    conn: AsyncConnection, filters: SearchFilters, limit: int | None = None
) -> tuple[list[Decision], int | None]:
    """Decisions matching ``filters``, newest first (``SEARCH_LIMIT`` at a time); and the seq to
    continue before, if there are more."""
    limit = SEARCH_LIMIT if limit is None else limit
    seqs = [int(r[0]) for r in await conn.execute(_search_query(filters, limit + 1))]
    more = len(seqs) > limit
    seqs = seqs[:limit]
    decisions = [decision_from(e) for e in await entries_by_seq(conn, seqs)]
    return decisions, (seqs[-1] if more and seqs else None)


async def _deliveries_for(conn: AsyncConnection, exchange_ids: Sequence[str]) -> list[Delivery]:
    seqs: list[int] = []
    for chunk in _chunks(list(dict.fromkeys(exchange_ids))):
        rows = await conn.execute(
            select(ledger_search.c.seq)
            .where(ledger_search.c.event == "delivery.attempted")
            .where(ledger_search.c.exchange_id.in_(chunk))
        )
        seqs.extend(int(r[0]) for r in rows)
    return [_delivery_from(e) for e in await entries_by_seq(conn, sorted(seqs))]


def _with_delivery(decisions: list[Decision], deliveries: list[Delivery]) -> list[Decision]:
    newest = {d.disclosure_id: d.outcome for d in sorted(deliveries, key=lambda d: d.seq)}
    return [
        replace(d, delivery=newest.get(d.disclosure_id)) if d.disclosure_id else d
        for d in decisions
    ]


async def exchange(conn: AsyncConnection, exchange_id: str) -> ExchangeView | None:
    """Every entry about one exchange, grouped; None if the ledger has none."""
    rows = await conn.execute(
        select(ledger_search.c.seq)
        .where(ledger_search.c.exchange_id == exchange_id)
        .order_by(ledger_search.c.seq)
    )
    seqs = [int(r[0]) for r in rows]
    if not seqs:
        return None
    entries = await entries_by_seq(conn, seqs)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_event.setdefault(str(entry.get("event")), []).append(entry)
    deliveries = [_delivery_from(e) for e in by_event.get("delivery.attempted", [])]
    decisions = [decision_from(e) for e in entries if e.get("event") in DECISION_EVENTS]
    received = by_event.get("exchange.received", [None])[0]
    return ExchangeView(
        exchange_id=exchange_id,
        received=received,
        index_updates=by_event.get("index.updated", []),
        decisions=_with_delivery(decisions, deliveries),
        no_recipient=by_event.get("exchange.no-recipient", []),
        deliveries=deliveries,
        seqs=seqs,
        entries=entries,
    )


async def person_report(conn: AsyncConnection, person_id: str) -> PersonReport:
    """Every decision naming ``person_id``, oldest first, with delivery outcomes."""
    rows = await conn.execute(
        select(ledger_persons.c.seq)
        .join(ledger_search, ledger_search.c.seq == ledger_persons.c.seq)
        .where(ledger_persons.c.person_id == person_id)
        .where(ledger_search.c.event.in_(DECISION_EVENTS))
        .order_by(ledger_persons.c.seq)
    )
    seqs = [int(r[0]) for r in rows]
    decisions = [decision_from(e) for e in await entries_by_seq(conn, seqs)]
    exchange_ids = [d.exchange_id for d in decisions if d.exchange_id]
    disclosures = {d.disclosure_id for d in decisions if d.disclosure_id}
    deliveries = [
        d for d in await _deliveries_for(conn, exchange_ids) if d.disclosure_id in disclosures
    ]
    context_seqs: list[int] = []
    for chunk in _chunks(list(dict.fromkeys(exchange_ids))):
        found = await conn.execute(
            select(ledger_search.c.seq)
            .where(ledger_search.c.event == "exchange.received")
            .where(ledger_search.c.exchange_id.in_(chunk))
        )
        context_seqs.extend(int(r[0]) for r in found)
    context = await entries_by_seq(conn, sorted(context_seqs))
    return PersonReport(person_id, _with_delivery(decisions, deliveries), context, deliveries)


async def override_queue(conn: AsyncConnection) -> OverrideQueue:
    """Flagged decisions not yet reviewed (oldest first), and those reviewed (newest first)."""
    flagged_seqs = [
        int(r[0])
        for r in await conn.execute(
            select(ledger_search.c.seq)
            .where(ledger_search.c.event == "disclosure.decided")
            .where(ledger_search.c.flagged.is_(True))
            .order_by(ledger_search.c.seq)
        )
    ]
    review_seqs = [
        int(r[0])
        for r in await conn.execute(
            select(ledger_search.c.seq)
            .where(ledger_search.c.event == "override.reviewed")
            .order_by(ledger_search.c.seq)
        )
    ]
    reviews: dict[int, Review] = {}
    for entry in await entries_by_seq(conn, review_seqs):
        review = Review(
            seq=int(entry["seq"]),
            at=_at(entry["at"]),
            reviewed_seq=int(entry["reviewed_seq"]),
            reviewer=str(entry.get("reviewer", "")),
            comment=str(entry.get("comment", "")),
        )
        reviews.setdefault(review.reviewed_seq, review)  # the first review stands
    decisions = [decision_from(e) for e in await entries_by_seq(conn, flagged_seqs)]
    pending = [d for d in decisions if d.seq not in reviews]
    reviewed = [(d, reviews[d.seq]) for d in reversed(decisions) if d.seq in reviews]
    return OverrideQueue(pending, reviewed)


async def flagged_decision(conn: AsyncConnection, seq: int) -> Decision | None:
    """The flagged ``disclosure.decided`` entry at ``seq``, if that is what it is."""
    entries = await entries_by_seq(conn, [seq])
    if not entries:
        return None
    entry = entries[0]
    if entry.get("event") != "disclosure.decided" or not entry.get("flagged_for_review"):
        return None
    return decision_from(entry)


async def already_reviewed(conn: AsyncConnection, seq: int) -> bool:
    """Whether an ``override.reviewed`` entry already names ``seq``."""
    review_seqs = [
        int(r[0])
        for r in await conn.execute(
            select(ledger_search.c.seq).where(ledger_search.c.event == "override.reviewed")
        )
    ]
    return any(
        int(e.get("reviewed_seq", -1)) == seq for e in await entries_by_seq(conn, review_seqs)
    )


async def ledger_status(conn: AsyncConnection) -> LedgerStatus:
    """The ledger's size, its tree's size, the newest checkpoint and the newest verification."""
    head = (await conn.execute(select(ledger_head.c.seq).where(ledger_head.c.id == 1))).first()
    leaves = (
        await conn.execute(select(func.max(ledger_nodes.c.idx)).where(ledger_nodes.c.level == 0))
    ).scalar_one()
    checkpoint = (
        await conn.execute(
            select(checkpoints.c.tree_size, checkpoints.c.created_at)
            .order_by(checkpoints.c.tree_size.desc())
            .limit(1)
        )
    ).first()
    verified_seq = (
        await conn.execute(
            select(func.max(ledger_search.c.seq)).where(ledger_search.c.event == "ledger.verified")
        )
    ).scalar_one()
    verified = None
    if verified_seq is not None:
        found = await entries_by_seq(conn, [int(verified_seq)])
        verified = found[0] if found else None
    return LedgerStatus(
        entries=int(head[0]) if head is not None else 0,
        tree_size=int(leaves) + 1 if leaves is not None else 0,
        checkpoint_size=int(checkpoint[0]) if checkpoint is not None else None,
        checkpoint_at=checkpoint[1] if checkpoint is not None else None,
        last_verified=verified,
        last_verified_seq=int(verified_seq) if verified_seq is not None else None,
    )


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID in its canonical lower-case form (as the gateway writes ids)."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
