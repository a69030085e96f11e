"""Group commit: many exchanges, one transaction, one fsync — each exchange still atomic.

Every exchange hands the committer a :class:`UnitOfWork`: its audit events and the writes that go
with them (index updates, outbox rows, the exchange record). One background task takes whatever
units are waiting, writes them all in one transaction that extends the ledger's hash chain, and
commits once. While that commit is on disk, new units queue up and form the next batch, so
durability costs one flush per batch rather than per request (the PostgreSQL and SQLite analogue
of a log's group commit).

If a batch fails, each of its units is retried alone, so one bad unit cannot sink its neighbours;
a unit that fails alone is refused with :class:`~gateway.errors.Unavailable` and left no trace.

The head row is read ``FOR UPDATE`` (PostgreSQL) or under ``BEGIN IMMEDIATE`` (SQLite), so several
gateway processes can share one ledger without forking the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit.chain import ChainHead, Entry, extend
from gateway.audit.events import AuditEvent
from gateway.errors import Unavailable
from gateway.store.tables import ledger, ledger_head

log = structlog.get_logger(__name__)

Write = Callable[[AsyncConnection], Awaitable[None]]


@dataclass
class UnitOfWork:
    """What one exchange commits: writes first, then its audit events, all or nothing."""

    # Built after the writes have run, so entries can name ids the writes assigned.
    events: Callable[[], list[AuditEvent]]
    writes: list[Write] = field(default_factory=list)


@dataclass
class _Pending:
    unit: UnitOfWork
    done: asyncio.Future[list[int]]


class GroupCommitter:
    """The single writer of the ledger within one process."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 512) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.units = 0

    async def start(self) -> None:
        """Start the background writer."""
        self._task = asyncio.create_task(self._run(), name="group-committer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def submit(self, unit: UnitOfWork) -> list[int]:
        """Commit ``unit``; return its ledger sequence numbers. Raises Unavailable on failure."""
        if self._task is None:
            raise Unavailable("the ledger writer is not running")
        done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(unit, done))
        return await done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit_batch(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        try:
            results = await self._write([p.unit for p in batch])
        except Exception as exc:  # noqa: BLE001 - any failure: retry each unit alone, then refuse
            if len(batch) == 1:
                log.error("ledger_commit_failed", error=type(exc).__name__)
                _fail(batch[0], exc)
                return
            for pending in batch:
                await self._commit_batch([pending])
            return
        self.batches += 1
        self.units += len(batch)
        for pending, seqs in zip(batch, results, strict=True):
            if not pending.done.done():
                pending.done.set_result(seqs)

    async def _write(self, units: list[UnitOfWork]) -> list[list[int]]:
        async with self._engine.connect() as raw:
            conn = await raw.execution_options(write=True)
            async with conn.begin():
                row = (
                    await conn.execute(
                        select(ledger_head.c.seq, ledger_head.c.entry_hash)
                        .where(ledger_head.c.id == 1)
                        .with_for_update()
                    )
                ).one()
                head = ChainHead(row[0], row[1])
                entries: list[Entry] = []
                results: list[list[int]] = []
                for unit in units:
                    for write in unit.writes:
                        await write(conn)
                    rows, head = extend(head, unit.events())
                    entries.extend(rows)
                    results.append([r.seq for r in rows])
                if entries:
                    await conn.execute(
                        insert(ledger),
                        [
                            {
                                "seq": e.seq,
                                "entry": e.entry,
                                "prev_hash": e.prev_hash,
                                "entry_hash": e.entry_hash,
                            }
                            for e in entries
                        ],
                    )
                    await conn.execute(
                        update(ledger_head)
                        .where(ledger_head.c.id == 1)
                        .values(seq=head.seq, entry_hash=head.entry_hash)
                    )
        return results


def _fail(pending: _Pending, exc: BaseException) -> None:
    if not pending.done.done():
        error = Unavailable("the audit ledger could not be written; nothing was committed")
        error.__cause__ = exc
        pending.done.set_exception(error)
