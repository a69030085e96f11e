"""Crash and outage test: exchanges survive SIGKILLs of the gateway and a partner outage.

    python -m benchmarks.crash [--exchanges N] [--kills K] [--subjects S] [--outage SECONDS]
                               [--database sqlite|postgresql|URL] [--seed SEED]

The gateway runs as a real OS process (``python -m gateway.cli serve --config ...``) on a fresh
SQLite file or PostgreSQL schema. The receiving council is another process
(``benchmarks/council.py``): it records every delivery and applies each ``Idempotency-Key``
once, in a log it appends to before it answers, which survives its own death. This process is the
trust's system: S subjects (a parent known to the trust whose child the council knows, with an
allocated social worker), each sending its crisis messages one after another (subjects
concurrently), every message with its own ``Idempotency-Key`` and ``X-Request-ID``, retried with
the same two after a connection error, a 5xx, a 408, 409, 425 or 429, and after a 401 with a
fresh access token. The partners authenticate as partners do: an access token from
``POST /oauth2/token`` for a client assertion signed with their own key, whose public half is in
the gateway's configuration. Meanwhile the gateway is killed with SIGKILL K times at random
moments (a random point in the run plus up to 0.1 s) and started again; with ``--outage`` the
council's process is killed a third of the way in and started again that many seconds later,
while messages keep arriving.

Then the gateway is stopped and the run is checked; every failure is printed as a problem:

- every exchange was answered 2xx in the end, and is recorded once (one exchange for its
  request id, however often it was retried);
- every 2xx exchange was delivered at least once, and applied exactly once, by the council;
- per subject, the council applied the messages in the order they were sent (each subject has
  one child, the person the gateway orders the council's deliveries by);
- every 2xx exchange's ledger entries are in the ledger (as many as its 202 said, with the
  exchange's receipt, its permit and a delivered attempt); no outbox row is left pending or dead;
- ``joinedup audit verify`` exits 0.

Exit status 0 when there is no problem, 1 otherwise. ``tests/crash/`` runs it small in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import yaml
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from sqlalchemy.engine import make_url

from benchmarks.council import Application, read_log
from gateway.audit.signing import write_new_key
from gateway.oauth.client import fetch_token
from gateway.store.engine import create_sync_engine_for
from gateway.store.tables import exchanges, ledger, outbox
from schemas.identifiers import nhs_number_check_digit

REPO = Path(__file__).resolve().parent.parent
MESSAGES = REPO / "deploy" / "demo" / "messages"
# The crisis notice's agreement only: the run counts one delivery per crisis message. (With the
# think-family agreement as well, each subject's first crisis would also raise a flag to the
# council, and one to the trust, which has no endpoint in this run.)
AGREEMENT = REPO / "deploy" / "agreements" / "demo-trust-council.yaml"
FHIR, CSC = "application/fhir+json", "application/json"
TRUST, COUNCIL = "trust-demo", "council-demo"
DOORS = {TRUST: "/fhir/$process-message", COUNCIL: "/csc/messages"}
PG_URL = os.environ.get(
    "JOINEDUP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# The crisis fixture's own ids, replaced per subject and per message.
_BUNDLE_ID = b"3f0c7a52-1d3e-4c1b-9a7e-5b2d6c8e9f01"
_HEADER_ID = b"7d4b1c2e-8a3f-4e5d-9b6c-0a1f2e3d4c5b"
_PARENT_NHS, _CHILD_NHS = "9000000009", "9000000017"
COUNCIL_LOG = "council-applied.jsonl"
_RETRY_STATUSES = frozenset({408, 409, 425, 429})


# --- the people: synthetic, NHS numbers from the 999 test range ----------------------------------


def _nhs_numbers() -> Iterable[str]:
    """Valid NHS numbers 999 000 000 x, 999 000 001 x, ... (those with no check digit skipped)."""
    n = 0
    while True:
        first_nine = f"999{n:06d}"
        check = nhs_number_check_digit(first_nine)
        if check is not None:
            yield f"{first_nine}{check}"
        n += 1


@dataclass(frozen=True, slots=True)
class Subject:
    """A parent known to the trust and her child, known to the council."""

    index: int
    child_status: bytes  # the council's message that teaches the gateway who is who
    crisis: bytes  # the trust's crisis message template (ids replaced per message)

    def message(self, message_id: uuid.UUID) -> bytes:
        """A crisis message about this subject with its own Bundle and MessageHeader ids."""
        header_id = uuid.uuid5(message_id, "header")
        return self.crisis.replace(_BUNDLE_ID, str(message_id).encode()).replace(
            _HEADER_ID, str(header_id).encode()
        )


def make_subjects(count: int) -> list[Subject]:
    """``count`` subjects, each with her own NHS numbers and LA child id."""
    numbers = iter(_nhs_numbers())
    crisis = (MESSAGES / "crisis-s136.json").read_bytes()
    status_template = orjson.loads((MESSAGES / "child-status-999.json").read_bytes())
    subjects = []
    for i in range(count):
        parent, child, la_child_id = next(numbers), next(numbers), f"CR{i:06d}"
        status = orjson.loads(orjson.dumps(status_template))
        status["message_id"] = f"csc-999-crash-{i:06d}"
        status["la_child_id"] = la_child_id
        status["child_details"]["nhs_number"] = child
        status["child_details"].pop("unique_pupil_number", None)  # one UPN would be everyone's
        status["family"][0]["nhs_number"] = parent
        message = (
            crisis.replace(f'"{_PARENT_NHS}"'.encode(), f'"{parent}"'.encode())
            .replace(f'"{_CHILD_NHS}"'.encode(), f'"{child}"'.encode())
            .replace(b"999/CH000123", f"999/{la_child_id}".encode())
        )
        subjects.append(Subject(i, orjson.dumps(status), message))
    return subjects


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    """A port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A server in its own OS process, on a fixed port, started again after each kill."""

    def __init__(self, name: str, args: Sequence[str], port: int, workdir: Path) -> None:
        self.name = name
        self.port = port
        self._args = list(args)
        self._workdir = workdir
        self._log = workdir / f"{name}.log"
        self._process: asyncio.subprocess.Process | None = None
        self.starts: list[float] = []  # seconds from launch to answering /_ping

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, session: aiohttp.ClientSession, wait: float = 60.0) -> None:
        """Launch and wait until ``/_ping`` answers 200."""
        began = time.perf_counter()
        with self._log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                *self._args,
                cwd=self._workdir,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        while time.perf_counter() - began < wait:
            if self._process.returncode is not None:
                break
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(
                    f"{self.base}/_ping", timeout=aiohttp.ClientTimeout(total=1)
                ) as response:
                    if response.status == 200:
                        self.starts.append(time.perf_counter() - began)
                        return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"{self.name} did not start; its log ends:\n{self.log_tail()}")

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGKILL)
            await self._process.wait()

    async def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``grace`` seconds); the exit status."""
        if self._process is None or self._process.returncode is not None:
            return None if self._process is None else self._process.returncode
        self._process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self._process.wait(), grace)
        except TimeoutError:
            await self.kill()
            return None

    def log_tail(self, lines: int = 30) -> str:
        if not self._log.exists():
            return "(no log)"
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do: sizes, the database, the seed."""

    exchanges: int = 60
    kills: int = 3
    subjects: int = 6
    outage: float = 0.0  # seconds the council is down, a third of the way in (0: no outage)
    database_url: str = ""  # SQLAlchemy URL; empty: a SQLite file in the work directory
    database_schema: str | None = None
    seed: int | None = None
    deadline: float = 600.0  # seconds for the whole run before giving up


@dataclass(slots=True)
class Sent:
    """One exchange as the trust's system saw it."""

    subject: int
    order: int  # its place in the subject's sequence
    key: str  # Idempotency-Key
    request_id: str
    attempts: int = 0
    status: int | None = None
    exchange_id: str | None = None
    ledger_entries: int | None = None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(slots=True)
