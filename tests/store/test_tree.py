"""The Merkle tree and search index written by the group committer, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import merkle
from gateway.audit.chain import ChainHead, extend
from gateway.audit.events import AuditEvent, DisclosureDecided, IndexUpdated
from gateway.audit.verify import verify_ledger
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.migrate import upgrade
from gateway.store.tables import ledger, ledger_head, ledger_nodes, ledger_persons, ledger_search
from tests.conftest import Database

PEOPLE = ("0b8f5f3e-3c1c-4a55-9d7e-5f0a0e0e0001", "0b8f5f3e-3c1c-4a55-9d7e-5f0a0e0e0002")


def _event(n: int = 0) -> AuditEvent:
    return IndexUpdated(
        at=datetime.now(UTC), persons=n, identifiers=0, family_links=0, worker_roles=0
    )


def _unit(*events: AuditEvent) -> UnitOfWork:
    return UnitOfWork(events=lambda: list(events))


async def _leaves(engine: AsyncEngine) -> tuple[list[bytes], list[bytes]]:
    """The stored leaf hashes, and the leaf hashes of the stored entries' bytes."""
    async with engine.connect() as conn:
        stored = await conn.execute(
            select(ledger_nodes.c.hash)
            .where(ledger_nodes.c.level == 0)
            .order_by(ledger_nodes.c.idx)
        )
        entries = await conn.execute(select(ledger.c.entry).order_by(ledger.c.seq))
        return [bytes(r[0]) for r in stored], [merkle.leaf_hash(r[0].encode()) for r in entries]


async def test_two_processes_share_one_tree(database: Database, engine: AsyncEngine) -> None:
    """Two committers (two gateway processes) interleave: each reloads the frontier when the other
    has appended, the leaves are the entries' bytes, every node is stored, nothing forks."""
    engines = [create_sync_engine_for(database.url, schema=database.schema) for _ in range(2)]
    first, second = GroupCommitter(engines[0], max_batch=7), GroupCommitter(engines[1], max_batch=5)
    await first.start()
    await second.start()
    try:
        for i in range(10):  # strictly alternating: each must pick up the other's appends
            await first.submit(_unit(_event(i)))
            await second.submit(_unit(_event(i), _event(i)))
        await asyncio.gather(  # and all at once: they serialise on the head row, never fork
            *(c.submit(_unit(_event(i), _event(i))) for i in range(45) for c in (first, second))
        )
    finally:
        await first.stop()
        await second.stop()
        for e in engines:
            e.dispose()
    assert first.frontier_reloads >= 10
    assert second.frontier_reloads >= 10
    stored, computed = await _leaves(engine)
    assert computed == stored
    assert 30 + 180 == len(stored)
    async with engine.connect() as conn:
        nodes = (await conn.execute(select(func.count()).select_from(ledger_nodes))).scalar_one()
        verdict = await verify_ledger(conn)
    assert len(merkle.append(0, [], computed).nodes) == nodes
    assert (True, 210) == (verdict.intact, verdict.entries)


async def test_search_and_person_rows_come_from_the_event(
    database: Database, engine: AsyncEngine
) -> None:
    """One ledger_search row per entry, its fields taken from the event where it has them; one
    ledger_persons row per distinct person an entry names."""
    decided = DisclosureDecided(
        at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        request_id="5b7c4a36-7c7e-4b8e-8a64-4b9d6a0c0001",
        exchange_id="5b7c4a36-7c7e-4b8e-8a64-4b9d6a0c0002",
        partner="trust-demo",
        outcome="permit",
        reason_code="override-permits",
        explanation="an urgent override",
        kind="crisis-event",
        recipient_partner="council-demo",
        recipient_organisation="999",
        agreement_id="demo-trust-council",
        agreement_version=1,
        purpose="safeguarding",
        lawful_basis="art6(1)(e)",
        override_reason="imminent-risk-to-child",
        flagged_for_review=True,
        person_ids=(PEOPLE[0], PEOPLE[1], PEOPLE[0]),
    )
    writer = create_sync_engine_for(database.url, schema=database.schema)
    committer = GroupCommitter(writer)
    await committer.start()
    try:
        seqs = await committer.submit(_unit(_event(), decided))
    finally:
        await committer.stop()
        writer.dispose()
    async with engine.connect() as conn:
        rows = (await conn.execute(select(ledger_search).order_by(ledger_search.c.seq))).all()
        people = (
            await conn.execute(select(ledger_persons).order_by(ledger_persons.c.person_id))
        ).all()
    assert seqs == [r.seq for r in rows]
    plain, row = rows
    assert ("index.updated", None, None, False) == (
        plain.event,
        plain.exchange_id,
        plain.outcome,
        plain.flagged,
    )
    assert {
        "seq": seqs[1],
        "at": decided.at,
        "event": "disclosure.decided",
        "exchange_id": decided.exchange_id,
        "request_id": decided.request_id,
        "partner": "trust-demo",
        "recipient_partner": "council-demo",
        "agreement_id": "demo-trust-council",
        "purpose": "safeguarding",
        "lawful_basis": "art6(1)(e)",
        "outcome": "permit",
        "reason_code": "override-permits",
        "override_reason": "imminent-risk-to-child",
        "flagged": True,
    } == dict(row._mapping)
    assert [(PEOPLE[0], seqs[1]), (PEOPLE[1], seqs[1])] == [tuple(p) for p in people]
    # Stored as SQLAlchemy stores timestamps, so that comparisons in SQL find it.
    async with engine.connect() as conn:
        found = await conn.execute(
            select(ledger_search.c.seq).where(
                ledger_search.c.at >= decided.at, ledger_search.c.at <= decided.at
            )
        )
        assert [seqs[1]] == [r[0] for r in found]


async def test_older_ledgers_are_backfilled_by_migration_0005(
    database: Database,
) -> None:
    """A ledger written before the tree existed (revision 0004, chain only) gets its tree and
    search rows from migration 0005, verifies, and the committer appends to it."""
    engine = create_engine(database.url, schema=database.schema)
    try:
        await upgrade(engine, "0004")
        rows, head = extend(ChainHead(0, "0" * 64), [_event(i) for i in range(37)])
        async with engine.begin() as conn:
            await conn.execute(
                insert(ledger),
                [
                    {
                        "seq": r.seq,
                        "entry": r.entry,
                        "prev_hash": r.prev_hash,
                        "entry_hash": r.entry_hash,
                    }
                    for r in rows
                ],
            )
            await conn.execute(update(ledger_head).values(seq=head.seq, entry_hash=head.entry_hash))
        await upgrade(engine)
        writer = create_sync_engine_for(database.url, schema=database.schema)
        committer = GroupCommitter(writer)
        await committer.start()
        try:
            assert [38] == await committer.submit(_unit(_event()))
        finally:
            await committer.stop()
            writer.dispose()
        stored, computed = await _leaves(engine)
        assert computed == stored
        async with engine.connect() as conn:
            indexed = (
                await conn.execute(select(func.count()).select_from(ledger_search))
            ).scalar_one()
            verdict = await verify_ledger(conn)
        assert (38, True, 38) == (indexed, verdict.intact, verdict.entries)
    finally:
        await engine.dispose()
