"""Reading ledger entries for an export, and recording that they were exported.

``select_entries`` finds entries by UTC time window (``ledger_search``) and person
(``ledger_persons``) and reads them from ``ledger`` itself, checking each row against its own
hash. ``export`` renders them (FHIR or CSV) and records the export as ``record.viewed`` entries
through the group committer; if that record cannot be made, nothing is returned.
"""

from __future__ import annotations

import contextlib
import gc
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.chain import chain_hash
from gateway.audit.events import AuditEvent, RecordViewed
from gateway.audit.export_csv import audit_csv
from gateway.audit.export_fhir import audit_bundle
from gateway.settings import Settings
from gateway.store import migrate
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.tables import ledger, ledger_persons, ledger_search

BATCH = 2000
IN_CHUNK = 500  # ids per IN (...) list
PEOPLE_PER_ENTRY = 500  # person ids per record.viewed entry (one export may need several)
SEQS_LISTED = 500  # an export of more entries than this records the people, not every seq


class RowBroken(Exception):
    """A ledger row does not match its own hash."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"ledger entry {seq} {reason}")
        self.seq = seq


@dataclass
class Selection:
    """The entries an export holds, and those it reads only to describe them."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    context: list[dict[str, Any]] = field(default_factory=list)


def _checked(row: Any) -> dict[str, Any]:
    seq, entry, prev_hash, entry_hash = row[0], row[1], row[2], row[3]
    if chain_hash(prev_hash, entry.encode()) != entry_hash:
        raise RowBroken(seq, "does not match its hash: run `joinedup audit verify`")
    document: dict[str, Any] = orjson.loads(entry)
    if document.get("seq") != seq:
        raise RowBroken(seq, "names another seq: run `joinedup audit verify`")
    return document


async def _read(conn: AsyncConnection, seqs: Select[Any] | None) -> list[dict[str, Any]]:
    """Ledger rows whose seq ``seqs`` selects (all when None), in order, each checked."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        query = select(ledger.c.seq, ledger.c.entry, ledger.c.prev_hash, ledger.c.entry_hash)
        if seqs is not None:
            query = query.where(ledger.c.seq.in_(seqs.scalar_subquery()))
        rows = (
            await conn.execute(
                query.where(ledger.c.seq > after).order_by(ledger.c.seq).limit(BATCH)
            )
        ).all()
        if not rows:
            return out
        out.extend(_checked(r) for r in rows)
        after = rows[-1][0]


def _chunks(values: Iterable[str], size: int = IN_CHUNK) -> Iterable[list[str]]:
    chunk: list[str] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _window(query: Select[Any], start: datetime | None, end: datetime | None) -> Select[Any]:
    if start is not None:
        query = query.where(ledger_search.c.at >= start)
    if end is not None:
        query = query.where(ledger_search.c.at < end)
    return query


async def select_entries(
    conn: AsyncConnection,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    person: str | None = None,
) -> Selection:
    """The entries stamped in [start, end) that name ``person`` (any filter may be absent), plus:
    for a person, the delivery attempts of the disclosures about them (deliveries name no
    person); as context, the ``exchange.received`` entries of the exchanges involved."""
    selection = Selection()
    if start is None and end is None and person is None:
        selection.entries = await _read(conn, None)
    else:
        seqs = _window(select(ledger_search.c.seq), start, end)
        if person is not None:
            seqs = seqs.where(
                ledger_search.c.seq.in_(
                    select(ledger_persons.c.seq).where(ledger_persons.c.person_id == person)
                )
            )
        selection.entries = await _read(conn, seqs)
    have = {e["seq"] for e in selection.entries}
    exchanges = sorted({e["exchange_id"] for e in selection.entries if e.get("exchange_id")})
    disclosures = {
        e["disclosure_id"]
        for e in selection.entries
        if e.get("event") == "disclosure.decided" and e.get("disclosure_id")
    }
    extra: list[dict[str, Any]] = []
    for chunk in _chunks(exchanges):
        events = ["exchange.received"] + (["delivery.attempted"] if person is not None else [])
        seqs = select(ledger_search.c.seq).where(
            ledger_search.c.exchange_id.in_(chunk), ledger_search.c.event.in_(events)
        )
        if person is not None:
            seqs = _window(seqs, start, end)
        extra.extend(e for e in await _read(conn, seqs) if e["seq"] not in have)
    for entry in extra:
        if entry["event"] == "delivery.attempted" and entry["disclosure_id"] in disclosures:
            selection.entries.append(entry)
        elif entry["event"] == "exchange.received":
            selection.context.append(entry)
    selection.entries.sort(key=lambda e: int(e["seq"]))
    return selection


def view_events(entries: Sequence[dict[str, Any]], person: str | None) -> list[AuditEvent]:
    """The ``record.viewed`` entries recording an export: the people in chunks."""
    if person is not None:
        people = [person]
    else:
        people = sorted({p for e in entries for p in e.get("person_ids") or ()})
    seqs = tuple(int(e["seq"]) for e in entries) if len(entries) <= SEQS_LISTED else ()
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    chunks = list(_chunks(people, PEOPLE_PER_ENTRY)) or [[]]
    return [
        RecordViewed(
            at=now,
            request_id=request_id,
            viewer="cli",
            role="cli",
            view="export",
            person_ids=tuple(chunk),
            seqs=seqs if i == 0 else (),
        )
        for i, chunk in enumerate(chunks)
    ]


async def record(settings: Settings, events: list[AuditEvent]) -> list[int]:
    """Commit ``events`` through a group committer of the settings' database."""

    writer = create_sync_engine_for(settings.database_url, schema=settings.database_schema)
    committer = GroupCommitter(writer, max_batch=settings.commit_max_batch)
    await committer.start()
    try:
        return await committer.submit(UnitOfWork(events=lambda: list(events)))
    finally:
        await committer.stop()
        writer.dispose()


async def migrated_engine(settings: Settings) -> AsyncEngine:

    engine = create_engine(settings.database_url, schema=settings.database_schema)
    if settings.auto_migrate:
        await migrate.upgrade(engine)
    return engine


def render(kind: str, selection: Selection, *, gateway_name: str) -> bytes:
    """The export's bytes: CSV, or the FHIR Bundle as compact JSON (an indented Bundle of
    100,000 entries measured 825 MB)."""
    if kind == "csv":
        return audit_csv(selection.entries).encode()
    bundle = audit_bundle(selection.entries, gateway_name=gateway_name, context=selection.context)
    return orjson.dumps(bundle) + b"\n"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (for a command running in its own process).

    Reading and rendering an export allocate many small, acyclic objects that all live until it
    ends, so meanwhile the collector only costs time: measured on 100,000 entries, more than the
    work itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def export(
    settings: Settings,
    kind: str,
    *,
    start: date | None = None,
    end: date | None = None,
    person: str | None = None,
) -> tuple[bytes, int, list[int]]:
    """The export's bytes, how many entries it holds, and the seqs of its ``record.viewed``
    (for the CLI: the garbage collector is paused while the entries are read and rendered)."""
    low = datetime.combine(start, datetime.min.time(), tzinfo=UTC) if start else None
    high = (
        datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC) if end else None
    )
    engine = await migrated_engine(settings)
    try:
        with gc_paused():
            async with engine.connect() as conn:
                selection = await select_entries(conn, start=low, end=high, person=person)
            body = render(kind, selection, gateway_name=settings.ledger.origin)
    finally:
        await engine.dispose()
    seqs = await record(settings, view_events(selection.entries, person))
    return body, len(selection.entries), seqs
