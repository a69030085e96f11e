"""Delivery: retries with backoff through a partner outage, dead-lettering, audit of every attempt."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from gateway.delivery import backoff_delay
from gateway.settings import DeliverySettings
from gateway.store.tables import outbox
from tests.conftest import Database
from tests.gateway_harness import Harness, child_status, crisis_bundle, start_harness


async def _status(h: Harness) -> tuple[str, int]:
    async with h.engine.connect() as conn:
        row = (await conn.execute(select(outbox.c.status, outbox.c.attempts))).one()
    return str(row[0]), int(row[1])


async def _until(h: Harness, status: str) -> tuple[str, int]:
    for _ in range(250):
        found = await _status(h)
        if found[0] == status:
            return found
        await asyncio.sleep(0.02)
    return await _status(h)


async def test_delivery_survives_a_partner_outage(aiohttp_client: Any, database: Database) -> None:
    """The council's system fails twice; the third attempt delivers; all three are audited."""
    async for h in start_harness(aiohttp_client, database, council_fail_first=2):
        await h.post_csc(child_status())
        await h.post_fhir(crisis_bundle())
        await h.council.wait_for(1)
        assert ("delivered", 3) == await _until(h, "delivered")
        attempts = [e for e in await h.entries() if e["event"] == "delivery.attempted"]
        assert [("retry", 503), ("retry", 503), ("delivered", 202)] == [
            (e["outcome"], e["status_code"]) for e in attempts
        ]
        keys = {r.idempotency_key for r in h.council.received}
        assert 1 == len(keys)


async def test_undeliverable_is_dead_lettered(aiohttp_client: Any, database: Database) -> None:
    """After max_attempts failures the row is dead, its body kept for replay, and it is audited."""
    delivery = DeliverySettings(
        poll_interval=0.02, backoff_base=0.01, backoff_cap=0.02, max_attempts=3
    )
    async for h in start_harness(
        aiohttp_client, database, council_fail_first=100, delivery=delivery
    ):
        await h.post_csc(child_status())
        await h.post_fhir(crisis_bundle())
        assert ("dead", 3) == await _until(h, "dead")
        async with h.engine.connect() as conn:
            body = (await conn.execute(select(outbox.c.body))).scalar_one()
        assert body
        outcomes = [e["outcome"] for e in await h.entries() if e["event"] == "delivery.attempted"]
        assert ["retry", "retry", "dead"] == outcomes
        status = await (await h.client.get("/_status")).json(content_type=None)
        assert "warn" == status["status"]
        assert 1 == status["checks"]["outbox:dead"][0]["observedValue"]


def test_backoff_is_capped_with_full_jitter() -> None:
    """Backoff grows exponentially, never beyond the cap, and is never negative."""
    samples = [backoff_delay(attempt, 1.0, 10.0) for attempt in range(1, 12) for _ in range(50)]
    assert all(0 <= s <= 10.0 for s in samples)
    assert max(backoff_delay(1, 1.0, 10.0) for _ in range(200)) <= 1.0
    assert max(backoff_delay(4, 1.0, 10.0) for _ in range(500)) > 1.0  # grows with attempts


async def test_redirects_are_not_followed(aiohttp_client: Any, database: Database) -> None:
    """A 307 from the recipient is a failed attempt; the redirect target receives nothing."""
    async for h in start_harness(aiohttp_client, database, council_redirects=True):
        await h.post_csc(child_status())
        await h.post_fhir(crisis_bundle())
        for _ in range(250):
            attempts = [e for e in await h.entries() if e["event"] == "delivery.attempted"]
            if attempts:
                break
            await asyncio.sleep(0.02)
        assert ("retry", 307) == (attempts[0]["outcome"], attempts[0]["status_code"])
        assert [] == h.other.received