class Report:
    """What happened, and what was wrong."""

    plan: Plan
    seed: int
    elapsed: float = 0.0
    sending: float = 0.0  # seconds from the first message to the last answer
    sent: list[Sent] = field(default_factory=list)
    kills: int = 0
    gateway_starts: list[float] = field(default_factory=list)
    outage_status: str | None = None  # /_status's verdicts while the council was down
    deliveries: int = 0  # every delivery the council received, duplicates included
    tokens: int = 0  # access tokens the partners fetched at POST /oauth2/token
    answers: dict[str, int] = field(default_factory=dict)  # what the retries were for
    failed_attempts: int = 0  # delivery attempts the ledger records as failed (retry or dead)
    applied: int = 0
    audit_verify: int | None = None
    audit_output: str = ""
    ledger_entries: int = 0
    problems: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase of the run

    def summary(self) -> str:
        accepted = sum(s.accepted for s in self.sent)
        retries = sum(s.attempts for s in self.sent) - len(self.sent)
        starts = self.gateway_starts
        restart = f"{max(starts):.2f}" if starts else "-"
        lines = [
            f"{self.plan.exchanges} exchanges over {self.plan.subjects} subjects, "
            f"{self.kills} SIGKILLs of the gateway (seed {self.seed})"
            + (f", council down {self.plan.outage:.1f} s" if self.plan.outage else ""),
            f"answered 2xx: {accepted}; client retries: {retries}; access tokens fetched: "
            f"{self.tokens}; sending took "
            f"{self.sending:.1f} s; gateway starts: {len(starts)} (slowest {restart} s)",
            f"council: {self.deliveries} deliveries received, {self.applied} applied, "
            f"{self.deliveries - self.applied} duplicates recognised by Idempotency-Key; "
            f"{self.failed_attempts} failed delivery attempts retried",
            f"ledger: {self.ledger_entries} entries; joinedup audit verify exit "
            f"{self.audit_verify}",
        ]
        if self.answers:
            retried = ", ".join(f"{k} {v}" for k, v in sorted(self.answers.items()))
            lines.append(f"retried after: {retried}")
        if self.outage_status is not None:
            lines.append(f"/_status while the council was down: {self.outage_status}")
        phases = ", ".join(f"{k} {v:.1f}" for k, v in self.phases.items())
        lines.append(f"whole run {self.elapsed:.1f} s ({phases}); problems: {len(self.problems)}")
        lines.extend(f"  PROBLEM: {p}" for p in self.problems[:50])
        return "\n".join(lines)


