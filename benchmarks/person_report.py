"""The per-person report's response time on a 1,000,000-entry ledger in PostgreSQL.

    python -m benchmarks.person_report [--entries N] [--persons P] [--requests R]
                                       [--database URL] [--schema NAME] [--rebuild]

**Build** (once; reused while the schema holds a ledger of the same parameters): a dedicated
PostgreSQL schema, migrated to head, filled with ``N`` realistic canonical entries (crisis
exchanges received, decided for the council and delivered; the council's child statuses; look-ups)
about ``P`` people in families, a few of whom have hundreds of entries. The entries go through the
committer's own code: ``gateway.audit.chain.extend`` for the canonical bytes and hash chain,
``gateway.audit.merkle.append`` for the tree's stored nodes, ``gateway.audit.tree.index_rows``
for the ``ledger_search`` and ``ledger_persons`` rows. Rows go in with
``COPY``, generation overlapping the copying. The head row is set to the last entry, so the gateway
starts on it as on a ledger it wrote itself.

**Measure**: the real gateway in its own process on that schema, an IG officer signed in over HTTP,
then ``GET /review/persons/{id}`` ``R`` times one after another for a typical person (the median
entry count) and for the heaviest, after a warm-up; p50 and p99. The baseline, measured in the same
run with the same client: a bare aiohttp server in its own process answering the same bytes.
Each view also records a ``record.viewed`` entry, as it must, so a run adds to the ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import argon2
import asyncpg
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from gateway.app import create_app
from gateway.audit.chain import GENESIS, ChainHead, extend
from gateway.audit.events import (
    AuditEvent,
    DeliveryAttempted,
    DisclosureDecided,
    ExchangeReceived,
    IndexUpdated,
    LookupDecided,
    NoRecipient,
    WithheldRef,
)
from gateway.audit.merkle import append, leaf_hash
from gateway.audit.settings import LedgerSettings
from gateway.audit.signing import write_new_key
from gateway.audit.tree import event_getter, index_rows
from gateway.logging import configure_logging
from gateway.review.settings import ReviewAccount, ReviewSettings
from gateway.settings import DeliverySettings, Settings
from gateway.store import migrate
from gateway.store.engine import create_engine

REPO = Path(__file__).resolve().parent.parent
DEFAULT_URL = os.environ.get(
    "JOINEDUP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
OFFICER = "bench.officer"
PASSWORD = "bench officer passphrase, not a secret"  # noqa: S105 - a synthetic account
CHUNK = 50_000
HEAVY_FAMILIES = 5
HEAVY_SHARE = 0.001  # of all exchanges, per heavy family: a few people with hundreds of entries
SEARCH_COLUMNS = (
    "seq",
    "at",
    "event",
    "exchange_id",
    "request_id",
    "partner",
    "recipient_partner",
    "agreement_id",
    "purpose",
    "lawful_basis",
    "outcome",
    "reason_code",
    "override_reason",
    "flagged",
)


# -- the synthetic ledger -------------------------------------------------------------------------


@dataclass
class Families:
    """``persons`` people as parents with one or two children; heavy families first."""

    parents: list[str]
    children: list[list[str]]

    @classmethod
    def make(cls, persons: int, rng: random.Random) -> Families:
        parents: list[str] = []
        children: list[list[str]] = []
        made = 0
        while made < persons:
            kids = min(rng.choice((1, 2)), max(persons - made - 1, 0))
            parents.append(_uuid(rng))
            children.append([_uuid(rng) for _ in range(kids)])
            made += 1 + kids
        return cls(parents, children)

    def pick(self, rng: random.Random) -> int:
        if rng.random() < HEAVY_SHARE * HEAVY_FAMILIES:
            return rng.randrange(HEAVY_FAMILIES)
        return rng.randrange(len(self.parents))

    def everyone(self) -> list[str]:
        return [*self.parents, *(c for kids in self.children for c in kids)]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


_WITHHELD = (
    WithheldRef(element="Condition", reason_code="not-in-flow"),
    WithheldRef(element="Person.address", reason_code="label-excluded"),
)
_CRISIS_DISCLOSED = ("Person", "Encounter", "Detention", "Organisation", "FamilyRelationship")
_BASIS = "art6(1)(e)+art9(2)(g)"
_PARA18 = "art6(1)(e)+art9(2)(g)+sch1-para18"


def _crisis(rng: random.Random, at: datetime, people: tuple[str, ...]) -> list[AuditEvent]:
    """A crisis message from the trust: received, decided for the council, delivered if shared."""
    common: dict[str, Any] = {
        "at": at,
        "request_id": _uuid(rng),
        "exchange_id": _uuid(rng),
        "partner": "trust-demo",
    }
    received = ExchangeReceived(
        **common,
        kind="crisis-event",
        sender_organisation="RX9",
        source_message_id_sha256=_hex(rng),
        body_sha256=_hex(rng),
        person_ids=people,
    )
    roll = rng.random()
    decision: dict[str, Any] = {
        **common,
        "kind": "crisis-event",
        "recipient_partner": "council-demo",
        "recipient_organisation": "999",
        "agreement_id": "demo-trust-council",
        "agreement_version": 1,
        "flow_id": "crisis-notice",
        "purpose": "safeguarding-child",
        "person_ids": people,
    }
    if roll < 0.15:
        decided = DisclosureDecided(
            **decision,
            outcome="refuse",
            reason_code="consent-refused",
            explanation="Refused: the subject's consent directive refuses sharing with 999 for "
            "safeguarding-child under demo-trust-council v1 flow crisis-notice",
            lawful_basis=_BASIS,
            consent_ref=f"consent:{_hex(rng)[:16]}",
        )
        return [received, decided]
    flagged = roll > 0.95
    basis = _PARA18 if flagged else _BASIS
    decided = DisclosureDecided(
        **decision,
        outcome="permit",
        reason_code="permitted",
        explanation="Permitted under demo-trust-council v1 flow crisis-notice for "
        f"safeguarding-child on the lawful basis {basis}",
        lawful_basis=basis,
        disclosure_id=_uuid(rng),
        disclosed=_CRISIS_DISCLOSED,
        withheld=_WITHHELD,
        body_sha256=_hex(rng),
        consent_ref=f"consent:{_hex(rng)[:16]}" if flagged else None,
        flagged_for_review=flagged,
    )
    delivered = DeliveryAttempted(
        **common,
        outbox_id=_uuid(rng),
        disclosure_id=str(decided.disclosure_id),
        attempt=1,
        outcome="delivered",
        status_code=202,
    )
    return [received, decided, delivered]


def _child_status(rng: random.Random, at: datetime, child: str) -> list[AuditEvent]:
    """The council's child status: received, the index learnt something, no recipient."""
    common: dict[str, Any] = {
        "at": at,
        "request_id": _uuid(rng),
        "exchange_id": _uuid(rng),
        "partner": "council-demo",
    }
    return [
        ExchangeReceived(
            **common,
            kind="child-status",
            sender_organisation="999",
            source_message_id_sha256=_hex(rng),
            body_sha256=_hex(rng),
            person_ids=(child,),
        ),
        IndexUpdated(**common, persons=0, identifiers=0, family_links=0, worker_roles=1),
        NoRecipient(
            **common,
            kind="child-status",
            reason="messages of this kind have no recipients yet",
            person_ids=(child,),
        ),
    ]


