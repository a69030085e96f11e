"""The message doors: FHIR (``POST /fhir/$process-message``) and CSC (``POST /csc/messages``)."""

from __future__ import annotations

import time

import structlog
from aiohttp import web

from gateway.appkeys import DELIVERY, METRICS, REQUEST_ID, SERVICES
from gateway.audit.events import ExchangeRefused
from gateway.auth import authenticate
from gateway.errors import GatewayError, UnsupportedMediaType
from gateway.pipeline import Exchange, run_exchange
from gateway.responses import json_response
from gateway.store.committer import UnitOfWork

log = structlog.get_logger(__name__)


async def _receive(request: web.Request, adapter_name: str) -> web.Response:
    started = time.perf_counter()
    services = request.app[SERVICES]
    partner = authenticate(request, services.settings)
    adapter = services.adapters[adapter_name]
    if request.content_type not in adapter.content_types:
        raise UnsupportedMediaType(
            f"Content-Type must be one of: {', '.join(adapter.content_types)}"
        )
    body = await request.read()  # aiohttp enforces client_max_size: 413 beyond it
    # Stamped by the gateway's clock (the real time, or a test's or the demo's movable one), so
    # that deadlines counted from it and the clock that checks them agree.
    exchange = Exchange(
        partner=partner,
        adapter=adapter,
        body=body,
        request_id=request[REQUEST_ID],
        received_at=services.clock(),
    )
    try:
        summary = await run_exchange(exchange, services)
    except GatewayError as exc:
        if exc.status < 500:
            await _record_refusal(request, exchange, exc)
        raise
    metrics = request.app[METRICS]
    metrics.exchanges.labels(exchange.parsed.kind.value).inc()
    for routed in exchange.routed:
        outcome = "permit" if routed.disclosure is not None else "refuse"
        metrics.decisions.labels(outcome, str(routed.decision.reason_code)).inc()
    metrics.latency.observe(time.perf_counter() - started)
    if any(r.disclosure is not None for r in exchange.routed):
        request.app[DELIVERY].wake()
    return json_response(summary, status=202)


async def _record_refusal(request: web.Request, exchange: Exchange, exc: GatewayError) -> None:
    """An ``exchange.refused`` entry for a message refused before anything was applied (the
    error names elements and reasons only). If the ledger cannot take it, the refusal stands
    and the log says so."""
    issues = getattr(exc, "issues", None) or []
    resource = request.match_info.route.resource
    event = ExchangeRefused(
        at=exchange.received_at,
        request_id=exchange.request_id,
        exchange_id=exchange.exchange_id,
        partner=exchange.partner.id,
        route=resource.canonical if resource is not None else "(unmatched)",
        status=exc.status,
        error=type(exc).__name__,
        kind=exchange.message.kind.value if exchange.message is not None else None,
        elements=tuple(dict.fromkeys(i.element for i in issues))[:20],
    )
    try:
        await request.app[SERVICES].committer.submit(UnitOfWork(events=lambda: [event]))
    except GatewayError:
        log.error("exchange_refusal_unrecorded", error=type(exc).__name__)


async def fhir_process_message(request: web.Request) -> web.Response:
    """Receive a FHIR R4 message Bundle from a trust."""
    return await _receive(request, "fhir-r4")


async def csc_message(request: web.Request) -> web.Response:
    """Receive a children's social care JSON message from a council."""
    return await _receive(request, "csc")


def add_routes(app: web.Application) -> None:
    """Register the message doors."""
    app.router.add_post("/fhir/$process-message", fhir_process_message)
    app.router.add_post("/csc/messages", csc_message)
