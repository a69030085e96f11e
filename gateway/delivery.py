"""The outbox worker: posts each rendered disclosure to its recipient, at least once.

Rows are claimed with a lease (``lease_until``), and on PostgreSQL with ``FOR UPDATE SKIP
LOCKED``, so several gateway processes share one outbox without double sending while a lease
holds. Every delivery carries ``Idempotency-Key`` (the outbox id) so a retried delivery that the
partner already processed can be recognised. Failures back off exponentially, capped, with full
jitter; after ``max_attempts`` a row is dead-lettered (its body kept for an audited replay).
Each attempt is audited; a delivered body is purged.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import aiohttp
import structlog
from sqlalchemy import Connection, and_, or_, select, update

from gateway.audit.events import DeliveryAttempted
from gateway.metrics import Metrics
from gateway.services import Services
from gateway.store.committer import UnitOfWork
from gateway.store.tables import outbox

log = structlog.get_logger(__name__)


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds before the next attempt: capped exponential backoff with full jitter."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True, slots=True)
class Claimed:
    """One outbox row leased to this worker."""

    id: str
    exchange_id: str
    disclosure_id: str
    partner: str
    request_id: str
    content_type: str
    body: bytes
    attempts: int


class DeliveryWorker:
    """Runs inside the gateway process, beside the HTTP server."""

    def __init__(
        self, services: Services, session: aiohttp.ClientSession, metrics: Metrics
    ) -> None:
        self._services = services
        self._settings = services.settings.delivery
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
        """New rows were committed: look now rather than at the next poll."""
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
        """Claim and attempt every due row once; return how many were attempted."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._attempt(row) for row in claimed))
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        now = datetime.now(UTC)
        engine = self._services.engine
        async with engine.connect() as raw:
            conn = await raw.execution_options(write=True)
            async with conn.begin():
                query = (
                    select(outbox.c.id)
                    .where(
                        outbox.c.status == "pending",
                        outbox.c.next_attempt_at <= now,
                        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
                    )
                    .order_by(outbox.c.created_at)
                    .limit(self._settings.batch)
                )
                if engine.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                ids = [r[0] for r in await conn.execute(query)]
                if not ids:
                    return []
                lease = now + timedelta(seconds=self._settings.lease)
                await conn.execute(
                    update(outbox).where(outbox.c.id.in_(ids)).values(lease_until=lease)
                )
                rows = await conn.execute(
                    select(
                        outbox.c.id,
                        outbox.c.exchange_id,
                        outbox.c.disclosure_id,
                        outbox.c.partner,
                        outbox.c.request_id,
                        outbox.c.content_type,
                        outbox.c.body,
                        outbox.c.attempts,
                    ).where(outbox.c.id.in_(ids))
                )
                return [Claimed(*row) for row in rows]

    async def _attempt(self, row: Claimed) -> None:
        partner = self._services.settings.partner(row.partner)
        status: int | None = None
        error: str | None = None
        if partner is None or partner.endpoint is None:
            error = "no delivery endpoint configured"
        else:
            try:
                async with self._session.post(
                    partner.endpoint,
                    data=row.body,
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
        ok = status is not None and 200 <= status < 300
        attempt = row.attempts + 1
        outcome: Literal["delivered", "retry", "dead"]
        if ok:
            outcome = "delivered"
        elif attempt >= self._settings.max_attempts:
            outcome = "dead"
        else:
            outcome = "retry"
        if error is None and not ok:
            error = f"HTTP {status}"
        await self._record(row, attempt, outcome, status, error)
        self._metrics.deliveries.labels(outcome).inc()
        log.info(
            "delivery_attempt", outbox_id=row.id, attempt=attempt, outcome=outcome, status=status
        )

    async def _record(
        self,
        row: Claimed,
        attempt: int,
        outcome: Literal["delivered", "retry", "dead"],
        status: int | None,
        error: str | None,
    ) -> None:
        now = datetime.now(UTC)
        values: dict[str, object] = {"attempts": attempt, "lease_until": None, "last_error": error}
        if outcome == "delivered":
            # Purge the body: the gateway keeps message content only until it is delivered.
            values.update(status="delivered", body=None, delivered_at=now, last_error=None)
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

        def write(conn: Connection) -> None:
            conn.execute(
                update(outbox)
                .where(and_(outbox.c.id == row.id, outbox.c.status == "pending"))
                .values(**values)
            )

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
