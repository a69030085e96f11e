"""How fast the delivery worker drains an outbox backlog, by how the backlog is spread over
ordering keys, against a bare aiohttp endpoint answering 202.

    python -m benchmarks.delivery_drain [--rows N] [--keys K ...] [--postgres URL | --no-postgres]

For each K (default 1, 10 and 1,000 people), N sealed rows (default 2,000) are written straight
into the outbox of a real gateway (SQLite in a temporary file, then PostgreSQL in a fresh schema),
spread round-robin over K ordering keys, and the worker's ``run_once`` is called until the outbox
is empty. Printed: rows delivered per second, and the time of one claim (the ordered claim
statement alone) while the backlog was full; and, as the baseline measured in the same run, the
rate of the same POSTs to the same endpoint with nothing else, one at a time and 50 at a time. With one key every delivery waits for the previous
one's commit (one claim, one POST and one ledger commit per row); with many keys the claim takes up
to ``delivery.batch`` heads at once and their POSTs overlap.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from gateway.app import create_app
from gateway.appkeys import DELIVERY, SERVICES
from gateway.logging import configure_logging
from gateway.settings import DeliverySettings, PartnerSettings, Settings
from gateway.store.sealing import SealingSettings, new_key_line
from gateway.store.tables import outbox

DEFAULT_POSTGRES = os.environ.get(
    "JOINEDUP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
BODY = b'{"message_type": "crisis-notice", "padding": "' + b"x" * 6000 + b'"}'


async def _endpoint() -> tuple[web.AppRunner, str]:
    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/deliveries", accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/deliveries"


async def _baseline(rows: int, concurrency: int) -> float:
    """POSTs per second of the same body to the same kind of endpoint, nothing else."""
    runner, endpoint = await _endpoint()
    try:
        async with aiohttp.ClientSession() as session:

            async def post(count: int) -> None:
                for _ in range(count):
                    async with session.post(endpoint, data=BODY) as response:
                        await response.read()

            started = time.perf_counter()
            share = rows // concurrency
            await asyncio.gather(*(post(share) for _ in range(concurrency)))
            return share * concurrency / (time.perf_counter() - started)
    finally:
        await runner.cleanup()


async def _fill(app: web.Application, rows: int, keys: int) -> None:
    services = app[SERVICES]
    keyring = services.settings.sealing.keyring
    start = datetime.now(UTC) - timedelta(hours=1)
    values: list[dict[str, Any]] = []
    people = [str(uuid.uuid4()) for _ in range(keys)]
    for n in range(rows):
        row_id = str(uuid.uuid4())
        sealed, key_id = keyring.seal(BODY, outbox_id=row_id, partner="council-demo")
        values.append(
            {
                "id": row_id,
                "exchange_id": str(uuid.uuid4()),
                "disclosure_id": str(uuid.uuid4()),
                "partner": "council-demo",
                "request_id": str(uuid.uuid4()),
                "content_type": "application/json",
                "body": sealed,
                "body_key_id": key_id,
                "body_sha256": hashlib.sha256(BODY).hexdigest(),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": start,
                "lease_until": None,
                "last_error": None,
                "created_at": start + timedelta(microseconds=n),
                "delivered_at": None,
                "ordering_key": f"council-demo:{people[n % keys]}",
            }
        )
    async with services.engine.begin() as conn:
        for chunk in range(0, rows, 500):
            await conn.execute(insert(outbox), values[chunk : chunk + 500])


async def _run(url: str, schema: str | None, rows: int, keys: int, directory: Path) -> None:
    runner, endpoint = await _endpoint()
    key_file = directory / "sealing.key"
    if not key_file.exists():
        key_file.write_bytes(new_key_line())
    settings = Settings(
        database_url=url,
        database_schema=schema,
        partners=(
            PartnerSettings(
                id="council-demo",
                name="Bench council",
                organisations=("999",),
                format="csc",
                endpoint=endpoint,
            ),
        ),
        delivery=DeliverySettings(enabled=False),
        sealing=SealingSettings(key_file=key_file),
        log_level="warning",
    )
    app = create_app(settings)
    app_runner = web.AppRunner(app)
    await app_runner.setup()
    try:
        await _fill(app, rows, keys)
        worker = app[DELIVERY]
        claim_started = time.perf_counter()
        claimed = await worker._claim()  # the claim statement alone, timed
        claim_ms = (time.perf_counter() - claim_started) * 1000
        async with app[SERVICES].engine.begin() as conn:  # give the claimed rows back
            await conn.execute(
                outbox.update()
                .where(outbox.c.id.in_([c.id for c in claimed]))
                .values(lease_until=None)
            )
        started = time.perf_counter()
        done = 0
        while (attempted := await worker.run_once()) > 0:
            done += attempted
        seconds = time.perf_counter() - started
        async with app[SERVICES].engine.connect() as conn:
            left = (
                await conn.execute(
                    select(func.count()).where(outbox.c.status != "delivered").select_from(outbox)
                )
            ).scalar_one()
        print(
            f"  {keys:>5} key(s): {done:>6} delivered in {seconds:6.2f} s = "
            f"{done / seconds:7.0f} rows/s; claim with the backlog full {claim_ms:6.1f} ms "
            f"({len(claimed)} heads); left undelivered {left}"
        )
    finally:
        await app_runner.cleanup()
        await runner.cleanup()


async def _postgres_schema(url: str) -> str | None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"PostgreSQL unreachable ({type(exc).__name__}): skipped")
        return None
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    return schema


async def _drop(url: str, schema: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--keys", type=int, nargs="+", default=[1, 10, 1000])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    configure_logging("warning", "console")
    print(f"delivery drain: {args.rows} rows, {platform.python_version()}, {os.cpu_count()} CPUs")
    one, fifty = await _baseline(args.rows, 1), await _baseline(args.rows, 50)
    print(f"baseline, POSTs alone: one at a time {one:.0f}/s, 50 at a time {fifty:.0f}/s")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        print("SQLite:")
        for keys in args.keys:
            url = f"sqlite+aiosqlite:///{directory / f'drain-{keys}.db'}"
            await _run(url, None, args.rows, keys, directory)
        if not args.no_postgres:
            for keys in args.keys:
                schema = await _postgres_schema(args.postgres)
                if schema is None:
                    break
                if keys == args.keys[0]:
                    print("PostgreSQL:")
                try:
                    await _run(args.postgres, schema, args.rows, keys, directory)
                finally:
                    await _drop(args.postgres, schema)


if __name__ == "__main__":
    asyncio.run(main())
