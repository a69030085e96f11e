"""The gateway's two middlewares: request context (ids, log line) and error rendering."""

from __future__ import annotations

import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.appkeys import METRICS, REQUEST_ID
from gateway.errors import GatewayError
from gateway.responses import error_response, gateway_error_response

log = structlog.get_logger("gateway.http")


def _route_name(request: web.Request) -> str:
    # SECURITY: log the route template, never the concrete path or query, which may hold ids.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(unmatched)"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """X-Request-ID (UUID, generated if absent, 400 if malformed), echoed; one log line per call."""
    started = time.perf_counter()
    supplied = request.headers.get("X-Request-ID")
    structlog.contextvars.clear_contextvars()
    request_id = str(uuid.uuid4())
    bad_id = False
    if supplied is not None:
        try:
            request_id = str(uuid.UUID(supplied))
        except ValueError:
            bad_id = True
    request[REQUEST_ID] = request_id
    structlog.contextvars.bind_contextvars(request_id=request_id)
    response: web.StreamResponse
    if bad_id:
        response = error_response(
            request,
            status=400,
            title="Invalid input",
            detail="X-Request-ID must be a UUID",
        )
    else:
        response = await handler(request)
    response.headers["X-Request-ID"] = request_id
    correlation = request.headers.get("X-Correlation-ID")
    if correlation is not None and len(correlation) <= 128 and correlation.isprintable():
        response.headers["X-Correlation-ID"] = correlation
    log.info(
        "request",
        method=request.method,
        route=_route_name(request),
        status=response.status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response


@web.middleware
async def error_rendering(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Deliberate errors and HTTP errors in the route's format; anything else is a bare 500."""
    try:
        return await handler(request)
    except GatewayError as exc:
        if exc.status >= 500:
            log.error("gateway_error", error=type(exc).__name__)
        else:
            log.info("request_rejected", error=type(exc).__name__, status=exc.status)
        request.app[METRICS].rejected.labels(str(exc.status)).inc()
        return gateway_error_response(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        request.app[METRICS].rejected.labels(str(exc.status)).inc()
        detail = {
            404: "no such route",
            405: "method not allowed on this route",
            413: "the request body is larger than this gateway accepts",
        }.get(exc.status, exc.reason)
        return error_response(request, status=exc.status, title=exc.reason, detail=detail)
    except Exception:
        # SECURITY: the client learns nothing but the request id; the log has the traceback,
        # passed through the redaction processor.
        log.exception("unhandled_error")
        return error_response(
            request,
            status=500,
            title="Internal error",
            detail="an unexpected error occurred; quote the request id to the gateway's operators",
        )