class Credentials:
    """The partners' own key pairs (their public halves in the gateway's configuration) and the
    access tokens they get for them at ``POST /oauth2/token`` (RFC 7523 client assertions)."""

    def __init__(self, token_url: str) -> None:
        self.token_url = token_url
        self.keys: dict[str, RSAKey | ECKey] = {
            TRUST: RSAKey.generate_key(2048, parameters={"kid": "crash-trust-1"}, private=True),
            COUNCIL: ECKey.generate_key(
                "P-256", parameters={"kid": "crash-council-1"}, private=True
            ),
        }
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()  # one token request at a time, not one per waiting sender
        self.fetched = 0  # access tokens issued to the partners during the run

    def jwks(self, partner: str) -> dict[str, Any]:
        """The partner's public JWKS, as configured."""
        return {"keys": [self.keys[partner].as_dict(private=False)]}

    async def header(self, session: aiohttp.ClientSession, partner: str) -> str:
        """``Bearer <token>``: the cached token, or a new one (aiohttp or PermissionError)."""
        async with self._lock:
            token, expires = self._tokens.get(partner, ("", 0.0))
            if time.monotonic() > expires - 30:
                answer = await fetch_token(
                    session,
                    self.token_url,
                    self.keys[partner],
                    partner,
                    timeout=aiohttp.ClientTimeout(total=10),
                )
                token = str(answer["access_token"])
                self._tokens[partner] = (token, time.monotonic() + float(answer["expires_in"]))
                self.fetched += 1
        return f"Bearer {token}"

    def forget(self, partner: str) -> None:
        """The gateway refused the token (401): fetch another next time."""
        self._tokens.pop(partner, None)


