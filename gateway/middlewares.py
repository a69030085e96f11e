"""The gateway's middlewares: request context (ids, log line), error rendering, and the partner
API's conventions (rate limits, body limits, idempotency keys).

    request_context → error_rendering → partner_conventions (built by ``conventions(settings)``)
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.appkeys import METRICS, REQUEST_ID, SERVICES, SETTINGS
from gateway.audit.events import AccessRefused
from gateway.auth import authenticate
from gateway.conventions import LimitSettings
from gateway.errors import (
    GatewayError,
    InvalidInput,
    Issue,
    PayloadTooLarge,
    RequestTimeout,
    TooManyRequests,
)
from gateway.idempotency import IdempotencyKeys
from gateway.ids import new_id
from gateway.ratelimit import RateLimiter, RefusalRecorder
from gateway.responses import error_response, gateway_error_response, is_fhir_route
from gateway.settings import PartnerSettings, Settings
from gateway.store.committer import UnitOfWork

log = structlog.get_logger("gateway.http")

# The routes partners call with their credentials (not the token endpoint, the review pages or
# the ops routes).
PARTNER_PREFIXES = ("/fhir/", "/csc/", "/api/")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


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
    request_id = new_id()
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
        response = gateway_error_response(request, exc)
        if isinstance(exc, RequestTimeout):
            response.force_close()  # the rest of the body is not worth waiting for
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        request.app[METRICS].rejected.labels(str(exc.status)).inc()
        max_bytes = request.app[SETTINGS].max_body_bytes
        detail = {
            404: "no such route",
            405: "method not allowed on this route",
            413: f"the request body is larger than the {max_bytes} bytes this gateway accepts "
            "(max_body_bytes)",
        }.get(exc.status, exc.reason)
        response = error_response(request, status=exc.status, title=exc.reason, detail=detail)
        if "Allow" in exc.headers:  # 405 names the methods the route does allow
            response.headers["Allow"] = exc.headers["Allow"]
        return response
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


# --- the partner API's conventions ---------------------------------------------------------------


def conventions(settings: Settings) -> list[Middleware]:
    """The partner API's middlewares, each holding its per-process state (buckets, claims)."""
    limiter = RateLimiter(settings.rate_limit)
    recorder = RefusalRecorder()
    keys = IdempotencyKeys(settings.idempotency)

    @web.middleware
    async def partner_conventions(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Partner routes: rate limit (429) before the body is read; every body read within
        ``limits.body_read_timeout`` (408); JSON within ``limits.json_max_bytes`` (413) and
        ``limits.json_max_depth`` (400); a POST's Idempotency-Key honoured (gateway/idempotency.py).
        Unauthenticated partner requests go straight to the route, which answers 401."""
        if request.match_info.http_exception is not None:
            return await handler(request)  # 404 or 405: nothing to read or to count
        if not request.path.startswith(PARTNER_PREFIXES):
            if request.method in BODY_METHODS:
                await read_body(request, settings.limits)
            return await handler(request)
        partner = _partner(request, settings)
        if partner is None:
            return await handler(request)
        committer = request.app[SERVICES].committer

        async def refused(reason: str) -> None:
            log.info("partner_refused", partner=partner.id, reason=reason)
            if not recorder.due(partner.id, reason):
                return
            event = AccessRefused(
                at=datetime.now(UTC),
                request_id=request[REQUEST_ID],
                partner=partner.id,
                route=_route_name(request),
                reason=reason,
            )
            try:
                await committer.submit(UnitOfWork(events=lambda: [event]))
            except GatewayError:
                log.error("refusal_not_recorded", reason=reason)

        wait = limiter.check(partner.id)
        if wait:
            await refused("rate-limited")
            raise TooManyRequests(
                f"this partner's rate limit is spent: retry after {wait} seconds",
                retry_after=wait,
            )
        if request.method not in BODY_METHODS:
            return await handler(request)
        body = await read_body(request, settings.limits)
        if not is_fhir_route(request) and is_json(request.content_type):
            check_json(body, settings.limits)
        if request.method != "POST":
            return await handler(request)
        return await keys.handle(
            request,
            handler,
            committer=committer,
            reader=request.app[SERVICES].reader,
            partner=partner.id,
            body=body,
            refused=refused,
        )

    return [partner_conventions]


def _partner(request: web.Request, settings: Settings) -> PartnerSettings | None:
    """The authenticated partner, or None (the route then refuses the request itself)."""
    try:
        return authenticate(request, settings)
    except GatewayError:
        return None


async def read_body(request: web.Request, limits: LimitSettings) -> bytes:
    """The whole body, within ``limits.body_read_timeout`` (408 after); aiohttp keeps it for the
    route. A multipart form is left to stream (none of the gateway's routes takes one)."""
    if request.content_type == "multipart/form-data":
        return b""
    try:
        async with asyncio.timeout(limits.body_read_timeout):
            return await request.read()
    except TimeoutError:
        reason = f"did not arrive within {limits.body_read_timeout:g} seconds"
        raise RequestTimeout(
            f"the request body {reason} (limits.body_read_timeout)",
            [Issue("(body)", reason, "timeout")],
        ) from None


def is_json(content_type: str) -> bool:
    """application/json or any application/*+json."""
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{}[]")
_ONE_KIND = bytes.maketrans(b"[]", b"{}")


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether the JSON in ``body`` nests objects and arrays more than ``limit`` deep.

    Strings are cut out (their brackets do not count), then only the brackets kept, then the
    innermost pairs stripped once per level, in C. Unbalanced brackets mean malformed JSON,
    which the route's parser names; they are not counted as deep.
    """
    brackets = _JSON_STRING.sub(b"", body).translate(_ONE_KIND, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        inner = brackets.replace(b"{}", b"")
        if len(inner) == len(brackets):
            return False
        brackets = inner
    return bool(brackets)


def check_json(body: bytes, limits: LimitSettings) -> None:
    """413 over ``limits.json_max_bytes``; 400 deeper than ``limits.json_max_depth``."""
    if len(body) > limits.json_max_bytes:
        reason = f"is larger than the {limits.json_max_bytes} bytes a JSON body may be"
        raise PayloadTooLarge(
            f"the JSON body {reason} (limits.json_max_bytes)",
            [Issue("(body)", reason, "too-costly")],
        )
    if json_too_deep(body, limits.json_max_depth):
        reason = f"is nested more than {limits.json_max_depth} levels deep"
        raise InvalidInput(
            f"the JSON body {reason} (limits.json_max_depth)",
            [Issue("(body)", reason, "too-costly")],
        )
