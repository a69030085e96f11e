"""Ops endpoints and the privacy of logs and metrics across a whole exchange."""

from __future__ import annotations

import io
import re

import orjson
import structlog

from gateway.logging import processors
from tests.gateway_harness import Harness, child_status, crisis_bundle

PLANTED = ("9000000009", "9000000017")


async def test_ping(h: Harness) -> None:
    """/_ping answers without touching dependencies."""
    response = await h.client.get("/_ping")
    assert (200, "pass") == (response.status, (await response.json())["status"])


async def test_status_reports_database_ledger_and_outbox(h: Harness) -> None:
    """/_status is application/health+json with database, ledger and outbox checks."""
    await h.post_csc(child_status())
    response = await h.client.get("/_status")
    assert "application/health+json" == response.content_type
    body = await response.json(content_type=None)
    assert "pass" == body["status"]
    assert {
        "database:responseTime",
        "ledger:writer",
        "ledger:entries",
        "outbox:lag",
        "outbox:pending",
        "outbox:dead",
        "partner:deliveries",
    } == set(body["checks"])
    assert body["checks"]["ledger:entries"][0]["observedValue"] >= 2


async def test_metrics_count_decisions_without_identifiers(h: Harness) -> None:
    """/metrics counts exchanges and decisions; no label carries an identifier."""
    await h.post_csc(child_status())
    await h.post_fhir(crisis_bundle())
    text = await (await h.client.get("/metrics")).text()
    assert re.search(
        r'joinedup_decisions_total\{outcome="permit",reason_code="flow-permits"\} 1\.0', text
    )
    assert re.search(r'joinedup_exchanges_total\{kind="crisis-event"\} 1\.0', text)
    assert not any(p in text for p in PLANTED)


async def _story_with_errors(h: Harness) -> None:
    await h.post_csc(child_status())
    await h.post_fhir(crisis_bundle())
    bad = crisis_bundle()
    bad["type"] = "collection"
    await h.post_fhir(bad)
    await h.client.get(
        "/api/v1/workers",
        params={
            "identifier": f"https://fhir.nhs.uk/Id/nhs-number|{PLANTED[0]}",
            "role": "care-coordinator",
        },
    )


async def test_code_never_logs_planted_nhs_numbers(h: Harness) -> None:
    """Before any redaction, nothing the code logs in a whole story (errors included) holds one."""
    with structlog.testing.capture_logs() as raw:
        await _story_with_errors(h)
        await h.council.wait_for(1)
    assert raw
    assert not any(p in orjson.dumps(raw, default=str).decode() for p in PLANTED)


async def test_rendered_log_lines_never_hold_planted_nhs_numbers(h: Harness) -> None:
    """With the production processor chain, no rendered JSON line holds a planted NHS number."""
    stream = io.StringIO()
    structlog.configure(
        processors=processors(json=True),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    try:
        await _story_with_errors(h)
        await h.council.wait_for(1)
    finally:
        structlog.reset_defaults()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 4
    assert all(orjson.loads(line)["request_id"] for line in lines if '"request"' in line)
    assert not any(p in stream.getvalue() for p in PLANTED)
