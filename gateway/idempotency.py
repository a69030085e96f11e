"""Idempotency-Key on the partner API's POST routes (draft-ietf-httpapi-idempotency-key-header).

A partner that sends ``Idempotency-Key: <key>`` with a POST may send the same request again (a
timeout, a crash, a lost answer) and the gateway acts on it at most once:

- before the request is processed the key is **looked up** (a read in a reader thread, nothing
  written): a key stored for the same request is a **replay**, which gets the stored answer again,
  byte for byte, with ``Idempotent-Replayed: true`` (its ``X-Request-ID`` header is its own: every
  request has its own id; the body names the original's); a key stored for a **different** request
  is refused with 422; a key held by a request still **in flight** in this process is refused with
  409 and ``Retry-After``;
- otherwise the request is processed, holding the key in this process's memory, and the first
  unit it commits that stores anything (an exchange) also **stores the key** as done, with the
  exchange door's answer (its summary and the count of its ledger entries), **in the same
  transaction** (a write added to the unit through the group committer's ``UNIT_HOOK``). A 2xx
  answer therefore always has its key stored, an exchange that did not commit leaves no key, and
  a keyed request costs one commit, as an unkeyed one does;
- a **concurrent duplicate** in another process (both looked the key up before either committed)
  is refused at commit: the key's row is unique, so the second unit fails whole (``ClaimLost``,
  409 with ``Retry-After``) and nothing of it is applied;
- an answer other than 2xx leaves the key free (the request changed nothing: fix it and resend
  with the same key); a process that dies mid-request leaves nothing behind;
- keys are **scoped to the partner**: two partners may use the same key;
- a stored key is kept for ``idempotency.ttl`` (24 hours); expired rows are purged at most every
  ``idempotency.purge_interval`` seconds inside a request's transaction.

A route whose answer is not known inside its transaction (or that commits nothing) has its key
and answer stored after the answer is sent, through the group committer.

Until this design (issue 6), a key was claimed by a commit of its own before the request was
processed (two commits per keyed request, and a lease to free the keys of dead processes): the
measured cost was about a third of the writer's time per exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from gateway.store.reader import Reader
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
    """A key this request holds while it is processed (in this process only: nothing is written
    for it until the request's own unit commits)."""

    partner: str
    key: str
    digest: str
    attached: bool = False  # whether a committed unit of this request carries the key
    stored: Stored | None = None  # the answer written with the key, if any


@dataclass(frozen=True, slots=True)
class Busy:
    """The key is held by a request still in flight."""

    retry_after: int


class Mismatch:
    """The key was used for a different request."""


Outcome = Claim | Stored | Busy | Mismatch


class ClaimLost(Conflict):
    """Another request with the same key committed first (a concurrent duplicate, perhaps in
    another process): this one's unit is refused whole, so nothing of it is applied."""

    def __init__(self) -> None:
        super().__init__(
            f"a request with this {KEY_HEADER} was processed at the same time: retry after a "
            "moment to get its answer",
            retry_after=1,
        )


def _key_is(partner: str, key: str) -> Any:
    return (_t.c.partner == partner) & (_t.c.key == key)


@dataclass
class IdempotencyKeys:
    """The keys of one gateway process (a middleware built with the app holds one)."""

    settings: IdempotencySettings
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _last_purge: float = field(default=float("-inf"))
    _queued: set[asyncio.Task[None]] = field(default_factory=set)
    _held: set[tuple[str, str]] = field(default_factory=set)  # (partner, key) in flight here

    # --- the check, and the key's row in the request's own unit --------------------------------

    async def check(self, reader: Reader, partner: str, key: str, digest: str) -> Outcome:
        """Whether this request may go ahead under ``key``: a read, nothing written.

        A key in flight in this process is busy; a stored (done, unexpired) key is replayed or,
        for a different request, refused. Otherwise the request goes ahead, and its unit writes
        the key (``attach``): a concurrent duplicate in another process loses at commit.
        """
        if (partner, key) in self._held:
            return Busy(retry_after=1)
        now = self.clock()

        def read(conn: Connection) -> Any:
            return conn.execute(
                select(
                    _t.c.request_sha256,
                    _t.c.state,
                    _t.c.response_status,
                    _t.c.response_headers,
                    _t.c.response_body,
                    _t.c.expires_at,
                ).where(_key_is(partner, key))
            ).first()

        row = await reader.run(read)
        if row is None or row.expires_at <= now or row.state != DONE:
            return Claim(partner, key, digest)
        if row.request_sha256 != digest:
            return Mismatch()
        headers = orjson.loads(row.response_headers) if row.response_headers else {}
        return Stored(row.response_status, headers.get("Content-Type"), row.response_body)

    def attach(self, claim: Claim) -> Callable[[UnitOfWork], None]:
        """The unit hook: the first unit this request commits that stores anything (rows or
        writes: an exchange) also stores the key as done, with the door's answer, or fails whole
        if a concurrent duplicate stored it first (``ClaimLost``: 409).

        The key is written once the unit's ledger entries are built (the exchange door's answer
        counts them), through the unit's own connection, so it commits or fails with the unit:
        one commit per request, keyed or not.
        """

        ttl = timedelta(seconds=self.settings.ttl)

        def hook(unit: UnitOfWork) -> None:
            if claim.attached or not (unit.rows or unit.writes):
                return
            claim.attached = True
            summary = _exchange_summary(unit)
            purge = self._purge_due()
            connection: list[Connection] = []

            def borrow(conn: Connection) -> None:
                connection[:] = [conn]  # runs with the unit's other writes, before its events

            build = unit.events

            def events() -> list[AuditEvent]:
                built = build()
                now = self.clock()
                values: dict[str, Any] = {
                    "request_sha256": claim.digest,
                    "state": DONE,
                    "response_status": None,
                    "response_headers": None,
                    "response_body": None,
                    "created_at": now,
                    "expires_at": now + ttl,
                }
                if summary is not None:
                    claim.stored = _exchange_answer(summary, len(built))
                    values.update(
                        response_status=claim.stored.status,
                        response_headers=_headers_json(claim.stored.content_type),
                        response_body=claim.stored.body,
                    )
                _store(connection[0], claim, values, now, purge=purge)
                return built

            unit.writes.append(borrow)
            unit.events = events

        return hook

    def _purge_due(self) -> bool:
        due = time.monotonic() - self._last_purge >= self.settings.purge_interval
        if due:
            self._last_purge = time.monotonic()
        return due

    async def answer(self, committer: GroupCommitter, claim: Claim, response: web.Response) -> None:
        """Store a 2xx answer for replays: the answer of a route whose unit did not know it, or
        of a route that committed nothing (the key is then stored now)."""
        body = response.body if isinstance(response.body, bytes) else b""
        now = self.clock()
        values: dict[str, Any] = {
            "request_sha256": claim.digest,
            "state": DONE,
            "response_status": response.status,
            "response_headers": _headers_json(response.content_type),
            "response_body": body,
            "created_at": now,
            "expires_at": now + timedelta(seconds=self.settings.ttl),
        }

        def write(conn: Connection) -> None:
            if claim.attached:  # the key is stored: give it the answer actually sent
                conn.execute(
                    update(_t)
                    .where(_key_is(claim.partner, claim.key))
                    .where(_t.c.request_sha256 == claim.digest)
                    .values(**values)
                )
            else:
                with contextlib.suppress(ClaimLost):  # a concurrent duplicate's answer is kept
                    _store(conn, claim, values, now, purge=False)

        await committer.submit(UnitOfWork(events=list, writes=[write]))

    # --- the request ----------------------------------------------------------------------------

    async def handle(
        self,
        request: web.Request,
        handler: Handler,
        *,
        committer: GroupCommitter,
        reader: Reader,
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
        outcome = await self.check(reader, partner, key, digest)
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
        held = (claim.partner, claim.key)
        self._held.add(held)
        hook = UNIT_HOOK.set(self.attach(claim))
        try:
            response = await handler(request)
        finally:
            UNIT_HOOK.reset(hook)
            self._held.discard(held)
        # Not awaited: the answer goes now, and the unit follows it into the committer's next
        # batch. If the process stops first, a stored key replays the exchange's recorded
        # summary; an answer other than 2xx changed nothing, and leaves the key free.
        if (
            200 <= response.status < 300
            and isinstance(response, web.Response)
            and not _same(claim.stored, response)
        ):
            self._queue(self.answer(committer, claim, response), "idempotency_answer_not_stored")
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
        """Wait for every queued answer (for tests and shutdown)."""
        while self._queued:
            await asyncio.gather(*self._queued, return_exceptions=True)


def _store(
    conn: Connection, claim: Claim, values: dict[str, Any], now: datetime, *, purge: bool
) -> None:
    """Store the key as done: a new row, or over an expired one; ``ClaimLost`` if an unexpired
    row is there (another request with the key committed first)."""
    if purge:
        conn.execute(delete(_t).where(_t.c.expires_at < now))
    if _insert_if_absent(conn, {"partner": claim.partner, "key": claim.key, **values}):
        return
    replaced = conn.execute(
        update(_t)
        .where(
            _key_is(claim.partner, claim.key) & ((_t.c.expires_at <= now) | (_t.c.state != DONE))
        )
        .values(**values)
    )
    if replaced.rowcount != 1:
        raise ClaimLost()


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
