"""Crisis-notice exchanges per second through the whole pipeline, against a bare aiohttp echo.

    python -m benchmarks.exchange [--requests N] [--concurrency C] [--database URL]

Both servers run in their own process on loopback; this process is the load generator. For each
server it measures peak throughput (closed loop, C concurrent clients) and then p50/p99 latency at
half of that server's peak rate (open loop, paced). Figures are reported as ratios to the echo
measured in the same run, since absolute numbers depend on the machine. Loops are bounded in count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.servers import COUNCIL_KEY, TRUST_KEY

REPO = Path(__file__).resolve().parent.parent
CRISIS = REPO / "deploy" / "demo" / "messages" / "crisis-s136.json"
CHILD_STATUS = REPO / "deploy" / "demo" / "messages" / "child-status-999.json"


@dataclass(frozen=True, slots=True)
class Figures:
    """One server's results."""

    peak_rps: float
    p50_ms: float
    p99_ms: float
    paced_rps: float
    cpu_ms_per_request: float  # the server process's own CPU time over the peak run


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with session.post(url, data=b"{}") as response:
                await response.read()
                return
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


async def _closed_loop(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], n: int, c: int
) -> float:
    remaining = n
    statuses: list[int] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses.append(response.status)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(c)))
    elapsed = time.perf_counter() - started
    if any(s >= 300 for s in statuses):
        raise RuntimeError(f"unexpected statuses: {sorted(set(statuses))}")
    return n / elapsed


async def _open_loop(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    rate: float,
    n: int,
) -> tuple[list[float], float]:
    latencies: list[float] = []

    async def one() -> None:
        started = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as response:
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


async def measure(
    url: str, body: bytes, headers: dict[str, str], n: int, c: int, pid: int
) -> Figures:
    """Peak (closed loop), then latency at half the peak rate (open loop)."""
    connector = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _closed_loop(session, url, body, headers, min(n, 500), c)  # warm-up
        cpu = _cpu_seconds(pid)
        peak = await _closed_loop(session, url, body, headers, n, c)
        cpu = _cpu_seconds(pid) - cpu
        latencies, paced = await _open_loop(session, url, body, headers, peak / 2, n)
    qs = statistics.quantiles(latencies, n=100)
    return Figures(peak, qs[49], qs[98], paced, cpu / n * 1000)


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "benchmarks.servers", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


async def _seed(base: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base}/csc/messages",
            data=CHILD_STATUS.read_bytes(),
            headers={"Authorization": f"Bearer {COUNCIL_KEY}", "Content-Type": "application/json"},
        ) as response,
    ):
        if response.status != 202:
            raise RuntimeError(f"seeding failed: {response.status} {await response.text()}")


async def run(n: int, c: int, database: str | None) -> dict[str, Figures]:
    """Measure echo and gateway in this run; return both."""
    body = CRISIS.read_bytes()
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db_url = database or f"sqlite+aiosqlite:///{tmp}/bench.db"
        for kind in ("echo", "gateway"):
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            process = _start([kind, str(port)] + ([db_url] if kind == "gateway" else []))
            try:
                async with aiohttp.ClientSession() as session:
                    await _wait_ready(session, f"{base}/fhir/$process-message")
                headers = {"Content-Type": "application/fhir+json"}
                if kind == "gateway":
                    await _seed(base)
                    headers["Authorization"] = f"Bearer {TRUST_KEY}"
                results[kind] = await measure(
                    f"{base}/fhir/$process-message", body, headers, n, c, process.pid
                )
            finally:
                process.terminate()
                process.wait(timeout=30)
    return results


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    results = asyncio.run(run(args.requests, args.concurrency, args.database))
    echo, gateway = results["echo"], results["gateway"]
    print(
        f"crisis message: {CRISIS.stat().st_size} bytes; {args.requests} requests, concurrency {args.concurrency}"
    )
    for name, f in results.items():
        print(
            f"{name:8} peak {f.peak_rps:8.0f} req/s | at half peak ({f.paced_rps:6.0f} req/s): "
            f"p50 {f.p50_ms:6.2f} ms, p99 {f.p99_ms:6.2f} ms | server CPU "
            f"{f.cpu_ms_per_request:.3f} ms/request"
        )
    ratio = gateway.peak_rps / echo.peak_rps
    print(f"gateway/echo throughput ratio: {ratio:.3f} (target >= 0.25)")
    print(f"gateway p99 at half of its peak: {gateway.p99_ms:.2f} ms (target <= 20 ms)")


if __name__ == "__main__":
    main()