def _lookup(rng: random.Random, at: datetime, person: str) -> list[AuditEvent]:
    """The trust asks who the child's allocated social worker is."""
    return [
        LookupDecided(
            at=at,
            request_id=_uuid(rng),
            partner="trust-demo",
            outcome="permit",
            reason_code="permitted",
            role="allocated-social-worker",
            person_ids=(person,),
            agreement_id="demo-trust-council",
            agreement_version=1,
            purpose="safeguarding-child",
            lawful_basis=_BASIS,
            disclosed=("WorkerRole", "Worker", "Organisation"),
        )
    ]


@dataclass
class Chunk:
    """The rows of one batch of entries, ready to COPY."""

    ledger: list[tuple[int, str, str, str]] = field(default_factory=list)
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)
    search: list[tuple[Any, ...]] = field(default_factory=list)
    persons: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Generator:
    """Makes the ledger chunk by chunk: the chain head, tree frontier and clock carry over."""

    families: Families
    rng: random.Random
    total: int
    head: ChainHead = field(default_factory=lambda: ChainHead(0, GENESIS))
    frontier: list[bytes] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    clock: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=365))
    pending: list[AuditEvent] = field(default_factory=list)  # an exchange split by a chunk

    def chunk(self, size: int) -> Chunk:
        events, self.pending = self.pending[:size], self.pending[size:]
        step = timedelta(days=365) / self.total
        while len(events) < size:
            self.clock += step * 3
            family = self.families.pick(self.rng)
            parent, kids = self.families.parents[family], self.families.children[family]
            roll = self.rng.random()
            if roll < 0.55 or not kids:
                made = _crisis(self.rng, self.clock, (parent, *kids))
            elif roll < 0.85:
                made = _child_status(self.rng, self.clock, self.rng.choice(kids))
            else:
                made = _lookup(self.rng, self.clock, self.rng.choice(kids))
            room = size - len(events)
            events.extend(made[:room])
            self.pending = made[room:]
        rows, self.head = extend(self.head, events)
        appended = append(
            rows[0].seq - 1, self.frontier, (leaf_hash(r.entry.encode()) for r in rows)
        )
        self.frontier = appended.frontier
        out = Chunk(nodes=appended.nodes)
        for row, event in zip(rows, events, strict=True):
            out.ledger.append((row.seq, row.entry, row.prev_hash, row.entry_hash))
            search, named = index_rows(row.seq, event_getter(event))  # as the committer does
            out.search.append(tuple(search[column] for column in SEARCH_COLUMNS))
            for person in named:
                out.persons.append((person["person_id"], row.seq))
                self.counts[person["person_id"]] += 1
        return out


