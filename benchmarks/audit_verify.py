"""`joinedup audit verify` throughput against raw SHA-256 over the same entry bytes, same run.

    python -m benchmarks.audit_verify [--entries N] [--every C] [--database URL]
                                      [--postgres URL | --no-postgres]

Builds a ledger of N entries (default 100,000) through the real commit path, with a signed
checkpoint every C entries copied to a checkpoint directory (``benchmarks/ledger_builder.py``),
then times, on that one ledger:

* ``sha256``: ``hashlib.sha256`` over every entry's bytes, already in memory: the floor (the
  baseline);
* ``read``: streaming the entries out of the database in the verifier's batches, nothing else;
* ``verify``: ``verify_ledger`` exactly as ``joinedup audit verify`` runs it: chain, canonical
  form, the tree recomputed and compared with every stored node, every checkpoint's signature,
  root and consistency, truncation against the checkpoint directory.

On SQLite (a temporary file, or ``--database``), then on PostgreSQL in a fresh schema if it can be
reached (``--postgres``, default the test server). Entries per second and ratios to the SHA-256
rate are printed; the build's own rate (the group committer, tree included) is shown too.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from benchmarks.ledger_builder import build_ledger
from gateway.audit.verify import BATCH, verify_ledger
from gateway.logging import configure_logging
from gateway.store.engine import create_engine
from gateway.store.tables import ledger

DEFAULT_POSTGRES = os.environ.get(
    "JOINEDUP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def _entries(url: str, schema: str | None) -> tuple[list[bytes], float]:
    """Every entry's bytes, and how long streaming them in the verifier's batches took."""
    engine = create_engine(url, schema=schema)
    found: list[bytes] = []
    started = time.perf_counter()
    try:
        async with engine.connect() as conn:
            after = 0
            while True:
                rows = (
                    await conn.execute(
                        select(ledger.c.seq, ledger.c.entry)
                        .where(ledger.c.seq > after)
                        .order_by(ledger.c.seq)
                        .limit(BATCH)
                    )
                ).all()
                if not rows:
                    break
                found.extend(r[1].encode() for r in rows)
                after = rows[-1][0]
    finally:
        await engine.dispose()
    return found, time.perf_counter() - started


def _sha256(entries: list[bytes]) -> float:
    started = time.perf_counter()
    for entry in entries:
        hashlib.sha256(entry).digest()
    return time.perf_counter() - started


async def _run(name: str, url: str, schema: str | None, entries: int, every: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "checkpoints"
        started = time.perf_counter()
        built = await build_ledger(url, schema, entries, every=every, directory=directory)
        build = time.perf_counter() - started
        data, read = await _entries(url, schema)
        sha = min(_sha256(data) for _ in range(3))
        engine = create_engine(url, schema=schema)
        try:
            async with engine.connect() as conn:
                started = time.perf_counter()
                verdict = await verify_ledger(
                    conn,
                    verifiers=[built.signer.verifier],
                    checkpoint_dir=directory,
                    origin=built.signer.name,
                )
                verify = time.perf_counter() - started
        finally:
            await engine.dispose()
    if not verdict.intact or verdict.checkpoints != len(built.checkpoints):
        raise SystemExit(f"{name}: the built ledger did not verify: {verdict}")
    size = sum(len(d) for d in data) / len(data)
    print(
        f"\n{name}: {entries:,} entries (mean {size:,.0f} bytes), {len(built.checkpoints)} checkpoints"
    )
    print(f"  {'':28} {'entries/s':>12} {'µs/entry':>10} {'ratio to sha256':>16}")
    for label, seconds in (
        ("sha256 of the entry bytes", sha),
        ("read (stream the entries)", read),
        ("audit verify", verify),
        ("build (group committer)", build),
    ):
        rate = entries / seconds
        print(
            f"  {label:28} {rate:>12,.0f} {seconds / entries * 1e6:>10.2f} {sha / seconds:>16.4f}"
        )


async def _postgres_schema(url: str) -> str | None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"\nPostgreSQL not reachable at {url} ({type(exc).__name__}): skipped")
        return None
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    return schema


async def _drop(url: str, schema: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def _main(args: argparse.Namespace) -> None:
    print(
        f"audit verify benchmark on {platform.python_implementation()} {platform.python_version()}"
    )
    if args.database:
        await _run("database", args.database, None, args.entries, args.every)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}"
            await _run("SQLite", url, None, args.entries, args.every)
    if args.no_postgres:
        return
    schema = await _postgres_schema(args.postgres)
    if schema is None:
        return
    try:
        await _run("PostgreSQL", args.postgres, schema, args.entries, args.every)
    finally:
        await _drop(args.postgres, schema)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=1000, help="checkpoint every C entries")
    parser.add_argument("--database", help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL URL")
    parser.add_argument("--no-postgres", action="store_true")
    configure_logging("warning", "console")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
