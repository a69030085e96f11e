"""``/_status``: a partner whose deliveries fail is ``warn``, named by its partner id, never
``fail``; ``fail`` (503) is for the gateway's own dependencies: the database and the ledger
writer."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from gateway.appkeys import SERVICES
from gateway.settings import DeliverySettings
from tests.conftest import Database
from tests.delivery_helpers import Family, introduce, rows, send_crisis, until
from tests.gateway_harness import Harness, start_harness

MOTHER = Family(40)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TEN_DIGITS = re.compile(r"(?<!\d)\d{10}(?!\d)")


async def _status(h: Harness) -> tuple[int, dict[str, Any], str]:
    response = await h.client.get("/_status")
    raw = await response.text()
    assert "application/health+json" == response.content_type
    return response.status, await response.json(content_type=None), raw


def _partners(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["componentId"]: c for c in body["checks"]["partner:deliveries"]}


async def _failing(h: Harness, status: str, attempts: int) -> None:
    async def reached() -> bool:
        found = await rows(h.engine)
        return bool(found) and found[0]["status"] == status and found[0]["attempts"] >= attempts

    await until(reached, what=f"a {status} row after {attempts} attempt(s)")


async def test_a_partner_whose_deliveries_fail_is_warn_by_name(
    aiohttp_client: Any, database: Database
) -> None:
    """The council refuses every delivery: warn, the council named by its id with counts only;
    the other partners pass; the gateway's own checks pass; nothing identifying in the body."""
    async for h in start_harness(aiohttp_client, database, council_fail_first=10**6):
        code, body, _ = await _status(h)
        assert (200, "pass") == (code, body["status"])
        await introduce(h, MOTHER)
        await send_crisis(h, MOTHER)
        await _failing(h, "pending", 2)
        code, body, raw = await _status(h)
        assert (200, "warn") == (code, body["status"])
        partners = _partners(body)
        council = partners["council-demo"]
        assert ("warn", "partner") == (council["status"], council["componentType"])
        assert council["output"].startswith("deliveries to council-demo are failing: 1 retrying")
        assert council["observedValue"] >= 0
        assert "pass" == partners["trust-demo"]["status"] == partners["council-other"]["status"]
        for check in ("database:responseTime", "ledger:writer", "ledger:entries"):
            assert "pass" == body["checks"][check][0]["status"], check
        assert not UUID.search(raw)
        assert not TEN_DIGITS.search(raw)
        assert MOTHER.la_child_id not in raw


async def test_a_dead_letter_is_warn_with_the_partner_named(
    aiohttp_client: Any, database: Database
) -> None:
    """A dead-lettered delivery: warn (outbox:dead and the council), not fail."""
    delivery = DeliverySettings(
        poll_interval=0.02, backoff_base=0.01, backoff_cap=0.02, max_attempts=1
    )
    async for h in start_harness(aiohttp_client, database, council_fail_first=1, delivery=delivery):
        await introduce(h, MOTHER)
        await send_crisis(h, MOTHER)
        await _failing(h, "dead", 1)
        code, body, _ = await _status(h)
        assert (200, "warn") == (code, body["status"])
        assert ("warn", 1) == (
            body["checks"]["outbox:dead"][0]["status"],
            body["checks"]["outbox:dead"][0]["observedValue"],
        )
        assert _partners(body)["council-demo"]["output"].endswith("0 retrying, 1 dead-lettered")


async def test_a_stopped_ledger_writer_is_fail(h: Harness) -> None:
    """The group committer cannot commit: fail, 503, naming the ledger writer."""
    await h.client.app[SERVICES].committer.stop()
    code, body, _ = await _status(h)
    assert (503, "fail") == (code, body["status"])
    writer = body["checks"]["ledger:writer"][0]
    assert ("fail", "the ledger writer cannot commit") == (writer["status"], writer["output"])
    assert "pass" == body["checks"]["database:responseTime"][0]["status"]


async def test_a_database_that_does_not_answer_is_fail(h: Harness) -> None:
    """The database fails the status queries: fail, 503, without detail."""
    async with h.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE ledger_head RENAME TO ledger_head_away"))
    try:
        code, body, raw = await _status(h)
    finally:
        async with h.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE ledger_head_away RENAME TO ledger_head"))
    assert (503, "fail") == (code, body["status"])
    assert [{"status": "fail", "output": "database unreachable"}] == body["checks"][
        "database:responseTime"
    ]
    assert "ledger_head" not in raw
