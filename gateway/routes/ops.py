"""Ops endpoints: ``/_ping``, ``/_status`` (application/health+json) and ``/metrics``.

``/_status`` is ``fail`` (503) only when the gateway's own dependencies are down: the database,
or the ledger writer (the group committer cannot commit). A partner whose deliveries are failing
is ``warn``, named by its partner id: the gateway is still accepting and recording exchanges,
and the outbox holds them until the partner is back.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.appkeys import METRICS, OPENAPI, SERVICES
from gateway.delivery import backlog, failing_partners
from gateway.metrics import Backlog, State, request_metrics
from gateway.openapi import build_openapi
from gateway.responses import json_response
from gateway.services import Services
from gateway.store.committer import UnitOfWork
from gateway.store.tables import checkpoints, ledger_head

log = structlog.get_logger(__name__)

HEALTH_JSON = "application/health+json"
OUTBOX_LAG_WARN_SECONDS = 60.0
LEDGER_WRITER_TIMEOUT = 2.0  # seconds an empty commit may take before the writer counts as down


def _version() -> str:
    try:
        return version("joinedup")
    except PackageNotFoundError:
        return "0+unknown"


async def ping(request: web.Request) -> web.Response:
    """Alive: the process answers (no dependencies checked)."""
    return json_response({"status": "pass", "version": _version()})


async def _ledger_writer(services: Services) -> tuple[bool, float]:
    """Whether the group committer commits (an empty unit of work), and how long it took."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(LEDGER_WRITER_TIMEOUT):
            await services.committer.submit(UnitOfWork(events=list))
    except Exception:  # noqa: BLE001 - not running, timed out or failing: all mean "fail"
        return False, (time.perf_counter() - started) * 1000
    return True, (time.perf_counter() - started) * 1000


async def status(request: web.Request) -> web.Response:
    """Ready: database, ledger writer, ledger head, outbox lag and each partner's deliveries, as
    draft-inadarei-api-health-check JSON."""
    services = request.app[SERVICES]
    checks: dict[str, list[dict[str, Any]]] = {}
    now = datetime.now(UTC)
    stamp = now.isoformat()
    try:
        started = time.perf_counter()
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            db_ms = (time.perf_counter() - started) * 1000
            head = (await conn.execute(select(ledger_head.c.seq))).scalar_one()
            entries = await backlog(conn, now)
    except Exception:  # noqa: BLE001 - any database failure means "fail", reported without detail
        checks["database:responseTime"] = [{"status": "fail", "output": "database unreachable"}]
        return json_response(
            {"status": "fail", "version": _version(), "checks": checks},
            status=503,
            content_type=HEALTH_JSON,
        )
    checks["database:responseTime"] = [
        {"status": "pass", "observedValue": round(db_ms, 2), "observedUnit": "ms", "time": stamp}
    ]
    writer_ok, writer_ms = await _ledger_writer(services)
    checks["ledger:writer"] = [
        {
            "status": "pass" if writer_ok else "fail",
            "observedValue": round(writer_ms, 2),
            "observedUnit": "ms",
            "time": stamp,
            **({} if writer_ok else {"output": "the ledger writer cannot commit"}),
        }
    ]
    checks["ledger:entries"] = [{"status": "pass", "observedValue": head, "time": stamp}]
    undelivered = [e for e in entries if e.status != "dead"]
    pending = sum(e.rows for e in undelivered)
    lag = max((e.oldest_age for e in undelivered), default=0.0)
    dead = sum(e.rows for e in entries if e.status == "dead")
    lag_status = "warn" if lag > OUTBOX_LAG_WARN_SECONDS else "pass"
    checks["outbox:lag"] = [
        {"status": lag_status, "observedValue": round(lag, 3), "observedUnit": "s", "time": stamp}
    ]
    checks["outbox:pending"] = [{"status": "pass", "observedValue": pending}]
    checks["outbox:dead"] = [{"status": "warn" if dead else "pass", "observedValue": dead}]
    checks["partner:deliveries"] = _partner_checks(services, entries, stamp)
    statuses = {c["status"] for found in checks.values() for c in found}
    overall = "fail" if "fail" in statuses else ("warn" if "warn" in statuses else "pass")
    return json_response(
        {"status": overall, "version": _version(), "checks": checks},
        status=503 if overall == "fail" else 200,
        content_type=HEALTH_JSON,
    )


def _partner_checks(services: Services, entries: list[Backlog], stamp: str) -> list[dict[str, Any]]:
    """One entry per partner: ``warn`` if a delivery to it has failed and is waiting to retry, or
    is dead-lettered (partner id, counts and ages only)."""
    failing = failing_partners(entries)
    partners = sorted({p.id for p in services.settings.partners} | set(failing))
    found: list[dict[str, Any]] = []
    for partner in partners:
        check: dict[str, Any] = {
            "componentId": partner,
            "componentType": "partner",
            "status": "pass",
            "time": stamp,
        }
        trouble = failing.get(partner)
        if trouble is not None:
            check.update(
                status="warn",
                observedValue=round(trouble["oldest"], 3),
                observedUnit="s",
                output=f"deliveries to {partner} are failing: {trouble['retrying']} retrying, "
                f"{trouble['dead']} dead-lettered",
            )
        found.append(check)
    return found


async def _state(services: Services) -> State:
    """The state metrics: outbox backlog, ledger size, newest checkpoint, committer totals."""
    committer = services.committer
    partners = tuple(p.id for p in services.settings.partners)
    now = datetime.now(UTC)
    try:
        async with services.engine.connect() as conn:
            entries = await backlog(conn, now)
            head = (await conn.execute(select(ledger_head.c.seq))).scalar_one()
            newest = await _newest_checkpoint(conn)
    except Exception:  # noqa: BLE001 - reported as joinedup_metrics_database_up 0
        log.warning("metrics_state_unavailable")
        return State(
            partners=partners,
            commit_batches=committer.batches,
            committed_units=committer.units,
            database_up=False,
        )
    return State(
        backlog=tuple(entries),
        partners=partners,
        ledger_entries=int(head),
        checkpoint_size=newest[0] if newest else None,
        checkpoint_age=max(0.0, (now - newest[1]).total_seconds()) if newest else None,
        commit_batches=committer.batches,
        committed_units=committer.units,
    )


async def _newest_checkpoint(conn: AsyncConnection) -> tuple[int, datetime] | None:
    size = (await conn.execute(select(func.max(checkpoints.c.tree_size)))).scalar_one()
    if size is None:
        return None
    made = (
        await conn.execute(select(checkpoints.c.created_at).where(checkpoints.c.tree_size == size))
    ).scalar_one()
    return int(size), made


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition (the state metrics read from the database now)."""
    registry = request.app[METRICS]
    registry.set_state(await _state(request.app[SERVICES]))
    body = generate_latest(registry.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API."""
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


def add_routes(app: web.Application) -> None:
    """Register the ops endpoints, and the request metrics middleware as the outermost, so that
    every answer is counted with its final status (including those the other middlewares give)."""
    app.middlewares.insert(0, request_metrics(app[METRICS]))
    app[OPENAPI] = orjson.dumps(build_openapi())
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/_ping", ping)
    app.router.add_get("/_status", status)
    app.router.add_get("/metrics", metrics)