# -- building the schema --------------------------------------------------------------------------


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class Built:
    """What the build left: the people to ask about, and their entry counts."""

    entries: int
    typical: str
    typical_entries: int
    heavy: str
    heavy_entries: int
    seconds: float


async def _existing(
    conn: asyncpg.Connection, schema: str, entries: int, persons: int
) -> Built | None:
    row = await conn.fetchrow(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'bench'",
        schema,
    )
    if row is None:
        return None
    meta = await conn.fetchrow(f'SELECT * FROM "{schema}".bench')  # noqa: S608 - our own name
    if meta is None or (meta["entries"], meta["persons"]) != (entries, persons):
        return None
    return Built(
        entries,
        meta["typical"],
        meta["typical_entries"],
        meta["heavy"],
        meta["heavy_entries"],
        meta["seconds"],
    )


async def _copy(conn: asyncpg.Connection, schema: str, chunk: Chunk) -> None:
    await conn.copy_records_to_table(
        "ledger",
        records=chunk.ledger,
        columns=("seq", "entry", "prev_hash", "entry_hash"),
        schema_name=schema,
    )
    await conn.copy_records_to_table(
        "ledger_nodes", records=chunk.nodes, columns=("level", "idx", "hash"), schema_name=schema
    )
    await conn.copy_records_to_table(
        "ledger_search", records=chunk.search, columns=SEARCH_COLUMNS, schema_name=schema
    )
    await conn.copy_records_to_table(
        "ledger_persons", records=chunk.persons, columns=("person_id", "seq"), schema_name=schema
    )


