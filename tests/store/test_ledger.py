"""The hash-chained ledger and the group committer, on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.chain import chain_hash
from gateway.audit.events import AuditEvent, IndexUpdated
from gateway.audit.verify import verify_ledger
from gateway.errors import Unavailable
from gateway.store import committer as committer_module
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_sync_engine_for
from gateway.store.tables import exchanges, ledger, ledger_head
from tests.conftest import Database


def _event(n: int = 0) -> AuditEvent:
    return IndexUpdated(
        at=datetime.now(UTC), persons=n, identifiers=0, family_links=0, worker_roles=0
    )


def _unit(*events: AuditEvent) -> UnitOfWork:
    return UnitOfWork(events=lambda: list(events))


async def _verdict(engine: AsyncEngine) -> tuple[bool, int | None, int]:
    async with engine.connect() as conn:
        v = await verify_ledger(conn)
    return v.intact, v.first_bad_seq, v.entries


async def _fill(committer: GroupCommitter, count: int) -> None:
    await asyncio.gather(*(committer.submit(_unit(_event(i))) for i in range(count)))


async def _execute(engine: AsyncEngine, statement: object) -> None:
    async with engine.begin() as conn:
        await conn.execute(statement)  # type: ignore[call-overload]


async def test_concurrent_submits_form_one_gap_free_chain(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    """Hundreds of concurrent units get distinct, consecutive sequence numbers and verify intact."""
    results = await asyncio.gather(
        *(committer.submit(_unit(_event(i), _event(i))) for i in range(300))
    )
    seqs = sorted(s for r in results for s in r)
    assert list(range(1, 601)) == seqs
    assert (True, None, 600) == await _verdict(engine)
    assert committer.batches < 300  # grouped: fewer transactions than units


async def test_two_committers_on_one_database_do_not_fork(
    database: Database, engine: AsyncEngine
) -> None:
    """Two writers (as two gateway processes would be) interleave without forking the chain."""
    one = create_sync_engine_for(database.url, schema=database.schema)
    other = create_sync_engine_for(database.url, schema=database.schema)
    first, second = GroupCommitter(one, max_batch=7), GroupCommitter(other, max_batch=5)
    await first.start()
    await second.start()
    try:
        await asyncio.gather(
            *(c.submit(_unit(_event(i))) for i in range(100) for c in (first, second))
        )
    finally:
        await first.stop()
        await second.stop()
        one.dispose()
        other.dispose()
    assert (True, None, 200) == await _verdict(engine)


async def test_empty_ledger_verifies(engine: AsyncEngine) -> None:
    """A new ledger is intact with no entries."""
    assert (True, None, 0) == await _verdict(engine)


async def test_edited_entry_is_named(engine: AsyncEngine, committer: GroupCommitter) -> None:
    """Editing one field of entry 5 is caught at entry 5."""
    await _fill(committer, 10)
    async with engine.connect() as conn:
        entry = (await conn.execute(select(ledger.c.entry).where(ledger.c.seq == 5))).scalar_one()
    edited = entry.replace('"persons":', '"persons":1', 1)
    await _execute(engine, update(ledger).where(ledger.c.seq == 5).values(entry=edited))
    assert (False, 5, 4) == await _verdict(engine)


async def test_edited_entry_with_recomputed_hash_is_caught_by_the_tree(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    """An edit whose own hash is recomputed breaks the link from the next entry, but the tree's
    stored leaf for the edited entry already disagrees: it is named first."""
    await _fill(committer, 10)
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(ledger.c.entry, ledger.c.prev_hash).where(ledger.c.seq == 5))
        ).one()
    edited = row[0].replace('"partner":null', '"partner":"x"')
    await _execute(
        engine,
        update(ledger)
        .where(ledger.c.seq == 5)
        .values(entry=edited, entry_hash=chain_hash(row[1], edited.encode())),
    )
    assert (False, 5, 4) == await _verdict(engine)
    async with engine.connect() as conn:
        reason = (await verify_ledger(conn)).reason
    assert reason is not None
    assert "tree node (level 0, seqs 5-5) does not match the entries" in reason


async def test_deleted_entry_is_named(engine: AsyncEngine, committer: GroupCommitter) -> None:
    """Deleting entry 4 is caught at entry 4."""
    await _fill(committer, 10)
    await _execute(engine, ledger.delete().where(ledger.c.seq == 4))
    assert (False, 4, 3) == await _verdict(engine)


async def test_inserted_entry_is_named(engine: AsyncEngine, committer: GroupCommitter) -> None:
    """An entry inserted after the last one, without moving the head, is caught."""
    await _fill(committer, 3)
    async with engine.connect() as conn:
        last = (await conn.execute(select(ledger).where(ledger.c.seq == 3))).one()
    await _execute(
        engine,
        insert(ledger).values(
            seq=4, entry=last.entry, prev_hash=last.entry_hash, entry_hash=last.entry_hash
        ),
    )
    intact, bad, _ = await _verdict(engine)
    assert (False, 4) == (intact, bad)


async def test_reordered_entries_are_named(engine: AsyncEngine, committer: GroupCommitter) -> None:
    """Swapping the contents of entries 6 and 7 is caught at entry 6."""
    await _fill(committer, 10)
    async with engine.connect() as conn:
        six, seven = (
            await conn.execute(
                select(ledger).where(ledger.c.seq.in_([6, 7])).order_by(ledger.c.seq)
            )
        ).all()
    for seq, source in ((6, seven), (7, six)):
        await _execute(
            engine,
            update(ledger)
            .where(ledger.c.seq == seq)
            .values(entry=source.entry, prev_hash=source.prev_hash, entry_hash=source.entry_hash),
        )
    assert (False, 6, 5) == await _verdict(engine)


async def test_deleted_last_entry_is_caught_by_the_head(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    """Deleting the newest entry leaves the head pointing past the end: caught."""
    await _fill(committer, 5)
    await _execute(engine, ledger.delete().where(ledger.c.seq == 5))
    assert (False, 5, 4) == await _verdict(engine)


async def _deny_ledger_writes(conn: AsyncConnection, backend: str) -> None:
    if backend == "sqlite":
        await conn.execute(
            text("CREATE TRIGGER deny BEFORE INSERT ON ledger BEGIN SELECT RAISE(ABORT, 'no'); END")
        )
    else:
        await conn.execute(
            text(
                "CREATE FUNCTION deny() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no'; END $$ "
                "LANGUAGE plpgsql"
            )
        )
        await conn.execute(
            text("CREATE TRIGGER deny BEFORE INSERT ON ledger FOR EACH ROW EXECUTE FUNCTION deny()")
        )


async def test_unwritable_ledger_refuses_and_commits_nothing(
    database: Database, engine: AsyncEngine, committer: GroupCommitter
) -> None:
    """If the ledger cannot be written the unit fails with Unavailable and its other writes vanish."""
    async with engine.begin() as conn:
        await _deny_ledger_writes(conn, database.backend)

    def record_exchange(conn: Connection) -> None:
        conn.execute(
            insert(exchanges).values(
                id="e1",
                request_id="r1",
                partner="p",
                kind="k",
                received_at=datetime.now(UTC),
                summary="{}",
            )
        )

    with pytest.raises(Unavailable):
        await committer.submit(UnitOfWork(events=lambda: [_event()], writes=[record_exchange]))
    async with engine.connect() as conn:
        assert 0 == (await conn.execute(select(func.count()).select_from(exchanges))).scalar_one()
        assert 0 == (await conn.execute(select(ledger_head.c.seq))).scalar_one()


async def test_a_failing_unit_does_not_sink_its_batch(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    """A unit whose write fails is refused alone; the units batched with it commit."""

    def duplicate(conn: Connection) -> None:
        row = {
            "id": "same",
            "request_id": "r",
            "partner": "p",
            "kind": "k",
            "received_at": datetime.now(UTC),
            "summary": "{}",
        }
        conn.execute(insert(exchanges).values(**row))
        conn.execute(insert(exchanges).values(**row))

    good = [committer.submit(_unit(_event(i))) for i in range(20)]
    bad = committer.submit(UnitOfWork(events=lambda: [_event()], writes=[duplicate]))
    results = await asyncio.gather(*good, bad, return_exceptions=True)
    assert isinstance(results[-1], Unavailable)
    assert all(isinstance(r, list) for r in results[:-1])
    assert (True, None, 20) == await _verdict(engine)


async def test_verifying_while_entries_are_committed_never_cries_tamper(
    engine: AsyncEngine, committer: GroupCommitter
) -> None:
    """Verification reads one snapshot: entries committed while it walks the ledger (in small
    batches, so that it takes many statements) are simply not in that snapshot, and it finds
    the ledger intact every time."""
    await _fill(committer, 50)
    stop = asyncio.Event()

    async def keep_committing() -> int:
        written = 0
        while not stop.is_set():
            await committer.submit(_unit(_event(written)))
            written += 1
        return written

    writer = asyncio.create_task(keep_committing())
    try:
        for _ in range(5):
            async with engine.connect() as conn:
                verdict = await verify_ledger(conn, batch=3)
            assert (True, None) == (verdict.intact, verdict.first_bad_seq), verdict.reason
            assert verdict.entries >= 50
            await asyncio.sleep(0)
    finally:
        stop.set()
        assert 0 < await writer


async def test_a_failure_in_the_failure_path_still_answers_every_unit(
    committer: GroupCommitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when handling a failed commit fails too (its log line cannot be written, say, to a
    closed stream), every waiting unit is refused and the writer carries on: no request waits
    for ever."""

    class ClosedLog:
        def error(self, *_args: object, **_kwargs: object) -> None:
            raise ValueError("I/O operation on closed file")

        info = error

    def failing(_units: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(committer_module, "log", ClosedLog())
    monkeypatch.setattr(committer, "_write", failing)
    with pytest.raises(Unavailable):
        await asyncio.wait_for(committer.submit(_unit(_event())), 5)
    monkeypatch.undo()
    assert [1] == await asyncio.wait_for(committer.submit(_unit(_event())), 5)
