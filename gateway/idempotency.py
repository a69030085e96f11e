"""Idempotency-Key on the partner API's POST routes (draft-ietf-httpapi-idempotency-key-header).

A partner that sends ``Idempotency-Key: <key>`` with a POST may send the same request again (a
timeout, a crash, a lost answer) and the gateway acts on it at most once:

- the first request **claims** the key (a row in ``idempotency_keys``, state ``in-flight``, with
  the SHA-256 of the method, path, content type and body) and is processed;
- if it commits anything (an exchange), the key's row is marked ``done`` **in the same
  transaction** (a write added to the request's unit of work through the group committer's
  ``UNIT_HOOK``): a 2xx answer therefore always has its key stored, and an exchange that did not
  commit leaves no ``done`` key. The mark carries the exchange door's answer (its summary and the
  count of its ledger entries), so nothing more is written after it; a route whose answer is not
  known inside its transaction has its answer written after it is sent;
- a **replay** (same partner, same key, same request) gets the stored answer again, byte for
  byte, with ``Idempotent-Replayed: true`` (its ``X-Request-ID`` header is its own: every request
  has its own id; the body names the original's);
- the same key with a **different** request: 422; while the first is still **in flight**: 409
  with ``Retry-After``;
- an answer other than 2xx releases the key (the request changed nothing: fix it and resend with
  the same key; until the release is written, the resend gets 409);
- keys are **scoped to the partner**: two partners may use the same key;
- a ``done`` key is kept for ``idempotency.ttl`` (24 hours); an ``in-flight`` key whose process
  died is free again after ``idempotency.lease``; expired rows are purged at most every
  ``idempotency.purge_interval`` seconds inside a claim's transaction.

Claims, answers and releases go through the group committer too (units without ledger entries),
so they share its transactions and its single writer, and claims from several processes are
serialised by the ledger head's lock. Only the claim is waited for: a keyed request costs one
more group commit in its path than an unkeyed one (an INSERT ... ON CONFLICT DO NOTHING for a new
key), and its exchange one UPDATE more.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.audit.events import AuditEvent
from gateway.conventions import IdempotencySettings
from gateway.errors import Conflict, GatewayError, InvalidInput, Issue, KeyReused
from gateway.store.committer import UNIT_HOOK, GroupCommitter, UnitOfWork
from gateway.store.tables import exchanges, idempotency_keys

log = structlog.get_logger(__name__)

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
IN_FLIGHT = "in-flight"
DONE = "done"
# The status an exchange door answers once its unit has committed (gateway/routes/messages.py).
EXCHANGE_ACCEPTED = 202

_t = idempotency_keys


def parse_key(raw: str) -> str:
    """The key as sent: 1 to 255 printable ASCII characters; InvalidInput naming the header."""
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in raw):
        raise InvalidInput(
            f"{KEY_HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            [
                Issue(
                    KEY_HEADER,
                    f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                    "value",
                )
            ],
        )
    return raw


def request_digest(method: str, path: str, content_type: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and query, content type, body."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), content_type.encode()):
        digest.update(part)
        digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Stored:
    """A completed request's answer."""

    status: int | None  # None: committed, but the answer was not recorded
    content_type: str | None
    body: bytes | None


@dataclass
class Claim:
    """A key this request holds while it is processed."""

    partner: str
    key: str
    digest: str
    token: datetime  # the claim's created_at: a later claim of an expired key changes it
    attached: bool = False  # whether a committed unit of this request carries the key
    stored: Stored | None = None  # the answer written with the key's done mark, if any


@dataclass(frozen=True, slots=True)
class Busy:
    """The key is held by a request still in flight."""

    retry_after: int


class Mismatch:
    """The key was used for a different request."""


Outcome = Claim | Stored | Busy | Mismatch


class ClaimLost(Exception):
    """The key's claim expired and was taken over before this request committed."""


def _key_is(partner: str, key: str) -> Any:
    return (_t.c.partner == partner) & (_t.c.key == key)


