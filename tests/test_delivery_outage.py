"""A sustained partner outage, in-process: the council's system answers 503 for 3 seconds while
30 crisis messages about 3 mothers arrive. Afterwards every delivery has been applied exactly once
(the council de-duplicates by Idempotency-Key and counts applications), in order per person, and
throughout the outage ``/_status`` said ``warn`` naming the council, never ``fail``."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.settings import DeliverySettings
from tests.conftest import Database, partners
from tests.delivery_helpers import Family, introduce, send_crisis, until, until_rows
from tests.gateway_harness import start_harness

OUTAGE_SECONDS = 3.0
MOTHERS = (Family(30), Family(31), Family(32))
EXCHANGES = 30


@dataclass
class CouncilSystem:
    """The council's inbound endpoint: down (503) until ``up_at``; then it applies each
    delivery once, recognising a repeat by its Idempotency-Key (and answering it 200)."""

    up_at: float = 0.0
    refused: int = 0
    applied: list[tuple[str, str]] = field(default_factory=list)  # (key, request id), in order
    applications: Counter[str] = field(default_factory=Counter)
    repeats: int = 0
    _runner: web.AppRunner | None = None

    async def _deliveries(self, request: web.Request) -> web.Response:
        await request.read()
        if time.monotonic() < self.up_at:
            self.refused += 1
            return web.Response(status=503, text="down for maintenance")
        key = request.headers.get("Idempotency-Key", "")
        if key in self.applications:
            self.repeats += 1
            return web.json_response({"status": "already applied"})
        self.applications[key] += 1
        self.applied.append((key, request.headers.get("X-Request-ID", "")))
        return web.json_response({"status": "applied"}, status=202)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/deliveries", self._deliveries)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}/deliveries"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def test_nothing_lost_and_order_kept_through_a_partner_outage(
    aiohttp_client: Any, database: Database
) -> None:
    """30 exchanges for 3 people during a 3 s outage: all applied once, in order per person."""
    council = CouncilSystem()
    url = await council.start()
    delivery = DeliverySettings(
        poll_interval=0.05, backoff_base=0.05, backoff_cap=0.4, max_attempts=1000
    )
    try:
        async for h in start_harness(
            aiohttp_client,
            database,
            delivery=delivery,
            partners=partners(**{"council-demo": url}),
        ):
            await introduce(h, *MOTHERS)
            council.up_at = time.monotonic() + OUTAGE_SECONDS
            sent: dict[str, list[str]] = {str(m.number): [] for m in MOTHERS}
            for n in range(EXCHANGES):
                mother = MOTHERS[n % len(MOTHERS)]
                sent[str(mother.number)].append(await send_crisis(h, mother))
            assert time.monotonic() < council.up_at, "the exchanges must arrive during the outage"

            async def refusing() -> bool:
                return council.refused >= len(MOTHERS)

            await until(refusing, what="the outage being felt")
            status = await h.client.get("/_status")
            body = await status.json(content_type=None)
            assert (200, "warn") == (status.status, body["status"])
            (council_check,) = [
                c
                for c in body["checks"]["partner:deliveries"]
                if c["componentId"] == "council-demo"
            ]
            assert "warn" == council_check["status"]
            assert "pass" == body["checks"]["ledger:writer"][0]["status"]

            async def all_applied() -> bool:
                return len(council.applied) >= EXCHANGES

            await until(all_applied, seconds=OUTAGE_SECONDS + 20, what="every delivery")

            stored = await until_rows(
                h.engine,
                lambda found: {"delivered"} == {r["status"] for r in found},
                what="every delivery recorded",
            )
            assert EXCHANGES == len(stored)
            assert {r["id"] for r in stored} == set(council.applications)
            assert {1} == set(council.applications.values())
            assert all(r["body"] is None for r in stored)
            order = [rid for _, rid in council.applied]
            for number, ids in sent.items():
                assert ids == [rid for rid in order if rid in ids], f"order for mother {number}"
            # Only each person's oldest delivery was tried while the council was down.
            retried = {r["request_id"] for r in stored if r["attempts"] > 1}
            assert retried <= {ids[0] for ids in sent.values()}
            assert council.refused >= len(MOTHERS)
            after = await (await h.client.get("/_status")).json(content_type=None)
            assert "pass" == after["status"]
            assert (await h.verify()).intact
    finally:
        await council.stop()
