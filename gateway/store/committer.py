"""Group commit: many exchanges, one transaction, one fsync — each exchange still atomic.

Every exchange hands the committer a :class:`UnitOfWork`: its audit events, the rows that go with
them (the exchange record, outbox rows) and any writes that must read first (index updates). One
background task takes whatever units are waiting and hands the whole batch to a single writer
thread, which writes it in one transaction that extends the ledger's hash chain, one
``executemany`` per table, and commits once. While that commit is on disk, new units queue up and
form the next batch, so durability costs one flush per batch rather than per request (the
analogue of a log's group commit), and the event loop pays one hand-off per batch rather than
one round trip per statement.

If a batch fails, each of its units is retried alone, so one bad unit cannot sink its neighbours;
a unit that fails alone is refused with :class:`~gateway.errors.Unavailable` and left no trace.

The same transaction appends each entry to the ledger's Merkle tree (leaf = SHA-256(0x00 ‖ the
entry's canonical bytes exactly as stored); every node completed is inserted into
``ledger_nodes``) and writes the entry's search-index rows (``ledger_search``, ``ledger_persons``).
The tree's frontier is cached in memory keyed by tree size; when the head row's seq differs from
it (another process appended), it is reloaded from ``ledger_nodes`` in one query.

The head row is read ``FOR UPDATE`` (PostgreSQL) or under ``BEGIN IMMEDIATE`` (SQLite), so several
gateway processes can share one ledger without forking the chain or the tree.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, LargeBinary, Table, insert, select, update

from gateway.audit import merkle
from gateway.audit.chain import ChainHead, Entry, extend
from gateway.audit.events import AuditEvent
from gateway.audit.tree import event_getter, index_rows, load_frontier, node_rows
from gateway.errors import GatewayError, Unavailable
from gateway.store.tables import ledger, ledger_head, ledger_nodes, ledger_persons, ledger_search

log = structlog.get_logger(__name__)

Write = Callable[[Connection], None]


@dataclass
class UnitOfWork:
    """What one exchange commits, all or nothing: writes, rows, then its audit events."""

    # Built after the writes have run, so entries can name ids the writes assigned.
    events: Callable[[], list[AuditEvent]]
    writes: list[Write] = field(default_factory=list)  # run in the writer thread, in order
    rows: list[tuple[Table, dict[str, Any]]] = field(default_factory=list)  # plain inserts


# Set for the length of one request (gateway/idempotency.py): called with every unit that request
# submits, so the request's Idempotency-Key row can commit in the same transaction as its exchange.
UNIT_HOOK: ContextVar[Callable[[UnitOfWork], None] | None] = ContextVar("unit_hook", default=None)


@dataclass
class _Pending:
    unit: UnitOfWork
    done: asyncio.Future[list[int]]


class GroupCommitter:
    """The single writer of the ledger within one process."""

    def __init__(self, engine: Engine, *, max_batch: int = 512) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-writer")
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # The tree's frontier after the last commit this process made: (size, frontier hashes).
        # Touched only by the writer thread.
        self._tree: tuple[int, list[bytes]] | None = None
        self._listeners: list[Callable[[int], None]] = []
        self.batches = 0
        self.units = 0
        self.frontier_reloads = 0

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
        self._thread.shutdown(wait=True)

    def on_commit(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(tree_size)`` in the event loop after each batch commits."""
        self._listeners.append(listener)

    async def submit(self, unit: UnitOfWork) -> list[int]:
        """Commit ``unit``; return its ledger sequence numbers. Raises Unavailable on failure."""
        if self._task is None:
            raise Unavailable("the ledger writer is not running")
        hook = UNIT_HOOK.get()
        if hook is not None:
            hook(unit)
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
            except Exception as exc:  # noqa: BLE001 - never leave a request waiting for ever
                # Whatever failed (even the log line about a failure), every unit of the batch
                # not answered yet is refused, and the writer carries on.
                for pending in batch:
                    _fail(pending, exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        try:
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(self._thread, self._write, [p.unit for p in batch])
        except Exception as exc:  # noqa: BLE001 - any failure: retry each unit alone, then refuse
            if len(batch) == 1:
                if isinstance(exc, GatewayError) and exc.status < 500:
                    log.info("unit_refused", error=type(exc).__name__)
                else:
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
        if self._tree is not None:
            for listener in self._listeners:
                listener(self._tree[0])

    def _frontier(self, conn: Connection, size: int) -> list[bytes]:
        """The tree's frontier at ``size``: cached, or reloaded if another process appended."""
        if self._tree is not None and self._tree[0] == size:
            return self._tree[1]
        self.frontier_reloads += 1
        return load_frontier(conn, size)

    def _write(self, units: list[UnitOfWork]) -> list[list[int]]:
        """One transaction for the whole batch (runs in the writer thread)."""
        with self._engine.connect() as raw:
            conn = raw.execution_options(write=True)
            with conn.begin():
                row = conn.execute(
                    select(ledger_head.c.seq, ledger_head.c.entry_hash)
                    .where(ledger_head.c.id == 1)
                    .with_for_update()
                ).one()
                head = ChainHead(row[0], row[1])
                size = head.seq
                frontier = self._frontier(conn, size)
                entries: list[Entry] = []
                results: list[list[int]] = []
                by_table: dict[Table, list[dict[str, Any]]] = defaultdict(list)
                searches: list[dict[str, Any]] = []
                persons: list[dict[str, Any]] = []
                for unit in units:
                    for write in unit.writes:
                        write(conn)
                    for table, values in unit.rows:
                        by_table[table].append(values)
                    events = unit.events()
                    rows, head = extend(head, events)
                    for entry, event in zip(rows, events, strict=True):
                        search, named = index_rows(entry.seq, event_getter(event))
                        searches.append(search)
                        persons.extend(named)
                    entries.extend(rows)
                    results.append([r.seq for r in rows])
                for table, values_list in by_table.items():
                    conn.execute(insert(table), values_list)
                tree = (size, frontier)
                if entries:
                    _insert_many(
                        conn,
                        ledger,
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
                    # The leaf is the entry's bytes exactly as stored (its UTF-8 text).
                    appended = merkle.append(
                        size, frontier, [merkle.leaf_hash(e.entry.encode()) for e in entries]
                    )
                    _insert_many(conn, ledger_nodes, node_rows(appended.nodes))
                    _insert_many(conn, ledger_search, searches)
                    if persons:
                        _insert_many(conn, ledger_persons, persons)
                    conn.execute(
                        update(ledger_head)
                        .where(ledger_head.c.id == 1)
                        .values(seq=head.seq, entry_hash=head.entry_hash)
                    )
                    tree = (appended.size, appended.frontier)
        # Only once committed: a failed batch must leave the cache as the database is.
        self._tree = tree
        return results


_Processor = Callable[[Any], Any]
_INSERTS: dict[tuple[str, str], tuple[str, bool, list[tuple[str, _Processor | None]]]] = {}


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """``INSERT`` many rows of the ledger's own tables with one ``executemany``.

    The statement SQLAlchemy compiles for ``insert(table)``, with each column's own bind
    processing, but without SQLAlchemy building every row's parameters afresh through its general
    machinery: for the five rows or so each entry brings, that bookkeeping had cost more than the
    database's own work. (Binary values go as ``bytes``, which both drivers take as they are.)
    """
    dialect = conn.dialect
    key = (dialect.name, table.name)
    if key not in _INSERTS:
        compiled = insert(table).compile(dialect=dialect)
        names = list(compiled.positiontup or []) if compiled.positional else []
        names = names or [c.name for c in table.columns]
        columns: list[tuple[str, _Processor | None]] = [
            (
                name,
                None
                if isinstance(table.c[name].type, LargeBinary)
                # The dialect's own type (SQLite's DATETIME stores a fixed text form), as
                # SQLAlchemy itself would bind it.
                else table.c[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in names
        ]
        _INSERTS[key] = (str(compiled), bool(compiled.positional), columns)
    sql, positional, columns = _INSERTS[key]
    if positional:
        conn.exec_driver_sql(
            sql,
            [tuple(row.get(n) if p is None else p(row.get(n)) for n, p in columns) for row in rows],
        )
    else:
        conn.exec_driver_sql(
            sql,
            [{n: row.get(n) if p is None else p(row.get(n)) for n, p in columns} for row in rows],
        )


def _fail(pending: _Pending, exc: BaseException) -> None:
    if pending.done.done():
        return
    if isinstance(exc, GatewayError) and exc.status < 500:
        # The unit itself was refused (an idempotency key another request stored first):
        # nothing of it was committed, and the caller gets the reason.
        pending.done.set_exception(exc)
        return
    error = Unavailable("the audit ledger could not be written; nothing was committed")
    error.__cause__ = exc
    pending.done.set_exception(error)
