"""``/metrics`` after real exchanges: requests by route template and status, decisions, delivery
attempts, dead letters, outbox depth and age, ledger size and checkpoint age; and no label value
anywhere in the exposition is an identifier, a uuid or an exchange id."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from gateway.routes.receipts import CHECKPOINTER
from gateway.settings import DeliverySettings
from tests.conftest import TRUST_KEY, Database
from tests.delivery_helpers import Family, introduce, rows, send_crisis, until
from tests.gateway_harness import Harness, start_harness

DEAD, DELIVERED = Family(50), Family(51)
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
NHS_LIKE = re.compile(r"(?<!\d)\d{3} ?\d{3} ?\d{4}(?!\d)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
DELIVERY = DeliverySettings(poll_interval=0.02, backoff_base=0.01, backoff_cap=0.02, max_attempts=1)


def _sample(exposition: str, name: str, **labels: str) -> float:
    """The value of the one sample of ``name`` with exactly ``labels``."""
    for line in exposition.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        series, value = line.rsplit(" ", 1)
        if dict(LABEL.findall(series[len(name) :])) == labels:
            return float(value)
    raise AssertionError(f"no sample {name}{labels} in the exposition")


async def _story(h: Harness) -> tuple[list[str], dict[str, int]]:
    """A dead letter for one mother, a delivery for another, a refusal at the door, a look-up, a
    request for an unknown path and a review page; return every id the gateway handed out and
    the statuses of the refusal and the look-up."""
    await introduce(h, DEAD, DELIVERED)
    handed_out = [await send_crisis(h, DEAD)]

    async def dead() -> bool:
        return ["dead"] == [r["status"] for r in await rows(h.engine)]

    await until(dead, what="the first delivery's dead-lettering")
    handed_out.append(await send_crisis(h, DELIVERED))
    await h.council.wait_for(1)

    async def delivered() -> bool:
        return ["dead", "delivered"] == [r["status"] for r in await rows(h.engine)]

    await until(delivered, what="the second delivery")
    for row in await rows(h.engine):
        handed_out += [row["id"], row["exchange_id"], row["disclosure_id"], row["request_id"]]
    # The trust sending a council's message: refused at the door (403, or 401 for a door that
    # only councils may use).
    refused = await h.post_csc(DELIVERED.child_status(), key=TRUST_KEY)
    assert refused.status in (401, 403)
    lookup = await h.client.get(
        "/api/v1/workers",
        params={"identifier": f"https://fhir.nhs.uk/Id/nhs-number|{DEAD.child_nhs}"},
        headers={"Authorization": f"Bearer {TRUST_KEY}"},
    )
    assert 404 == (await h.client.get(f"/patients/{DEAD.mother_nhs}")).status
    person = handed_out[2]
    review = await h.client.get(f"/review/persons/{person}", allow_redirects=False)
    assert 303 == review.status
    size = len(await h.entries())
    await h.client.app[CHECKPOINTER].on_demand(size)
    return handed_out, {"refused": refused.status, "lookup": lookup.status}


async def test_metrics_after_real_exchanges(aiohttp_client: Any, database: Database) -> None:
    """Every family of metric is there, with the counts the story produced."""
    async for h in start_harness(aiohttp_client, database, council_fail_first=1, delivery=DELIVERY):
        _, statuses = await _story(h)
        exposition = await (await h.client.get("/metrics")).text()
        fhir = {"method": "POST", "route": "/fhir/$process-message", "status": "202"}
        assert 2 == _sample(exposition, "joinedup_http_requests_total", **fhir)
        assert 2 == _sample(exposition, "joinedup_http_request_duration_seconds_count", **fhir)
        assert 2 == _sample(
            exposition,
            "joinedup_http_requests_total",
            method="POST",
            route="/csc/messages",
            status="202",
        )
        assert 1 == _sample(
            exposition,
            "joinedup_http_requests_total",
            method="POST",
            route="/csc/messages",
            status=str(statuses["refused"]),
        )
        assert 1 == _sample(
            exposition,
            "joinedup_http_requests_total",
            method="GET",
            route="/api/v1/workers",
            status=str(statuses["lookup"]),
        )
        unmatched = {"method": "GET", "route": "(unmatched)", "status": "404"}
        assert 1 == _sample(exposition, "joinedup_http_requests_total", **unmatched)
        review = {"method": "GET", "route": "/review/persons/{person_id}", "status": "303"}
        assert 1 == _sample(exposition, "joinedup_http_requests_total", **review)
        assert 2 == _sample(
            exposition, "joinedup_decisions_total", outcome="permit", reason_code="flow-permits"
        )
        assert 4 == _sample(exposition, "joinedup_exchanges_total", kind="child-status") + _sample(
            exposition, "joinedup_exchanges_total", kind="crisis-event"
        )
        council = {"partner": "council-demo"}
        assert 1 == _sample(
            exposition, "joinedup_delivery_attempts_total", **council, outcome="dead"
        )
        assert 1 == _sample(
            exposition, "joinedup_delivery_attempts_total", **council, outcome="delivered"
        )
        assert 2 == _sample(exposition, "joinedup_delivery_attempt_seconds_count", **council)
        assert 1 == _sample(
            exposition,
            "joinedup_delivery_dead_lettered_total",
            **council,
            reason="max-attempts",
        )
        assert 1 == _sample(exposition, "joinedup_dead_letters", **council)
        assert 1 == _sample(exposition, "joinedup_outbox_rows", **council, status="dead")
        assert 0 == _sample(exposition, "joinedup_outbox_rows", **council, status="pending")
        assert 0 == _sample(exposition, "joinedup_outbox_rows", partner="trust-demo", status="dead")
        assert 0 < _sample(
            exposition, "joinedup_outbox_oldest_age_seconds", **council, status="dead"
        )
        entries = _sample(exposition, "joinedup_ledger_entries")
        assert entries >= 10
        assert 0 < _sample(exposition, "joinedup_ledger_checkpoint_size") <= entries
        assert 0 <= _sample(exposition, "joinedup_ledger_checkpoint_age_seconds") < 60
        assert 1 == _sample(exposition, "joinedup_metrics_database_up")
        assert 0 < _sample(exposition, "joinedup_ledger_commit_batches_total")
        assert 0 < _sample(exposition, "joinedup_ledger_committed_units_total")


async def test_no_label_value_is_an_identifier(aiohttp_client: Any, database: Database) -> None:
    """Over the whole exposition: no label value shaped like an NHS number or a uuid, and none of
    the ids the story handed out, nor its NHS numbers or LA child ids, anywhere at all."""
    async for h in start_harness(aiohttp_client, database, council_fail_first=1, delivery=DELIVERY):
        handed_out, _ = await _story(h)
        exposition = await (await h.client.get("/metrics")).text()
        values = [value for _, value in LABEL.findall(exposition)]
        assert len(values) > 50
        assert not [v for v in values if UUID.search(v) or NHS_LIKE.search(v)]
        assert not UUID.search(exposition)
        planted = [DEAD.mother_nhs, DEAD.child_nhs, DELIVERED.mother_nhs, DELIVERED.child_nhs]
        planted += [DEAD.la_child_id, DELIVERED.la_child_id, *handed_out]
        assert not [p for p in planted if p in exposition]


async def test_a_scrape_still_answers_when_the_database_does_not(h: Harness) -> None:
    """The state metrics are left out and joinedup_metrics_database_up says 0."""
    async with h.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE outbox RENAME TO outbox_away"))
    try:
        response = await h.client.get("/metrics")
        exposition = await response.text()
    finally:
        async with h.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE outbox_away RENAME TO outbox"))
    assert 200 == response.status
    assert 0 == _sample(exposition, "joinedup_metrics_database_up")
    assert "joinedup_outbox_rows" not in exposition
    assert 0 == _sample(exposition, "joinedup_ledger_committed_units_total")  # still counted