async def build(url: str, schema: str, entries: int, persons: int, rebuild: bool) -> Built:
    """The benchmark's ledger in ``schema``: reused if already built with these parameters."""

    try:
        conn = await asyncpg.connect(_dsn(url), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise SystemExit(
            f"PostgreSQL is unreachable at {make_url(url).render_as_string(hide_password=True)}"
            f" ({type(exc).__name__}); this benchmark needs it:"
            " start it, or pass --database / set JOINEDUP_TEST_POSTGRES_URL"
        ) from None
    try:
        if not rebuild and (built := await _existing(conn, schema, entries, persons)) is not None:
            print(f"reusing the ledger in schema {schema} (built in {built.seconds:.0f} s)")
            return built
        print(f"building {entries:,} entries about {persons:,} people in schema {schema} ...")
        started = time.perf_counter()
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        engine = create_engine(url, schema=schema)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

        rng = random.Random(20261130)  # synthetic data, reproducible
        families = Families.make(persons, rng)
        generator = Generator(families, rng, entries)
        copying: asyncio.Task[None] | None = None
        done = 0
        while done < entries:
            size = min(CHUNK, entries - done)
            chunk = await asyncio.to_thread(generator.chunk, size)
            if copying is not None:
                await copying
            copying = asyncio.create_task(_copy(conn, schema, chunk))
            done += size
            print(f"  {done:>9,} entries ({time.perf_counter() - started:5.0f} s)", flush=True)
        if copying is not None:
            await copying

        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "persons",
            records=[(p, now) for p in families.everyone()],
            columns=("id", "created_at"),
            schema_name=schema,
        )
        await conn.execute(
            f'UPDATE "{schema}".ledger_head SET seq = $1, entry_hash = $2 WHERE id = 1',  # noqa: S608
            generator.head.seq,
            generator.head.entry_hash,
        )
        await conn.execute(f'ANALYZE "{schema}".ledger')
        await conn.execute(f'ANALYZE "{schema}".ledger_search')
        await conn.execute(f'ANALYZE "{schema}".ledger_persons')
        await conn.execute(f'ANALYZE "{schema}".ledger_nodes')

        ranked = sorted(generator.counts.items(), key=lambda kv: kv[1])
        typical, heavy = ranked[len(ranked) // 2], ranked[-1]
        seconds = time.perf_counter() - started
        await conn.execute(
            f'CREATE TABLE "{schema}".bench (entries bigint, persons bigint, typical text,'
            " typical_entries bigint, heavy text, heavy_entries bigint, seconds float8)"
        )
        await conn.execute(
            f'INSERT INTO "{schema}".bench VALUES ($1, $2, $3, $4, $5, $6, $7)',  # noqa: S608
            entries,
            persons,
            typical[0],
            typical[1],
            heavy[0],
            heavy[1],
            seconds,
        )
        print(f"built in {seconds:.0f} s")
        return Built(entries, typical[0], typical[1], heavy[0], heavy[1], seconds)
    finally:
        await conn.close()


# -- the two servers ------------------------------------------------------------------------------


def _serve_gateway(port: int, url: str, schema: str, password_hash: str, tmp: str) -> None:
    """The real gateway on the benchmark's schema, with one IG officer's account."""
    signing_key, session_key = Path(tmp) / "signing-key.pem", Path(tmp) / "session.key"
    write_new_key(signing_key)
    session_key.write_bytes(Fernet.generate_key() + b"\n")
    settings = Settings(
        database_url=url,
        database_schema=schema,
        partners=(),
        delivery=DeliverySettings(enabled=False),
        log_level="warning",
        ledger=LedgerSettings(signing_key_file=signing_key),
        review=ReviewSettings(
            accounts=(
                ReviewAccount(name=OFFICER, password_hash=password_hash, roles=("ig-officer",)),
            ),
            session_key_file=session_key,
        ),
    )
    configure_logging("warning")
    web.run_app(create_app(settings), host="127.0.0.1", port=port, access_log=None, print=None)


def _serve_echo(port: int, directory: str) -> None:
    """The baseline: the same response bytes, from memory, by a bare aiohttp handler."""
    bodies = {p.name: p.read_bytes() for p in Path(directory).iterdir()}

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.match_info["name"]], content_type="text/html")

    app = web.Application()
    app.router.add_get("/{name}", echo)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - this module, fixed arguments
        [sys.executable, "-m", "benchmarks.person_report", "--serve", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


async def _wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(600):
        try:
            async with session.get(url) as response:
                await response.read()
                return
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the server at {url} did not start")


async def _sign_in(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(f"{base}/review/login") as response:
        page = await response.text()
    field_html = re.search(r"<input[^>]*name=\"csrf_token\"[^>]*>", page)
    token = re.search(r"value=\"([^\"]*)\"", field_html[0]) if field_html else None
    if token is None:
        raise RuntimeError("the sign-in page has no csrf_token field")
    form = {"username": OFFICER, "password": PASSWORD, "csrf_token": token[1]}
    async with session.post(f"{base}/review/login", data=form, allow_redirects=False) as response:
        if response.status != 303:
            raise RuntimeError(f"sign-in failed: {response.status}")


@dataclass(frozen=True, slots=True)
class Timing:
    """Latencies of one URL, one request at a time."""

    p50_ms: float
    p99_ms: float
    body: bytes


async def _time(session: aiohttp.ClientSession, url: str, n: int, warm: int = 5) -> Timing:
    body = b""
    latencies: list[float] = []
    for i in range(warm + n):
        started = time.perf_counter()
        async with session.get(url, allow_redirects=False) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: {response.status}")
        if i >= warm:
            latencies.append((time.perf_counter() - started) * 1000)
    qs = statistics.quantiles(latencies, n=100, method="inclusive")
    return Timing(qs[49], qs[98], body)


async def measure(url: str, schema: str, built: Built, n: int) -> dict[str, dict[str, Timing]]:
    """The report for the typical and the heavy person; then the echo of the same bytes."""
    results: dict[str, dict[str, Timing]] = {"gateway": {}, "echo": {}}
    people = {"typical": built.typical, "heavy": built.heavy}
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        password_hash = argon2.PasswordHasher().hash(PASSWORD)
        process = _start("gateway", str(port), url, schema, password_hash, tmp)
        try:
            jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
            async with aiohttp.ClientSession(cookie_jar=jar) as session:
                await _wait_ready(session, f"{base}/_ping")
                await _sign_in(session, base)
                for name, person in people.items():
                    timing = await _time(session, f"{base}/review/persons/{person}", n)
                    results["gateway"][name] = timing
                    (Path(tmp) / name).write_bytes(timing.body)
        finally:
            process.terminate()
            process.wait(timeout=30)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        process = _start("echo", str(port), tmp)
        try:
            async with aiohttp.ClientSession() as session:
                await _wait_ready(session, f"{base}/typical")
                for name in people:
                    results["echo"][name] = await _time(session, f"{base}/{name}", n)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return results


def _schema_name(value: str) -> str:
    # Schema names are put into SQL text (quoted): only plain lower-case identifiers.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise argparse.ArgumentTypeError("a schema name is lower-case letters, digits and _")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    """Build (or reuse) the ledger, measure, print the figures."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:
        kind, port, *rest = argv[1:]
        if kind == "gateway":
            _serve_gateway(int(port), *rest)
        else:
            _serve_echo(int(port), *rest)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database", default=DEFAULT_URL, help="a PostgreSQL SQLAlchemy URL")
    parser.add_argument("--schema", default="bench_person_report", type=_schema_name)
    parser.add_argument("--rebuild", action="store_true", help="build afresh even if present")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    built = asyncio.run(build(args.database, args.schema, args.entries, args.persons, args.rebuild))
    results = asyncio.run(measure(args.database, args.schema, built, args.requests))
    print(
        f"ledger: {built.entries:,} entries about {args.persons:,} people (PostgreSQL); "
        f"{args.requests} requests each, one at a time, after 5 warm-up requests"
    )
    counts = {"typical": built.typical_entries, "heavy": built.heavy_entries}
    for name in ("typical", "heavy"):
        gateway, echo = results["gateway"][name], results["echo"][name]
        print(
            f"{name:8} person ({counts[name]:4} entries, report {len(gateway.body) / 1024:6.1f} KB):"
            f" gateway p50 {gateway.p50_ms:7.2f} ms p99 {gateway.p99_ms:7.2f} ms | echo p50 "
            f"{echo.p50_ms:5.2f} ms p99 {echo.p99_ms:5.2f} ms | p50 ratio "
            f"{gateway.p50_ms / echo.p50_ms:5.1f}x"
        )
    print(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
