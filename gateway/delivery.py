"""The outbox worker: posts each rendered disclosure to its recipient, at least once, in order.

Rows are claimed with a lease (``lease_until``), and on PostgreSQL with ``FOR UPDATE SKIP
LOCKED``, so several gateway processes share one outbox without double sending while a lease
holds. Every delivery carries ``Idempotency-Key`` (the outbox id) so a retried delivery that the
partner already processed can be recognised. Failures back off exponentially, capped, with full
jitter; after ``max_attempts`` a row is dead-lettered (its body kept for an audited replay).
Each attempt is audited; a delivered body is purged.

**Order.** Rows with the same ``ordering_key`` (``<recipient partner>:<person id>``) are sent one
at a time, oldest first: a row is not claimed while an older row with its key is undelivered,
whether pending, leased, waiting to retry or **dead**. A dead letter therefore holds back every
later delivery about that person to that recipient until an operator replays it (as NHS
messaging does: later messages must not overtake one that failed); it shows in ``/_status``, in
``/metrics`` and on the review pages' dead-letter list. Rows without a key are unordered.

**Sealed bodies.** Bodies are stored sealed (``gateway/store/sealing.py``); the worker opens each
just before sending it. A body that does not open (unknown key, a body moved from another row, a
row re-pointed at another partner, altered bytes, or a plaintext row while ``open_plaintext`` is
off) is dead-lettered at once as ``unsealable`` and nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
import structlog
from sqlalchemy import Connection, and_, exists, func, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.events import DeliveryAttempted, DeliveryReplayed
from gateway.metrics import Backlog, Metrics
from gateway.services import Services
from gateway.store.committer import UnitOfWork
from gateway.store.sealing import Unsealable
from gateway.store.tables import exchanges, outbox

log = structlog.get_logger(__name__)

UNSEALABLE = "unsealable"
Outcome = Literal["delivered", "retry", "dead"]


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds before the next attempt: capped exponential backoff with full jitter."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True, slots=True)
class Claimed:
    """One outbox row leased to this worker (its body still sealed)."""

    id: str
    exchange_id: str
    disclosure_id: str
    partner: str
    request_id: str
    content_type: str
    body: bytes | None
    attempts: int
    body_key_id: str | None = None
    body_sha256: str | None = None
    ordering_key: str | None = None
    created_at: datetime | None = None


# What a claim reads of each row (the fields of Claimed, in order).
_CLAIMED = (
    outbox.c.id,
    outbox.c.exchange_id,
    outbox.c.disclosure_id,
    outbox.c.partner,
    outbox.c.request_id,
    outbox.c.content_type,
    outbox.c.body,
    outbox.c.attempts,
    outbox.c.body_key_id,
    outbox.c.body_sha256,
    outbox.c.ordering_key,
    outbox.c.created_at,
)


def _older_undelivered() -> Any:
    """True where an older row with the same ordering key is not yet delivered (the claim skips
    such a row). NULL keys compare unequal, so unkeyed rows are never held back.

    A probe of ``ix_outbox_ordering`` (partner, ordering_key, created_at): the range on
    ``created_at`` keeps it to the rows before this one, and since a delivered row's key is
    cleared, the index holds only undelivered rows, so the first entry found usually decides.
    """
    older = outbox.alias("older")
    return exists().where(
        older.c.partner == outbox.c.partner,
        older.c.ordering_key == outbox.c.ordering_key,
        older.c.created_at <= outbox.c.created_at,
        older.c.status.in_(("pending", "dead")),
        or_(older.c.created_at < outbox.c.created_at, older.c.id < outbox.c.id),
    )


class DeliveryWorker:
    """Runs inside the gateway process, beside the HTTP server."""

    def __init__(
        self, services: Services, session: aiohttp.ClientSession, metrics: Metrics
    ) -> None:
        self._services = services
        self._settings = services.settings.delivery
        self._sealing = services.settings.sealing
        # Loaded now, so a missing or bad key file stops start-up rather than a delivery. Key ids
        # are derived from the keys: every process of a deployment should log the same ones.
        self._keyring = self._sealing.keyring
        log.info("outbox_sealing_keys", sealing=self._keyring.current, keys=self._keyring.key_ids)
        self._session = session
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    async def start(self) -> None:
        """Start polling the outbox."""
        self._task = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self) -> None:
        """Stop after the current attempt: a database call is never cut off half-way (its driver
        thread would answer a loop that has gone), and a delivery in flight is finished and
        recorded. Cancelled only if it does not end within the delivery timeout."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._settings.timeout + 5)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    def wake(self) -> None:
        """New rows were committed (or one was replayed): look now rather than at the next
        poll."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                delivered = await self.run_once()
            except Exception:
                log.exception("delivery_poll_failed")
                delivered = 0
            if delivered == 0 and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval)

    async def run_once(self) -> int:
        """Claim and attempt every due row once; return how many were attempted.

        A delivered row's successor with the same ordering key (the next delivery about that
        person to that recipient) is leased in the same transaction that records the delivery,
        and attempted straight away: up to ``batch`` deliveries per key in one call, so that a
        person's backlog drains without a claim per row, and other people's turn still comes.
        """
        claimed = await self._claim()
        if not claimed:
            return 0
        done = await asyncio.gather(*(self._chain(row) for row in claimed))
        return sum(done)

    async def _chain(self, row: Claimed) -> int:
        attempted = 0
        current: Claimed | None = row
        while current is not None:
            if attempted and self._stopping:
                # Stopping while holding the next one's lease: give it back, so that the
                # deliveries about that person need not wait for the lease to expire.
                await self._release(current)
                break
            attempted += 1
            more = attempted < self._settings.batch and not self._stopping
            current = await self._attempt(current, lease_next=more)
        return attempted

    async def _release(self, row: Claimed) -> None:
        async with self._services.engine.connect() as raw:
            conn = await raw.execution_options(write=True)
            async with conn.begin():
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row.id, outbox.c.status == "pending")
                    .values(lease_until=None)
                )

    async def _claim(self) -> list[Claimed]:
        now = datetime.now(UTC)
        engine = self._services.engine
        query = (
            select(outbox.c.id)
            .where(
                outbox.c.status == "pending",
                outbox.c.next_attempt_at <= now,
                or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
                ~_older_undelivered(),
            )
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(self._settings.batch)
        )
        lease = now + timedelta(seconds=self._settings.lease)
        if engine.dialect.name == "postgresql":
            async with engine.connect() as raw:
                conn = await raw.execution_options(write=True)
                async with conn.begin():
                    found = await conn.execute(query.with_for_update(skip_locked=True, of=outbox))
                    ids = [r[0] for r in found]
                    return await _lease(conn, ids, now, lease) if ids else []
        # SQLite has one write lock, which the ledger's commits need too: find the candidates in
        # a read transaction (with a large backlog the scan takes a while), then lease them in a
        # short write transaction, each only if no other process has leased it meanwhile.
        async with engine.connect() as conn:
            ids = [r[0] for r in await conn.execute(query)]
        if not ids:
            return []
        async with engine.connect() as raw:
            conn = await raw.execution_options(write=True)
            async with conn.begin():
                return await _lease(conn, ids, now, lease)

    def _open(self, row: Claimed) -> bytes:
        """The row's body, ready to send; :class:`Unsealable` if it must not be sent."""
        if row.body is None:
            raise Unsealable("no-body")
        if row.body_key_id is None:
            # A row from before bodies were sealed, or one slipped in by someone who can write
            # the database but holds no key: refused unless the operator is draining an upgrade.
            if not self._sealing.open_plaintext:
                raise Unsealable("plaintext")
            body = row.body
        else:
            body = self._keyring.open(
                row.body, row.body_key_id, outbox_id=row.id, partner=row.partner
            )
        if row.body_sha256 is not None and hashlib.sha256(body).hexdigest() != row.body_sha256:
            raise Unsealable("digest-mismatch")
        return body

    async def _attempt(self, row: Claimed, *, lease_next: bool = False) -> Claimed | None:
        """Attempt one row and record it; return its successor if it was delivered and
        ``lease_next`` (leased in the same transaction), else None."""
        attempt = row.attempts + 1
        try:
            body = self._open(row)
        except Unsealable as exc:
            # SECURITY: fail closed: a body that does not open as this row's is never sent.
            log.warning("delivery_unsealable", outbox_id=row.id, reason=exc.reason)
            await self._record(row, attempt, "dead", None, UNSEALABLE)
            self._metrics.deliveries.labels(row.partner, "dead").inc()
            self._metrics.dead_lettered.labels(row.partner, UNSEALABLE).inc()
            return None
        partner = self._services.settings.partner(row.partner)
        status: int | None = None
        error: str | None = None
        started = time.perf_counter()
        if partner is None or partner.endpoint is None:
            error = "no delivery endpoint configured"
        else:
            try:
                async with self._session.post(
                    partner.endpoint,
                    data=body,
                    headers={
                        "Content-Type": row.content_type,
                        "Idempotency-Key": row.id,
                        "X-Request-ID": row.request_id,
                    },
                    timeout=aiohttp.ClientTimeout(total=self._settings.timeout),
                    # SECURITY: a redirect could send a disclosure somewhere no agreement names.
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = type(exc).__name__
            self._metrics.delivery_seconds.labels(row.partner).observe(
                time.perf_counter() - started
            )
        ok = status is not None and 200 <= status < 300
        outcome: Outcome
        if ok:
            outcome = "delivered"
        elif attempt >= self._settings.max_attempts:
            outcome = "dead"
        else:
            outcome = "retry"
        if error is None and not ok:
            error = f"HTTP {status}"
        successor = await self._record(row, attempt, outcome, status, error, lease_next=lease_next)
        self._metrics.deliveries.labels(row.partner, outcome).inc()
        if outcome == "dead":
            self._metrics.dead_lettered.labels(row.partner, "max-attempts").inc()
        log.info(
            "delivery_attempt", outbox_id=row.id, attempt=attempt, outcome=outcome, status=status
        )
        return successor

    async def _record(
        self,
        row: Claimed,
        attempt: int,
        outcome: Outcome,
        status: int | None,
        error: str | None,
        *,
        lease_next: bool = False,
    ) -> Claimed | None:
        now = datetime.now(UTC)
        values: dict[str, object] = {"attempts": attempt, "lease_until": None, "last_error": error}
        if outcome == "delivered":
            # Purge the body: the gateway keeps message content only until it is delivered. The
            # ordering key has done its work too: clearing it keeps the ordering index to the
            # undelivered rows, however long the outbox's history grows.
            values.update(
                status="delivered", body=None, delivered_at=now, last_error=None, ordering_key=None
            )
        elif outcome == "dead":
            values.update(status="dead")
        else:
            values.update(
                next_attempt_at=now
                + timedelta(
                    seconds=backoff_delay(
                        attempt, self._settings.backoff_base, self._settings.backoff_cap
                    )
                )
            )

        successor: list[Claimed] = []
        chain = lease_next and outcome == "delivered" and row.ordering_key is not None

        def write(conn: Connection) -> None:
            successor.clear()  # a batch retried alone runs this again
            changed = conn.execute(
                update(outbox)
                .where(and_(outbox.c.id == row.id, outbox.c.status == "pending"))
                .values(**values)
            )
            if chain and changed.rowcount == 1:
                found = _lease_successor(conn, row, self._settings.lease)
                if found is not None:
                    successor.append(found)

        event = DeliveryAttempted(
            at=now,
            request_id=row.request_id,
            exchange_id=row.exchange_id,
            partner=row.partner,
            outbox_id=row.id,
            disclosure_id=row.disclosure_id,
            attempt=attempt,
            outcome=outcome,
            status_code=status,
            error=error,
        )
        await self._services.committer.submit(UnitOfWork(events=lambda: [event], writes=[write]))
        return successor[0] if successor else None


async def _lease(
    conn: AsyncConnection, ids: list[str], now: datetime, lease: datetime
) -> list[Claimed]:
    """Lease the rows ``ids`` that are still pending and unleased; return them (in ``ids``'s
    order)."""
    rows = await conn.execute(
        update(outbox)
        .where(
            outbox.c.id.in_(ids),
            outbox.c.status == "pending",
            or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
        )
        .values(lease_until=lease)
        .returning(*_CLAIMED)
    )
    claimed = {row.id: Claimed(**row._asdict()) for row in rows}
    return [claimed[i] for i in ids if i in claimed]


def _lease_successor(conn: Connection, row: Claimed, lease: float) -> Claimed | None:
    """Inside the transaction recording ``row`` as delivered: the oldest undelivered row with its
    ordering key, leased, if it may go now (pending, due, not leased); None otherwise (a dead
    letter, a row waiting to retry, one another process holds, or none)."""
    now = datetime.now(UTC)
    found = conn.execute(
        select(*_CLAIMED, outbox.c.status, outbox.c.next_attempt_at, outbox.c.lease_until)
        .where(
            outbox.c.partner == row.partner,
            outbox.c.ordering_key == row.ordering_key,
            outbox.c.status.in_(("pending", "dead")),
        )
        .order_by(outbox.c.created_at, outbox.c.id)
        .limit(1)
    ).first()
    if found is None or found.status != "pending" or found.next_attempt_at > now:
        return None
    if found.lease_until is not None and found.lease_until >= now:
        return None
    taken = conn.execute(
        update(outbox)
        .where(
            outbox.c.id == found.id,
            outbox.c.status == "pending",
            or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
        )
        .values(lease_until=now + timedelta(seconds=lease))
    )
    if taken.rowcount != 1:
        return None
    return Claimed(*found[: len(_CLAIMED)])


# -- dead letters and replay ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-lettered delivery as ops see it: ids, codes and counts, never its body."""

    id: str
    exchange_id: str
    partner: str
    kind: str | None  # the message kind of the exchange that produced it
    attempts: int
    last_error: str | None
    created_at: datetime
    held_back: int  # later deliveries with its ordering key waiting behind it


async def dead_letters(conn: AsyncConnection, limit: int = 200) -> list[DeadLetter]:
    """Dead-lettered rows, oldest first, with how many later deliveries each holds back."""
    later = outbox.alias("later")
    held_back = (
        select(func.count())
        .where(
            later.c.partner == outbox.c.partner,
            later.c.ordering_key == outbox.c.ordering_key,
            later.c.status == "pending",
            later.c.created_at >= outbox.c.created_at,
            later.c.id != outbox.c.id,
        )
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(
            outbox.c.id,
            outbox.c.exchange_id,
            outbox.c.partner,
            exchanges.c.kind,
            outbox.c.attempts,
            outbox.c.last_error,
            outbox.c.created_at,
            held_back,
        )
        .select_from(outbox.outerjoin(exchanges, exchanges.c.id == outbox.c.exchange_id))
        .where(outbox.c.status == "dead")
        .order_by(outbox.c.created_at, outbox.c.id)
        .limit(limit)
    )
    return [DeadLetter(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class Replayed:
    """A dead letter put back in the outbox, and its ledger entry."""

    outbox_id: str
    partner: str
    attempts_before: int
    seq: int


async def replay(
    services: Services, outbox_id: str, *, operator: str, request_id: str | None
) -> Replayed | None:
    """Put a dead-lettered row back in the outbox (pending, due now, attempts kept) and record
    ``delivery.replayed`` naming ``operator``, in one transaction. None if the row is not dead
    (unknown, delivered, or already replayed): nothing is changed or recorded then.

    A replayed row is tried once; if that attempt fails it is dead-lettered again.
    """
    found: dict[str, Any] = {}
    now = datetime.now(UTC)

    def write(conn: Connection) -> None:
        found.clear()  # a batch retried alone runs this again
        row = conn.execute(
            select(
                outbox.c.exchange_id,
                outbox.c.disclosure_id,
                outbox.c.partner,
                outbox.c.request_id,
                outbox.c.attempts,
            ).where(outbox.c.id == outbox_id, outbox.c.status == "dead")
        ).first()
        if row is None:
            return
        changed = conn.execute(
            update(outbox)
            .where(outbox.c.id == outbox_id, outbox.c.status == "dead")
            .values(status="pending", next_attempt_at=now, lease_until=None)
        )
        if changed.rowcount == 1:
            found.update(row._asdict())

    def events() -> list[Any]:
        if not found:
            return []
        return [
            DeliveryReplayed(
                at=now,
                request_id=request_id,
                exchange_id=found["exchange_id"],
                partner=found["partner"],
                outbox_id=outbox_id,
                disclosure_id=found["disclosure_id"],
                operator=operator,
                attempts_before=found["attempts"],
            )
        ]

    seqs = await services.committer.submit(UnitOfWork(events=events, writes=[write]))
    if not found or not seqs:
        return None
    log.info("delivery_replayed", outbox_id=outbox_id, attempts_before=found["attempts"])
    return Replayed(outbox_id, found["partner"], found["attempts"], seqs[0])


# -- what /_status and /metrics report ---------------------------------------------------------


async def backlog(conn: AsyncConnection, now: datetime | None = None) -> list[Backlog]:
    """Undelivered rows by partner and state (pending, retrying, dead), with the oldest's age."""
    moment = now or datetime.now(UTC)
    # Inline, not a bound parameter, so that PostgreSQL sees the same expression in GROUP BY.
    failing = outbox.c.attempts > literal_column("0")
    rows = await conn.execute(
        select(
            outbox.c.partner, outbox.c.status, failing, func.count(), func.min(outbox.c.created_at)
        )
        .where(outbox.c.status.in_(("pending", "dead")))
        .group_by(outbox.c.partner, outbox.c.status, failing)
    )
    merged: dict[tuple[str, str], tuple[int, datetime]] = {}
    for partner, status, has_failed, count, oldest in rows:
        state = "dead" if status == "dead" else ("retrying" if has_failed else "pending")
        total, stamp = int(count), _aware(oldest)
        before = merged.get((partner, state))
        if before is not None:
            total, stamp = total + before[0], min(stamp, before[1])
        merged[(partner, state)] = (total, stamp)
    return [
        Backlog(partner, state, count, max(0.0, (moment - oldest).total_seconds()))
        for (partner, state), (count, oldest) in sorted(merged.items())
    ]


def _aware(value: datetime) -> datetime:
    # An aggregate bypasses the column type's result processing on SQLite.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def failing_partners(entries: Sequence[Backlog]) -> dict[str, dict[str, Any]]:
    """Partners whose deliveries are failing (a row retrying or dead), with what shows it."""
    failing: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.status == "pending":
            continue
        found = failing.setdefault(entry.partner, {"retrying": 0, "dead": 0, "oldest": 0.0})
        found[entry.status] += entry.rows
        found["oldest"] = max(found["oldest"], entry.oldest_age)
    return failing