@dataclass
class IdempotencyKeys:
    """The claims of one gateway process (a middleware built with the app holds one)."""

    settings: IdempotencySettings
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _last_purge: float = field(default=float("-inf"))
    _queued: set[asyncio.Task[None]] = field(default_factory=set)

    # --- the committer's units ----------------------------------------------------------------

    async def claim(
        self, committer: GroupCommitter, partner: str, key: str, digest: str
    ) -> Outcome:
        """Claim ``key`` for this request, or say why not (stored answer, busy, mismatch)."""
        now = self.clock()
        purge = time.monotonic() - self._last_purge >= self.settings.purge_interval
        if purge:
            self._last_purge = time.monotonic()
        lease = timedelta(seconds=self.settings.lease)
        outcome: list[Outcome] = []

        def write(conn: Connection) -> None:
            outcome.clear()  # a batch that failed is retried unit by unit: decide afresh
            if purge:
                conn.execute(delete(_t).where(_t.c.expires_at < now))
            fresh = {
                "request_sha256": digest,
                "state": IN_FLIGHT,
                "response_status": None,
                "response_headers": None,
                "response_body": None,
                "created_at": now,
                "expires_at": now + lease,
            }
            if _insert_if_absent(conn, {"partner": partner, "key": key, **fresh}):
                outcome.append(Claim(partner, key, digest, now))
                return
            row = conn.execute(
                select(
                    _t.c.request_sha256,
                    _t.c.state,
                    _t.c.response_status,
                    _t.c.response_headers,
                    _t.c.response_body,
                    _t.c.expires_at,
                ).where(_key_is(partner, key))
            ).one()
            if row.expires_at <= now:
                conn.execute(update(_t).where(_key_is(partner, key)).values(**fresh))
                outcome.append(Claim(partner, key, digest, now))
            elif row.state != DONE:
                # Whatever it carries: the first request may yet fail and free the key.
                outcome.append(Busy(retry_after=1))
            elif row.request_sha256 != digest:
                outcome.append(Mismatch())
            else:
                headers = orjson.loads(row.response_headers) if row.response_headers else {}
                outcome.append(
                    Stored(row.response_status, headers.get("Content-Type"), row.response_body)
                )

        await committer.submit(UnitOfWork(events=list, writes=[write]))
        return outcome[-1]

    def attach(self, claim: Claim) -> Callable[[UnitOfWork], None]:
        """The unit hook: the first unit this request commits that stores anything (rows or
        writes: an exchange) also marks the key done, or fails whole if the claim was lost.

        The mark is written once the unit's ledger entries are built (the exchange door's answer
        counts them), through the unit's own connection, so it commits or fails with the unit.
        """

        ttl = timedelta(seconds=self.settings.ttl)

        def hook(unit: UnitOfWork) -> None:
            if claim.attached or not (unit.rows or unit.writes):
                return
            claim.attached = True
            summary = _exchange_summary(unit)
            connection: list[Connection] = []

            def borrow(conn: Connection) -> None:
                connection[:] = [conn]  # runs with the unit's other writes, before its events

            build = unit.events

            def events() -> list[AuditEvent]:
                built = build()
                values: dict[str, Any] = {"state": DONE, "expires_at": self.clock() + ttl}
                if summary is not None:
                    claim.stored = _exchange_answer(summary, len(built))
                    values.update(
                        response_status=claim.stored.status,
                        response_headers=_headers_json(claim.stored.content_type),
                        response_body=claim.stored.body,
                    )
                done = connection[0].execute(
                    update(_t)
                    .where(
                        _key_is(claim.partner, claim.key)
                        & (_t.c.created_at == claim.token)
                        & (_t.c.state == IN_FLIGHT)
                    )
                    .values(**values)
                )
                if done.rowcount != 1:
                    raise ClaimLost(KEY_HEADER)
                return built

            unit.writes.append(borrow)
            unit.events = events

        return hook

    async def answer(self, committer: GroupCommitter, claim: Claim, response: web.Response) -> None:
        """Store a 2xx answer for replays (the key stays done even if this is never stored)."""
        body = response.body if isinstance(response.body, bytes) else b""
        expires = self.clock() + timedelta(seconds=self.settings.ttl)

        def write(conn: Connection) -> None:
            conn.execute(
                update(_t)
                .where(_key_is(claim.partner, claim.key) & (_t.c.created_at == claim.token))
                .values(
                    state=DONE,
                    response_status=response.status,
                    response_headers=_headers_json(response.content_type),
                    response_body=body,
                    expires_at=expires,
                )
            )

        await committer.submit(UnitOfWork(events=list, writes=[write]))

    async def release(self, committer: GroupCommitter, claim: Claim) -> None:
        """Free the key of a request that changed nothing (a key already done stays done)."""

        def write(conn: Connection) -> None:
            conn.execute(
                delete(_t).where(
                    _key_is(claim.partner, claim.key)
                    & (_t.c.created_at == claim.token)
                    & (_t.c.state == IN_FLIGHT)
                )
            )

        await committer.submit(UnitOfWork(events=list, writes=[write]))

    # --- the request ----------------------------------------------------------------------------

    async def handle(
        self,
        request: web.Request,
        handler: Handler,
        *,
        committer: GroupCommitter,
        partner: str,
        body: bytes,
        refused: Callable[[str], Awaitable[None]],
    ) -> web.StreamResponse:
        """Run ``handler`` under the request's Idempotency-Key, if it sends one.

        ``refused(reason)`` is awaited when the key is misused (recorded, at most once a second).
        """
        raw = request.headers.get(KEY_HEADER)
        if raw is None:
            return await handler(request)
        key = parse_key(raw)
        digest = request_digest(request.method, request.raw_path, request.content_type, body)
        outcome = await self.claim(committer, partner, key, digest)
        if isinstance(outcome, Stored):
            log.info("idempotent_replay", status=outcome.status)
            return _replay(outcome)
        if isinstance(outcome, Mismatch):
            await refused("idempotency-key-reused")
            raise KeyReused(
                f"this {KEY_HEADER} was used for a different request: use a new key",
                [Issue(KEY_HEADER, "was used for a different request", "business-rule")],
            )
        if isinstance(outcome, Busy):
            raise Conflict(
                f"a request with this {KEY_HEADER} is still being processed: retry after a moment",
                retry_after=outcome.retry_after,
            )
        return await self._run(request, handler, committer, outcome)

    async def _run(
        self, request: web.Request, handler: Handler, committer: GroupCommitter, claim: Claim
    ) -> web.StreamResponse:
        hook = UNIT_HOOK.set(self.attach(claim))
        try:
            response = await handler(request)
        except asyncio.CancelledError:
            raise  # the key stays in flight until its lease ends
        except BaseException:
            UNIT_HOOK.reset(hook)
            self._queue(self.release(committer, claim), "idempotency_key_not_released")
            raise
        UNIT_HOOK.reset(hook)
        # Neither is awaited: the answer goes now, and the unit follows it into the committer's
        # next batch (a later request of this process is queued behind it). If the process
        # stops first, a done key replays the exchange's recorded summary, and a key left in
        # flight is free when its lease ends.
        if 200 <= response.status < 300 and isinstance(response, web.Response):
            if not _same(claim.stored, response):
                self._queue(
                    self.answer(committer, claim, response), "idempotency_answer_not_stored"
                )
        else:
            self._queue(self.release(committer, claim), "idempotency_key_not_released")
        return response

    def _queue(self, work: Coroutine[Any, Any, None], failure: str) -> None:
        async def run() -> None:
            try:
                await work
            except GatewayError:
                log.error(failure)

        task = asyncio.create_task(run())
        self._queued.add(task)
        task.add_done_callback(self._queued.discard)

    async def settled(self) -> None:
        """Wait for every queued answer and release (for tests and shutdown)."""
        while self._queued:
            await asyncio.gather(*self._queued, return_exceptions=True)


