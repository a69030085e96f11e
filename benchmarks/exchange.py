"""Crisis-notice exchanges per second through the whole pipeline, against a bare aiohttp echo.

    python -m benchmarks.exchange [--requests N] [--concurrency C]
                                  [--backends sqlite,postgresql] [--database URL] [--profile DIR]
                                  [--no-idempotency-key]

Every server runs in its own process on loopback; this process is the load generator. In one run
it measures a bare aiohttp echo of the same bytes, then the real gateway on SQLite and on
PostgreSQL (a fresh schema of ``JOINEDUP_TEST_POSTGRES_URL``, or ``--database``): for each, peak
throughput (closed loop, C concurrent clients) and then p50/p99 latency at half of that server's
own peak rate (open loop, paced). Figures are reported as ratios to the echo measured in the same
run, since absolute numbers depend on the machine. Every gateway request is sent as a partner
sends it: an access token, its own ``X-Request-ID`` and ``Idempotency-Key`` (unless
``--no-idempotency-key``), through the rate limiter (set above the load, so it never bites).

The server's CPU per request is split by thread (``/proc``): the event loop (HTTP, parsing,
policy, rendering, the hand-offs) and the others (the group committer's writer, the index
readers). ``--profile DIR`` also runs each gateway under ``cProfile`` during its peak run (the
event loop's thread; started and stopped by signals, so start-up is not in it) and writes
``DIR/<backend>.prof`` with a summary of where the time goes. Loops are bounded in count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web
from sqlalchemy.engine import make_url

from benchmarks.servers import echo_app
from gateway.conventions import PartnerRate, RateLimitSettings
from gateway.oauth.settings import OAuthSettings
from gateway.oauth.tokens import issue, load_or_create_key
from gateway.settings import DeliverySettings, PartnerSettings, Settings, bundled

REPO = Path(__file__).resolve().parent.parent
CRISIS = REPO / "deploy" / "demo" / "messages" / "crisis-s136.json"
CHILD_STATUS = REPO / "deploy" / "demo" / "messages" / "child-status-999.json"
PG_URL = os.environ.get(
    "JOINEDUP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
DOOR = "/fhir/$process-message"
TRUST, COUNCIL = "trust-demo", "council-demo"


@dataclass(frozen=True, slots=True)
class Figures:
    """One server's results."""

    peak_rps: float
    p50_ms: float
    p99_ms: float
    paced_rps: float
    cpu_ms_per_request: float  # the server process's own CPU time over the peak run
    loop_cpu_ms: float  # ... of which the main (event loop) thread
    other_cpu_ms: float  # ... and the other threads (writer, readers)


