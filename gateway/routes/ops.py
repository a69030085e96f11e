"""Ops endpoints: ``/_ping``, ``/_status`` (application/health+json) and ``/metrics``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from gateway.appkeys import METRICS, OPENAPI, SERVICES
from gateway.openapi import build_openapi
from gateway.responses import json_response
from gateway.store.tables import ledger_head, outbox

HEALTH_JSON = "application/health+json"
OUTBOX_LAG_WARN_SECONDS = 60.0


def _version() -> str:
    try:
        return version("joinedup")
    except PackageNotFoundError:
        return "0+unknown"


async def ping(request: web.Request) -> web.Response:
    """Alive: the process answers (no dependencies checked)."""
    return json_response({"status": "pass", "version": _version()})


async def status(request: web.Request) -> web.Response:
    """Ready: database, ledger head and outbox lag, as draft-inadarei-api-health-check JSON."""
    services = request.app[SERVICES]
    checks: dict[str, list[dict[str, Any]]] = {}
    overall = "pass"
    now = datetime.now(UTC)
    try:
        started = time.perf_counter()
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            db_ms = (time.perf_counter() - started) * 1000
            checks["database:responseTime"] = [
                {
                    "status": "pass",
                    "observedValue": round(db_ms, 2),
                    "observedUnit": "ms",
                    "time": now.isoformat(),
                }
            ]
            head = (await conn.execute(select(ledger_head.c.seq))).scalar_one()
            checks["ledger:entries"] = [
                {"status": "pass", "observedValue": head, "time": now.isoformat()}
            ]
            pending = (
                await conn.execute(
                    select(func.count(), func.min(outbox.c.created_at)).where(
                        outbox.c.status == "pending"
                    )
                )
            ).one()
            dead = (
                await conn.execute(select(func.count()).where(outbox.c.status == "dead"))
            ).scalar_one()
    except Exception:  # noqa: BLE001 - any database failure means "fail", reported without detail
        checks["database:responseTime"] = [{"status": "fail", "output": "database unreachable"}]
        return json_response(
            {"status": "fail", "version": _version(), "checks": checks},
            status=503,
            content_type=HEALTH_JSON,
        )
    oldest = pending[1]
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    lag = (now - oldest).total_seconds() if oldest is not None else 0.0
    lag_status = "warn" if lag > OUTBOX_LAG_WARN_SECONDS else "pass"
    checks["outbox:lag"] = [
        {
            "status": lag_status,
            "observedValue": round(lag, 3),
            "observedUnit": "s",
            "time": now.isoformat(),
        }
    ]
    checks["outbox:pending"] = [{"status": "pass", "observedValue": pending[0]}]
    checks["outbox:dead"] = [{"status": "warn" if dead else "pass", "observedValue": dead}]
    if lag_status == "warn" or dead:
        overall = "warn"
    return json_response(
        {"status": overall, "version": _version(), "checks": checks}, content_type=HEALTH_JSON
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API."""
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


def add_routes(app: web.Application) -> None:
    """Register the ops endpoints."""
    app[OPENAPI] = orjson.dumps(build_openapi())
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/_ping", ping)
    app.router.add_get("/_status", status)
    app.router.add_get("/metrics", metrics)
