"""Partner authentication on every API route: ``Authorization: Bearer <access token>``.

Access tokens come from ``POST /oauth2/token`` (``gateway/routes/oauth.py``) and are verified
against the gateway's own key set (the current signing key and any earlier ones kept for a
rotation). The interim API keys (``partners[].api_key_sha256``, sent as a bearer value without dots
or as ``X-API-Key``) are accepted only while an operator has set ``oauth.allow_api_keys`` for a
migration period.

Every refusal is a 401 (problem+json, or OperationOutcome on FHIR routes) with a
``WWW-Authenticate: Bearer`` challenge, and is recorded in the ledger as ``access.refused`` (the
route's pattern and a reason code) before the answer is sent. Successes are not recorded: the
exchange or look-up that follows records the partner.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

import structlog
from aiohttp import web

from gateway.appkeys import REQUEST_ID, SERVICES
from gateway.audit.events import AccessRefused
from gateway.errors import Unauthenticated, Unavailable
from gateway.oauth.runtime import OAUTH
from gateway.oauth.tokens import TokenRejected
from gateway.settings import PartnerSettings, Settings, hash_api_key
from gateway.store.committer import UnitOfWork

log = structlog.get_logger(__name__)

REALM = "joined-up"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request's credentials were refused: a stable code, and the partner if proven."""

    reason: str
    user: str | None = None


PARTNER = web.RequestKey("partner", PartnerSettings)
REFUSAL = web.RequestKey("access_refusal", Refusal)


def _refuse(request: web.Request, reason: str, detail: str, user: str | None = None) -> NoReturn:
    request[REFUSAL] = Refusal(reason, user)
    raise Unauthenticated(detail)


def _by_api_key(key: str, settings: Settings) -> PartnerSettings | None:
    digest = hash_api_key(key)
    found: PartnerSettings | None = None
    # SECURITY: compare against every configured hash in constant time, and do not stop early,
    # so timing says nothing about which partner (if any) a key nearly matched.
    for partner in settings.partners:
        for expected in partner.api_key_sha256:
            if hmac.compare_digest(digest, expected):
                found = partner
    return found


def authenticate(request: web.Request, settings: Settings) -> PartnerSettings:
    """The partner the request's access token (or, while allowed, API key) proves; otherwise
    Unauthenticated, with the refusal left on the request to be challenged and recorded."""
    if PARTNER in request:
        return request[PARTNER]
    runtime = request.app[OAUTH]
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" and value.strip() else None
    api_key = request.headers.get("X-API-Key") or None
    if bearer is None and api_key is None:
        _refuse(
            request,
            "no-credentials",
            "no access token: send 'Authorization: Bearer <token>' (POST /oauth2/token issues one)",
        )
    if bearer is not None and bearer.count(".") == 2:
        try:
            partner = runtime.partner_for_token(bearer, now=time.time())
        except TokenRejected as exc:
            user = exc.client_id if exc.client_id in runtime.partners else None
            _refuse(request, exc.code, exc.reason, user)
    else:
        if not settings.oauth.allow_api_keys:
            _refuse(
                request,
                "api-keys-disabled",
                "API keys are not accepted: send an access token from POST /oauth2/token",
            )
        found = _by_api_key(bearer or api_key or "", settings)
        if found is None:
            _refuse(request, "unknown-api-key", "unknown API key")
        partner = found
    request[PARTNER] = partner
    return partner


def _route(request: web.Request) -> str:
    # SECURITY: the route's pattern, never the concrete path or query (which may hold ids).
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(unmatched)"


def challenge(error: str | None) -> str:
    """A ``WWW-Authenticate: Bearer`` challenge (RFC 6750 section 3)."""
    return f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")


async def record_refusal(
    request: web.Request, route: str, reason: str, user: str | None = None
) -> None:
    """Write an ``access.refused`` entry now; if the ledger cannot be written, log it loudly
    (the request is refused either way)."""
    event = AccessRefused(
        at=datetime.now(UTC),
        request_id=request.get(REQUEST_ID),
        route=route,
        reason=reason,
        user=user,
    )
    try:
        await request.app[SERVICES].committer.submit(UnitOfWork(events=lambda: [event]))
    except Unavailable:
        log.error("access_refusal_unrecorded", route=route, reason=reason)


async def _on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    refusal = request.get(REFUSAL)
    if refusal is None or response.status != 401:
        return
    del request[REFUSAL]
    # No error code when no credentials were sent at all (RFC 6750 section 3.1).
    response.headers["WWW-Authenticate"] = challenge(
        None if refusal.reason == "no-credentials" else "invalid_token"
    )
    log.info("access_refused", route=_route(request), reason=refusal.reason)
    await record_refusal(request, _route(request), refusal.reason, refusal.user)


def install(app: web.Application) -> None:
    """Challenge and record every refusal ``authenticate`` makes, before the 401 is sent."""
    app.on_response_prepare.append(_on_response_prepare)