def _thread_cpu(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of a process (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = (task / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            found[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(600):
        try:
            async with session.get(url) as response:
                await response.read()
                return
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


class Load:
    """The partner's side: the body, and the headers each request carries."""

    def __init__(
        self, url: str, body: bytes, headers: dict[str, str], ids: tuple[str, ...] = ()
    ) -> None:
        self.url = url
        self.body = body
        self._headers = headers
        self._ids = ids  # headers that get a fresh UUID on every request

    def headers(self) -> dict[str, str]:
        if not self._ids:
            return self._headers
        return {**self._headers, **{name: str(uuid.uuid4()) for name in self._ids}}


async def _closed_loop(session: aiohttp.ClientSession, load: Load, n: int, c: int) -> float:
    remaining = n
    statuses: list[int] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with session.post(load.url, data=load.body, headers=load.headers()) as response:
                await response.read()
                statuses.append(response.status)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(c)))
    elapsed = time.perf_counter() - started
    if any(s >= 300 for s in statuses):
        raise RuntimeError(f"unexpected statuses: {sorted(set(statuses))}")
    return n / elapsed


async def _open_loop(
    session: aiohttp.ClientSession, load: Load, rate: float, n: int
) -> tuple[list[float], float]:
    latencies: list[float] = []

    async def one() -> None:
        headers = load.headers()
        started = time.perf_counter()
        async with session.post(load.url, data=load.body, headers=headers) as response:
            await response.read()
        latencies.append((time.perf_counter() - started) * 1000)

    tasks = []
    begin = time.perf_counter()
    for i in range(n):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies, n / (time.perf_counter() - begin)


async def measure(load: Load, n: int, c: int, pid: int, profiling: bool = False) -> Figures:
    """Peak (closed loop), then latency at half the peak rate (open loop)."""
    connector = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _closed_loop(session, load, min(n, 500), c)  # warm-up
        if profiling:
            os.kill(pid, signal.SIGUSR1)
        before = _thread_cpu(pid)
        peak = await _closed_loop(session, load, n, c)
        after = _thread_cpu(pid)
        if profiling:
            os.kill(pid, signal.SIGUSR2)
        latencies, paced = await _open_loop(session, load, peak / 2, n)
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    loop = used.get(pid, 0.0)
    other = sum(v for tid, v in used.items() if tid != pid)
    qs = statistics.quantiles(latencies, n=100)
    return Figures(
        peak, qs[49], qs[98], paced, (loop + other) / n * 1000, loop / n * 1000, other / n * 1000
    )


# --- the server processes ------------------------------------------------------------------------


def gateway_settings(database_url: str, schema: str | None, workdir: Path, port: int) -> Settings:
    """The real gateway with the demo's trust and council and the example agreement (its demo
    ledger signing and outbox sealing keys generated under the work directory), as a partner
    meets it: access tokens (signed with ``workdir/oauth-token-key.pem``), the request
    conventions, idempotency keys and rate limiting in the path (the limit set above the load, so
    that it is checked but never bites); the delivery worker off, so that the figure is the
    inbound exchange alone (parse -> decide -> render -> durable ledger and outbox commit -> 202).
    """
    unlimited = PartnerRate(rate=1_000_000.0, burst=1_000_000)
    return Settings(
        database_url=database_url,
        database_schema=schema,
        port=port,
        agreements_dir=bundled("agreements"),
        partners=(
            PartnerSettings(id=TRUST, name="trust", organisations=("RX9",), format="fhir-r4"),
            PartnerSettings(id=COUNCIL, name="council", organisations=("999",), format="csc"),
        ),
        oauth=OAuthSettings(token_key_file=workdir / "oauth-token-key.pem"),
        rate_limit=RateLimitSettings(partners={TRUST: unlimited, COUNCIL: unlimited}),
        delivery=DeliverySettings(enabled=False),
        log_level="warning",
    )


def _serve(kind: str, port: int, database_url: str, schema: str, profile: str) -> None:
    """Run one server in this process (``python -m benchmarks.exchange serve ...``), in the
    run's work directory.

    With ``profile``: SIGUSR1 starts cProfile on the event loop's thread, SIGUSR2 stops it and
    writes the stats to ``profile``.
    """
    if kind == "echo":
        app = echo_app()
    else:
        from gateway.app import create_app  # noqa: PLC0415 - the gateway's process only
        from gateway.logging import configure_logging  # noqa: PLC0415

        configure_logging("warning")
        settings = gateway_settings(database_url, schema or None, Path.cwd(), port)
        app = create_app(settings)
    if profile:
        profiler = cProfile.Profile()

        async def signals(app: web.Application) -> AsyncIterator[None]:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGUSR1, profiler.enable)

            def stop() -> None:
                profiler.disable()
                profiler.dump_stats(profile)

            loop.add_signal_handler(signal.SIGUSR2, stop)
            yield

        app.cleanup_ctx.append(signals)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _start(
    kind: str,
    port: int,
    workdir: Path,
    database_url: str | None,
    schema: str | None,
    profile: Path | None,
) -> subprocess.Popen[bytes]:
    args = ["serve", kind, str(port), database_url or "", schema or "", str(profile or "")]
    return subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "benchmarks.exchange", *args],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _token(workdir: Path, partner: str) -> str:
    """An access token for ``partner``, signed with the gateway's token key, as the token endpoint
    issues them (the endpoint itself is not what is measured)."""
    key = load_or_create_key(workdir / "oauth-token-key.pem")
    return issue(key, partner, now=time.time(), lifetime=3600).value