def write_config(
    workdir: Path, plan: Plan, port: int, council_url: str, credentials: Credentials
) -> Path:
    """The gateway's configuration file for this run."""
    key_file = workdir / "ledger-signing-key.pem"
    write_new_key(key_file)
    agreements = workdir / "agreements"
    agreements.mkdir(exist_ok=True)
    shutil.copy(AGREEMENT, agreements / AGREEMENT.name)
    unlimited = {"rate": 1_000_000.0, "burst": 1_000_000}
    config = {
        "database_url": plan.database_url or _sqlite_url(workdir),
        "database_schema": plan.database_schema,
        "port": port,
        "agreements_dir": str(agreements),
        "partners": [
            {
                "id": TRUST,
                "name": "Trust (crash test)",
                "organisations": ["RX9"],
                "format": "fhir-r4",
                "jwks": credentials.jwks(TRUST),
            },
            {
                "id": COUNCIL,
                "name": "Council (crash test)",
                "organisations": ["999"],
                "format": "csc",
                "jwks": credentials.jwks(COUNCIL),
                "endpoint": council_url,
            },
        ],
        "oauth": {
            "token_url": credentials.token_url,
            "token_key_file": str(workdir / "oauth-token-key.pem"),
        },
        # The run measures crash safety, not the rate limiter: each partner may send at will.
        "rate_limit": {"partners": {TRUST: unlimited, COUNCIL: unlimited}},
        "log_level": "warning",
        # Retries never give up during the run (the outage is tolerated by attempts, not by
        # dead-lettering); a killed process's leases lapse in 3 s.
        "delivery": {
            "poll_interval": 0.05,
            "max_attempts": 100_000,
            "backoff_base": 0.05,
            "backoff_cap": 1.0,
            "timeout": 2.0,
            "lease": 3.0,
        },
        "ledger": {
            "signing_key_file": str(key_file),
            "checkpoint_dir": str(workdir / "checkpoints"),
            "checkpoint_entries": 100,
            "checkpoint_seconds": 1.0,
        },
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Trust:
    """The partners' systems: every message sent with its own Idempotency-Key and X-Request-ID,
    retried with the same two after a connection error, a 5xx, 408, 409, 425 or 429 (honouring
    Retry-After), and after a 401 with a fresh access token, until the deadline."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        credentials: Credentials,
        deadline: float,
    ) -> None:
        self._session = session
        self._base = base
        self._credentials = credentials
        self._deadline = deadline
        self.done = 0
        self.progressed = asyncio.Event()
        self.answers: Counter[str] = Counter()  # every answer other than 2xx, and every error

    async def post(self, sent: Sent, body: bytes, *, partner: str = TRUST) -> None:
        """Send until a final answer (2xx, or a 4xx that retrying cannot change)."""
        path, content_type = (DOORS[partner], FHIR if partner == TRUST else CSC)
        delay = 0.02
        while True:
            sent.attempts += 1
            retry_after = 0.0
            try:
                headers = {
                    "Authorization": await self._credentials.header(self._session, partner),
                    "Content-Type": content_type,
                    "Idempotency-Key": sent.key,
                    "X-Request-ID": sent.request_id,
                }
                async with self._session.post(
                    f"{self._base}{path}",
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=30),
                ) as response:
                    payload = await response.read()
                    if not 200 <= response.status < 300:
                        self.answers[f"HTTP {response.status}"] += 1
                    if 200 <= response.status < 300:
                        summary = orjson.loads(payload)
                        sent.status = response.status
                        sent.exchange_id = summary.get("exchange_id")
                        sent.ledger_entries = summary.get("ledger_entries")
                        return
                    if response.status == 401:
                        self._credentials.forget(partner)
                    elif response.status < 500 and response.status not in _RETRY_STATUSES:
                        sent.status = response.status
                        sent.error = f"HTTP {response.status}"
                        return
                    with contextlib.suppress(ValueError):
                        retry_after = min(float(response.headers.get("Retry-After", "0")), 2.0)
            except (aiohttp.ClientError, TimeoutError, PermissionError) as exc:
                # The gateway is down, or its token endpoint refused while it came up.
                self.answers[type(exc).__name__] += 1
            if time.monotonic() > self._deadline:
                sent.error = "no 2xx before the deadline"
                return
            await asyncio.sleep(max(retry_after, random.uniform(0, delay)))
            delay = min(delay * 2, 0.5)

    async def send(self, sent: Sent, body: bytes) -> None:
        """A crisis message from the trust; progress counted for the killer."""
        await self.post(sent, body)
        self.done += 1
        self.progressed.set()

    async def wait_for(self, done: int) -> None:
        while self.done < done:
            self.progressed.clear()
            await self.progressed.wait()


async def _seed(trust: Trust, subjects: Sequence[Subject]) -> None:
    """The council tells the gateway about each child and its allocated social worker."""
    for subject in subjects:
        sent = Sent(-1, subject.index, str(uuid.uuid4()), str(uuid.uuid4()))
        await trust.post(sent, subject.child_status, partner=COUNCIL)
        if not sent.accepted:
            raise RuntimeError(f"seeding subject {subject.index}: {sent.error}")


async def _killer(
    trust: Trust, gateway: Process, session: aiohttp.ClientSession, plan: Plan, rng: random.Random
) -> int:
    """Kill the gateway at K random points of the run (plus a random delay); start it again."""
    points = sorted(rng.sample(range(1, plan.exchanges), min(plan.kills, plan.exchanges - 1)))
    for point in points:
        await trust.wait_for(point)
        await asyncio.sleep(rng.uniform(0, 0.1))
        await gateway.kill()
        await gateway.start(session)
    return len(points)


async def _outage(
    trust: Trust, council: Process, gateway: Process, session: aiohttp.ClientSession, plan: Plan
) -> str | None:
    """Kill the council a third of the way in; start it again once it has been down for
    ``plan.outage`` seconds *and* the gateway has shown the outage in /_status (a delivery has
    failed while the gateway was up: it may have been down itself for part of the outage), or
    after ``max(30, 5 * outage)`` seconds whatever /_status said."""
    await trust.wait_for(max(1, plan.exchanges // 3))
    await council.kill()
    seen: list[str] = []  # /_status's verdicts while the council is down
    began = time.monotonic()
    while True:
        elapsed = time.monotonic() - began
        if (elapsed >= plan.outage and "warn" in seen) or elapsed >= max(30.0, 5 * plan.outage):
            break
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError):
            async with session.get(
                f"{gateway.base}/_status", timeout=aiohttp.ClientTimeout(total=2)
            ) as response:
                seen.append(str(orjson.loads(await response.read()).get("status")))
        await asyncio.sleep(0.25)
    await council.start(session)
    return ", ".join(sorted(set(seen))) if seen else None


async def _drain(
    council_log: Path,
    accepted: set[str],
    deadline: float,
    session: aiohttp.ClientSession,
    base: str,
) -> None:
    """Wait until the council has applied every accepted exchange and the gateway's outbox is
    empty (or the deadline). A process killed between a delivery and recording it leaves its
    row pending under a lease: after the lease lapses the row is sent again (the council
    recognises the Idempotency-Key) and only then recorded as delivered."""
    while time.monotonic() < deadline:
        applied = {a.exchange_id for a in read_log(council_log) if a.applied}
        if accepted <= applied and await _outbox_pending(session, base) == 0:
            return
        await asyncio.sleep(0.1)


async def _outbox_pending(session: aiohttp.ClientSession, base: str) -> int | None:
    """The gateway's undelivered outbox rows, from ``/_status`` (None if it cannot say)."""
    try:
        async with session.get(
            f"{base}/_status", timeout=aiohttp.ClientTimeout(total=2)
        ) as response:
            status = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    checks = status.get("checks", {}) if isinstance(status, dict) else {}
    found = checks.get("outbox:pending") or [{}]
    value = found[0].get("observedValue") if isinstance(found[0], dict) else None
    return value if isinstance(value, int) else None


async def _audit_verify(config: Path, workdir: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "audit",
        "verify",
        "--config",
        str(config),
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return int(process.returncode or 0), output.decode(errors="replace")


@dataclass(frozen=True, slots=True)
class Stored:
    """What the database holds after the run."""

    ledger: list[dict[str, Any]]  # every entry, in sequence order
    exchanges: list[tuple[str, str]]  # (exchange id, request id)
    outbox: list[tuple[str, str, bool]]  # (exchange id, status, body still held)


def read_database(url: str, schema: str | None) -> Stored:
    """Read the ledger, exchanges and outbox with the gateway's own table definitions."""
    engine = create_sync_engine_for(url, schema=schema)
    try:
        with engine.connect() as conn:
            entries = [
                orjson.loads(row[0])
                for row in conn.execute(select(ledger.c.entry).order_by(ledger.c.seq))
            ]
            rows = [
                (str(r[0]), str(r[1]))
                for r in conn.execute(select(exchanges.c.id, exchanges.c.request_id))
            ]
            boxes = [
                (str(r[0]), str(r[1]), r[2] is not None)
                for r in conn.execute(select(outbox.c.exchange_id, outbox.c.status, outbox.c.body))
            ]
    finally:
        engine.dispose()
    return Stored(entries, rows, boxes)


def _answered(sent: Sequence[Sent], stored: Stored) -> list[str]:
    """Every exchange answered 2xx in the end, and recorded once however often it was retried."""
    problems = [
        f"subject {s.subject} message {s.order}: {s.error or s.status}"
        for s in sent
        if not s.accepted
    ]
    per_request = Counter(request_id for _exchange, request_id in stored.exchanges)
    problems += [
        f"request {s.request_id} is recorded as {per_request[s.request_id]} exchanges"
        for s in sent
        if s.accepted and per_request[s.request_id] != 1
    ]
    return problems


def _delivered(accepted: dict[str, Sent], log: Sequence[Application]) -> list[str]:
    """Delivered at least once, applied exactly once; nothing applied that no 2xx answered; the
    X-Request-ID passed on; each subject's messages applied in the order they were sent."""
    problems: list[str] = []
    received = Counter(a.exchange_id for a in log)
    applied = Counter(a.exchange_id for a in log if a.applied)
    for exchange_id in accepted:
        if received[exchange_id] == 0:
            problems.append(f"exchange {exchange_id} was never delivered")
        elif applied[exchange_id] != 1:
            problems.append(f"exchange {exchange_id} was applied {applied[exchange_id]} times")
    problems += [
        f"the council applied exchange {e}, which no 2xx answered"
        for e in applied
        if e not in accepted
    ]
    keys = Counter(a.key for a in log if a.applied)
    problems += [f"Idempotency-Key {k} applied {n} times" for k, n in keys.items() if n > 1]
    order: dict[int, list[int]] = defaultdict(list)
    for a in log:
        owner = accepted.get(str(a.exchange_id))
        if owner is None:
            continue
        if a.request_id != owner.request_id:
            problems.append(f"exchange {a.exchange_id} was delivered without its X-Request-ID")
        if a.applied:
            order[owner.subject].append(owner.order)
    problems += [
        f"subject {subject}: applied out of order: {seen}"
        for subject, seen in sorted(order.items())
        if seen != sorted(seen)
    ]
    return problems


def _recorded(accepted: dict[str, Sent], stored: Stored) -> list[str]:
    """Each 2xx exchange's ledger entries, as many as its 202 said, and its delivery; the outbox
    emptied and purged."""
    problems: list[str] = []
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in stored.ledger:
        if entry.get("exchange_id") is not None:
            events[entry["exchange_id"]].append(entry)
    for exchange_id, s in accepted.items():
        mine = events.get(exchange_id, [])
        kinds = Counter(e["event"] for e in mine)
        outcomes = {(e["event"], e.get("outcome")) for e in mine}
        decided = sum(n for k, n in kinds.items() if not k.startswith("delivery."))
        if kinds["exchange.received"] != 1:
            problems.append(f"exchange {exchange_id}: {kinds['exchange.received']} receipts")
        if ("disclosure.decided", "permit") not in outcomes:
            problems.append(f"exchange {exchange_id}: no permit in the ledger")
        if s.ledger_entries is not None and decided != s.ledger_entries:
            problems.append(
                f"exchange {exchange_id}: {decided} ledger entries, its 202 said {s.ledger_entries}"
            )
        if ("delivery.attempted", "delivered") not in outcomes:
            problems.append(f"exchange {exchange_id}: no delivered attempt in the ledger")
    stuck = Counter(status for _e, status, _b in stored.outbox if status != "delivered")
    problems += [f"{n} outbox rows left {status}" for status, n in sorted(stuck.items())]
    held = sum(1 for _e, status, body in stored.outbox if status == "delivered" and body)
    if held:
        problems.append(f"{held} delivered outbox rows still hold their body")
    return problems


def find_problems(
    sent: Sequence[Sent], log: Sequence[Application], stored: Stored, audit_verify: int | None
) -> list[str]:
    """Everything wrong with a run, in words (ids only: the data is synthetic)."""
    accepted = {str(s.exchange_id): s for s in sent if s.accepted}
    problems = _answered(sent, stored) + _delivered(accepted, log) + _recorded(accepted, stored)
    if audit_verify != 0:
        problems.append(f"joinedup audit verify exited {audit_verify}")
    return problems


async def _send_all(
    trust: Trust, subjects: Sequence[Subject], plan: Plan, rng: random.Random
) -> list[Sent]:
    """Each subject's messages one after another; subjects concurrently."""
    per_subject = [plan.exchanges // plan.subjects] * plan.subjects
    for i in range(plan.exchanges % plan.subjects):
        per_subject[i] += 1
    sent = [
        [
            Sent(subject.index, order, str(uuid.UUID(int=rng.getrandbits(128))), str(uuid.uuid4()))
            for order in range(count)
        ]
        for subject, count in zip(subjects, per_subject, strict=True)
    ]

    async def one_subject(subject: Subject, mine: list[Sent]) -> None:
        for s in mine:
            await trust.send(s, subject.message(uuid.uuid4()))
            if not s.accepted:
                return  # later messages would overtake it: stop this subject here

    await asyncio.gather(
        *(one_subject(subject, mine) for subject, mine in zip(subjects, sent, strict=True))
    )
    return [s for mine in sent for s in mine]


async def _load(
    report: Report,
    trust: Trust,
    subjects: Sequence[Subject],
    processes: tuple[Process, Process, aiohttp.ClientSession],
    rng: random.Random,
) -> None:
    """Send every message while the killer (and the outage) do their work."""
    plan = report.plan
    gateway, council, session = processes
    started = time.monotonic()
    helpers: list[Awaitable[Any]] = [_killer(trust, gateway, session, plan, rng)]
    if plan.outage > 0:
        helpers.append(_outage(trust, council, gateway, session, plan))
    tasks = [asyncio.ensure_future(h) for h in helpers]
    report.sent = await _send_all(trust, subjects, plan, rng)
    report.sending = time.monotonic() - started
    trust.done = plan.exchanges  # a subject that stopped early must not hold the helpers up
    trust.progressed.set()
    results = await asyncio.gather(*tasks)
    report.kills = int(results[0])
    if plan.outage > 0:
        report.outage_status = results[1]


async def _examine(report: Report, config: Path, workdir: Path) -> None:
    """After the run: audit verify, the council's log, the database; the problems."""
    plan = report.plan
    report.audit_verify, report.audit_output = await _audit_verify(config, workdir)
    log = read_log(workdir / COUNCIL_LOG)
    report.deliveries, report.applied = len(log), sum(a.applied for a in log)
    stored = await asyncio.to_thread(
        read_database, plan.database_url or _sqlite_url(workdir), plan.database_schema
    )
    report.ledger_entries = len(stored.ledger)
    report.failed_attempts = sum(
        1
        for e in stored.ledger
        if e.get("event") == "delivery.attempted" and e.get("outcome") != "delivered"
    )
    report.problems = find_problems(report.sent, log, stored, report.audit_verify)
    if report.audit_verify != 0:
        report.problems.append(f"audit verify said: {report.audit_output.strip()[-500:]}")


def _sqlite_url(workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{workdir / 'gateway.db'}"


class _Laps:
    """Seconds spent in each phase of the run, into ``phases``."""

    def __init__(self, phases: dict[str, float]) -> None:
        self._phases = phases
        self._last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self._phases[name] = now - self._last
        self._last = now


async def run(plan: Plan, workdir: Path | None = None) -> Report:
    """Run the plan (in a temporary directory unless ``workdir``); the report."""
    seed = plan.seed if plan.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    report = Report(plan, seed)
    began = time.monotonic()
    deadline = began + plan.deadline
    async with contextlib.AsyncExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crash-")))
        council_log = workdir / COUNCIL_LOG
        council_port = free_port()
        council = Process(
            "council",
            ["-m", "benchmarks.council", str(council_port), str(council_log)],
            council_port,
            workdir,
        )
        gateway_port = free_port()
        credentials = Credentials(f"http://127.0.0.1:{gateway_port}/oauth2/token")
        config = write_config(
            workdir, plan, gateway_port, f"{council.base}/deliveries", credentials
        )
        gateway = Process(
            "gateway",
            ["-m", "gateway.cli", "serve", "--config", str(config)],
            gateway_port,
            workdir,
        )
        session = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=plan.subjects + 8))
        )
        stack.push_async_callback(council.stop)
        stack.push_async_callback(gateway.stop)
        lap = _Laps(report.phases)
        await asyncio.gather(council.start(session), gateway.start(session))
        lap("start")
        subjects = make_subjects(plan.subjects)
        trust = Trust(session, gateway.base, credentials, deadline)
        await _seed(trust, subjects)
        lap("seed")
        await _load(report, trust, subjects, (gateway, council, session), rng)
        lap("send")
        report.tokens = credentials.fetched
        report.answers = dict(trust.answers)
        accepted = {str(s.exchange_id) for s in report.sent if s.accepted}
        await _drain(council_log, accepted, deadline, session, gateway.base)
        lap("drain")
        await gateway.stop()
        report.gateway_starts = list(gateway.starts)
        await council.stop()
        lap("stop")
        await _examine(report, config, workdir)
        lap("check")
    report.elapsed = time.monotonic() - began
    return report


# --- PostgreSQL: a schema of its own for the run ------------------------------------------------


@contextlib.asynccontextmanager
async def postgres_schema(url: str) -> AsyncIterator[str]:
    """A new, empty schema on ``url``, dropped afterwards."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"crash_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def _main(args: argparse.Namespace) -> int:
    plan = Plan(
        exchanges=args.exchanges,
        kills=args.kills,
        subjects=args.subjects,
        outage=args.outage,
        seed=args.seed,
        deadline=args.deadline,
    )
    workdir = Path(args.workdir) if args.workdir else None
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    if args.database == "sqlite":
        report = await run(plan, workdir)
    else:
        url = PG_URL if args.database == "postgresql" else args.database
        async with postgres_schema(url) as schema:
            plan = Plan(**{**_fields(plan), "database_url": url, "database_schema": schema})
            report = await run(plan, workdir)
    print(f"database: {args.database}")
    print(report.summary())
    return 1 if report.problems else 0


def _fields(plan: Plan) -> dict[str, Any]:
    return {name: getattr(plan, name) for name in plan.__slots__}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.crash``: run, print the report; exit 1 if there is a problem."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchanges", type=int, default=10_000, help="N (default 10,000)")
    parser.add_argument("--kills", type=int, default=50, help="K SIGKILLs (default 50)")
    parser.add_argument("--subjects", type=int, default=32, help="subjects sending concurrently")
    parser.add_argument("--outage", type=float, default=0.0, help="seconds the council is down")
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite, postgresql (JOINEDUP_TEST_POSTGRES_URL) or a URL",
    )
    parser.add_argument("--seed", type=int, help="random seed (printed; default: fresh)")
    parser.add_argument("--deadline", type=float, default=3600.0, help="seconds before giving up")
    parser.add_argument("--workdir", help="keep the database and logs here (default: temporary)")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
