"""Daily archives and exports over a large ledger, against raw hashing of the same bytes.

    python -m benchmarks.audit_exports [--entries N] [--database-url URL]

Fills a fresh database (a temporary SQLite file unless ``--database-url`` names another, which
must be empty) with N entries stamped on one past day, through the group committer as the gateway
writes them (hash chain, Merkle tree, search index): a realistic mix of receipts, decisions
(permit and refuse, with withheld elements and two people each) and delivery attempts. Then times:

* ``sha256``: SHA-256 over every entry's bytes, in memory (the floor: each step below hashes
  every entry at least once);
* ``archive``: ``write_archive`` for that day (read every row, check its chain, gzip it);
* ``verify-archive``: ``verify_archives`` on the file (decompress, check chain, canonical JSON,
  hashes, manifest, and rebuild the Merkle tree);
* ``export csv`` and ``export fhir``: ``select_entries`` for the day, then ``render`` (the FHIR
  Bundle as JSON), without recording the export.

Each step runs with the cyclic garbage collector paused, as the commands do.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import platform
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from gateway.audit.archive import verify_archives, write_archive
from gateway.audit.events import (
    AuditEvent,
    DeliveryAttempted,
    DisclosureDecided,
    ExchangeReceived,
    WithheldRef,
)
from gateway.audit.export_query import gc_paused, render, select_entries
from gateway.store import migrate
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.tables import ledger

DAY = date(2026, 11, 1)


def _exchange(i: int) -> list[AuditEvent]:
    """One crisis exchange's entries: receipt, a permit, a refusal, a delivery."""
    at = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(seconds=i % 86_000)
    common = {
        "at": at,
        "request_id": str(uuid.uuid4()),
        "exchange_id": str(uuid.uuid4()),
        "partner": "trust-demo",
    }
    parent, child = str(uuid.uuid4()), str(uuid.uuid4())
    disclosure = str(uuid.uuid4())
    decided = {
        "reason_code": "flow-permits",
        "explanation": "Permitted by flow crisis-notice of agreement demo-trust-council v1.",
        "kind": "crisis-event",
        "agreement_id": "demo-trust-council",
        "agreement_version": 1,
        "flow_id": "crisis-notice",
        "purpose": "crisis-response",
        "lawful_basis": "art6(1)(e)+art9(2)(h)+sch1-para2",
        "person_ids": tuple(sorted((parent, child))),
    }
    return [
        ExchangeReceived(
            **common,
            kind="crisis-event",
            sender_organisation="RX9",
            source_message_id_sha256="a" * 64,
            body_sha256="b" * 64,
            person_ids=(parent,),
        ),
        DisclosureDecided(
            **common,
            **decided,
            outcome="permit",
            recipient_partner="council-demo",
            recipient_organisation="999",
            disclosure_id=disclosure,
            disclosed=("crisis-event", "person.name", "worker-role"),
            withheld=(
                WithheldRef(element="diagnosis", reason_code="sensitivity-label"),
                WithheldRef(element="crisis-event.location", reason_code="sensitivity-label"),
            ),
            body_sha256="c" * 64,
        ),
        DisclosureDecided(
            **(common | {"at": at}),
            **(decided | {"reason_code": "no-agreement", "agreement_id": None}),
            outcome="refuse",
            recipient_partner=None,
            recipient_organisation="998",
        ),
        DeliveryAttempted(
            **common,
            outbox_id=str(uuid.uuid4()),
            disclosure_id=disclosure,
            attempt=1,
            outcome="delivered",
            status_code=202,
        ),
    ]


def _unit(i: int) -> UnitOfWork:
    return UnitOfWork(events=lambda: _exchange(i))


async def _fill(url: str, schema: str | None, entries: int) -> None:
    engine = create_engine(url, schema=schema)
    await migrate.upgrade(engine)
    await engine.dispose()
    writer = create_sync_engine_for(url, schema=schema)
    committer = GroupCommitter(writer)
    await committer.start()
    try:
        exchanges = entries // 4
        for start in range(0, exchanges, 2000):
            units = [_unit(i) for i in range(start, min(start + 2000, exchanges))]
            await asyncio.gather(*(committer.submit(u) for u in units))
    finally:
        await committer.stop()
        writer.dispose()


def _timed(label: str, count: int, seconds: float, floor: float | None) -> None:
    ratio = f"{floor / seconds:.3f}" if floor else "1"
    print(
        f"{label:16} {count / seconds:>12,.0f} entries/s {seconds:8.2f} s  ratio to sha256 {ratio}"
    )


async def run(entries: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        await _fill(url, None, entries)
        print(
            f"filled {entries:,} entries in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})"
        )
        sync = create_sync_engine_for(url)
        with sync.connect() as conn:
            stored = [r[0].encode() for r in conn.execute(select(ledger.c.entry))]
        count = len(stored)
        t0 = time.perf_counter()
        for entry in stored:
            hashlib.sha256(entry).digest()
        floor = time.perf_counter() - t0
        _timed("sha256", count, floor, None)

        out = Path(tmp) / "archives"
        out.mkdir()
        t0 = time.perf_counter()
        with sync.connect() as conn, gc_paused():
            written = write_archive(conn, DAY, out)
        _timed("archive", count, time.perf_counter() - t0, floor)
        size = written.path.stat().st_size
        print(f"{'':16} archive file {size / 1e6:.1f} MB, {size / count:.0f} bytes/entry")
        t0 = time.perf_counter()
        with gc_paused():
            code, _ = verify_archives([written.path])
        assert code == 0
        _timed("verify-archive", count, time.perf_counter() - t0, floor)
        sync.dispose()

        engine = create_engine(url)
        start = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
        for kind in ("csv", "fhir"):
            t0 = time.perf_counter()
            with gc_paused():
                async with engine.connect() as conn:
                    selection = await select_entries(
                        conn, start=start, end=start + timedelta(days=1)
                    )
                body = render(kind, selection, gateway_name="bench")
            _timed(f"export {kind}", count, time.perf_counter() - t0, floor)
            print(f"{'':16} {len(body) / 1e6:.1f} MB")
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()} on {platform.machine()}, {sys.platform}")
    asyncio.run(run(args.entries, args.database_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