def _headers_json(content_type: str | None) -> str:
    return orjson.dumps({"Content-Type": content_type} if content_type else {}).decode()


def _exchange_summary(unit: UnitOfWork) -> dict[str, Any] | None:
    """The summary an exchange's unit records with it, if the unit records an exchange."""
    for table, values in unit.rows:
        if table is exchanges and isinstance(values.get("summary"), str):
            loaded: dict[str, Any] = orjson.loads(values["summary"])
            return loaded
    return None


def _exchange_answer(summary: dict[str, Any], entries: int) -> Stored:
    """What the exchange door answers (gateway/routes/messages.py): the summary and the count of
    its ledger entries. Should the door's answer ever differ, the answer actually sent is
    written after it (``IdempotencyKeys._run``); tests/test_idempotency.py compares the bytes."""
    return Stored(
        EXCHANGE_ACCEPTED,
        "application/json",
        orjson.dumps({**summary, "ledger_entries": entries}),
    )


def _same(stored: Stored | None, response: web.Response) -> bool:
    return (
        stored is not None
        and stored.status == response.status
        and stored.content_type == response.content_type
        and stored.body == response.body
    )


def _insert_if_absent(conn: Connection, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING: whether the row went in (psycopg does not
    count rows an upsert inserts)."""
    dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(_t).values(**values).on_conflict_do_nothing().returning(_t.c.key)
    return conn.execute(statement).first() is not None


def _replay(stored: Stored) -> web.Response:
    if stored.status is None:
        # Committed, and the process stopped before the answer was known (not an exchange).
        raise Conflict(
            f"the request with this {KEY_HEADER} was processed, but its answer was not kept: "
            "do not resend it; ask the gateway's operators"
        )
    response = web.Response(status=stored.status, body=stored.body or b"")
    if stored.content_type:
        response.content_type = stored.content_type
    response.headers[REPLAYED_HEADER] = "true"
    return response