async def _seed(base: str, workdir: Path) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base}/csc/messages",
            data=CHILD_STATUS.read_bytes(),
            headers={
                "Authorization": f"Bearer {_token(workdir, COUNCIL)}",
                "Content-Type": "application/json",
            },
        ) as response,
    ):
        if response.status != 202:
            raise RuntimeError(f"seeding failed: {response.status} {await response.text()}")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _unreachable(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used (the error's class only), or None."""
    try:
        conn = await asyncpg.connect(_dsn(url), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        # SECURITY: the class only; a driver's message can quote the connection string.
        return type(exc).__name__
    await conn.close()
    return None


@contextlib.asynccontextmanager
async def _postgres_schema(url: str) -> AsyncIterator[str]:
    """A new, empty schema on ``url``, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


@dataclass(frozen=True, slots=True)
class Options:
    """How to load each server."""

    requests: int = 3000
    concurrency: int = 32
    idempotency: bool = True  # send an Idempotency-Key with every request, as partners should
    profile_dir: Path | None = None


async def _one(
    kind: str,
    opts: Options,
    database_url: str | None = None,
    schema: str | None = None,
    profile: Path | None = None,
) -> Figures:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        workdir = Path(tmp)
        if kind == "gateway":
            load_or_create_key(workdir / "oauth-token-key.pem")  # before the server reads it
        process = _start(kind, port, workdir, database_url, schema, profile)
        try:
            async with aiohttp.ClientSession() as session:
                await _wait_ready(session, f"{base}/_ping" if kind == "gateway" else base)
            headers = {"Content-Type": "application/fhir+json"}
            if kind == "gateway":
                await _seed(base, workdir)
                headers["Authorization"] = f"Bearer {_token(workdir, TRUST)}"
            ids = ("X-Request-ID", "Idempotency-Key") if opts.idempotency else ("X-Request-ID",)
            load = Load(
                f"{base}{DOOR}", CRISIS.read_bytes(), headers, ids if kind == "gateway" else ()
            )
            return await measure(
                load, opts.requests, opts.concurrency, process.pid, profiling=profile is not None
            )
        finally:
            process.terminate()
            process.wait(timeout=30)


async def run(opts: Options, backends: Sequence[str], database: str | None) -> dict[str, Figures]:
    """Measure the echo and the gateway on each backend, in this run; return them all."""
    profile_dir = opts.profile_dir
    results: dict[str, Figures] = {"echo": await _one("echo", opts)}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            profile = (profile_dir / f"{backend}.prof").resolve() if profile_dir else None
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                results[backend] = await _one("gateway", opts, url, None, profile)
                continue
            url = database or PG_URL
            unreachable = await _unreachable(url)
            if unreachable is not None:
                print(f"!!! PostgreSQL unreachable ({unreachable}): not measured")
                continue
            async with _postgres_schema(url) as schema:
                results[backend] = await _one("gateway", opts, url, schema, profile)
    return results


def profile_summary(path: Path, top: int = 25) -> str:
    """The functions with the most time of their own, and the most time under them."""
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> None:
    """Run and print the figures."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        kind, port, url, schema, profile = (*argv[1:6], "", "", "", "")[:5]
        _serve(kind, int(port), url, schema, profile)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument("--database", help="PostgreSQL URL (default: JOINEDUP_TEST_POSTGRES_URL)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="cProfile each gateway")
    parser.add_argument(
        "--no-idempotency-key",
        action="store_true",
        help="send no Idempotency-Key (to see what the idempotency record costs)",
    )
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    opts = Options(args.requests, args.concurrency, not args.no_idempotency_key, args.profile)
    results = asyncio.run(run(opts, backends, args.database))
    echo = results["echo"]
    print(
        f"crisis message: {CRISIS.stat().st_size} bytes; {args.requests} requests, "
        f"concurrency {args.concurrency}; Idempotency-Key "
        f"{'on every request' if opts.idempotency else 'not sent'}"
    )
    for name, f in results.items():
        print(
            f"{name:10} peak {f.peak_rps:8.0f} req/s ({f.peak_rps / echo.peak_rps:.3f} of echo) | "
            f"at half peak ({f.paced_rps:6.0f} req/s): p50 {f.p50_ms:6.2f} ms, p99 "
            f"{f.p99_ms:6.2f} ms | server CPU {f.cpu_ms_per_request:.3f} ms/request "
            f"(event loop {f.loop_cpu_ms:.3f}, other threads {f.other_cpu_ms:.3f})"
        )
    for name in [b for b in backends if b in results]:
        f = results[name]
        print(
            f"{name}: throughput {f.peak_rps / echo.peak_rps:.3f} of echo (target >= 0.25); "
            f"p99 at half of its peak {f.p99_ms:.2f} ms (target <= 20 ms)"
        )
        if args.profile:
            path = args.profile / f"{name}.prof"
            summary = profile_summary(path)
            (args.profile / f"{name}.txt").write_text(summary, encoding="utf-8")
            print(f"{name}: profile in {path} (summary: {path.with_suffix('.txt')})")


if __name__ == "__main__":
    main()
