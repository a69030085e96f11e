"""The token endpoint: ``POST /oauth2/token``, OAuth 2.0 client credentials with a signed-JWT
client assertion (RFC 6749 section 4.4, RFC 7521/7523 ``private_key_jwt``), as NHS England's
application-restricted APIs take them.

The request is ``application/x-www-form-urlencoded`` with ``grant_type=client_credentials``,
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and
``client_assertion=<JWT>`` (``client_id`` may be added; it must then name the assertion's issuer).
The answer follows RFC 6749 section 5: ``{"access_token", "token_type": "Bearer", "expires_in"}``
with ``Cache-Control: no-store``, or ``{"error", "error_description"}``: ``invalid_client`` (401,
with a ``WWW-Authenticate`` challenge) when the assertion or the client certificate is refused,
``unsupported_grant_type`` or ``invalid_request`` (400) otherwise.

Every refusal is recorded in the ledger as ``access.refused`` (route ``/oauth2/token``, the reason
code, and the client id when it names a configured partner) before the answer is sent. The texts
are fixed: nothing from the request is echoed.
"""

from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import parse_qsl

import orjson
import structlog
from aiohttp import web
from cryptography import x509

from gateway import auth
from gateway.appkeys import SERVICES, SETTINGS
from gateway.oauth.assertion import AssertionRejected, check_assertion
from gateway.oauth.client import ASSERTION_TYPE, GRANT_TYPE
from gateway.oauth.mtls import certificate_matches, peer_certificate
from gateway.oauth.replay import JtiRegister
from gateway.oauth.runtime import OAUTH, OAuthRuntime
from gateway.settings import Settings

log = structlog.get_logger(__name__)

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a route, not a secret
FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 32_768
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class _Refused(Exception):
    """A token request refused: the OAuth error, a stable reason code and a fixed description."""

    def __init__(self, error: str, code: str, description: str) -> None:
        super().__init__(code)
        self.error = error
        self.code = code
        self.description = description


def _invalid(code: str, description: str) -> _Refused:
    return _Refused("invalid_request", code, description)


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type != FORM:
        raise _invalid("not-form-encoded", f"the request body must be {FORM}")
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise _invalid("request-too-large", "the request body is too large")
    body = await request.read()
    if len(body) > MAX_FORM_BYTES:
        raise _invalid("request-too-large", "the request body is too large")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise _invalid("malformed-form", "the request body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            # RFC 6749 section 3.2: parameters must not be included more than once.
            raise _invalid("parameter-repeated", f"the {name} parameter is repeated")
        form[name] = value
    return form


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise _invalid("parameter-missing", f"the {name} parameter is required")
    return value


def _claimed_client(assertion: str | None) -> str | None:
    """The assertion's unverified ``iss``, for the refusal's record only."""
    if not assertion or assertion.count(".") != 2:
        return None
    part = assertion.split(".")[1]
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


def _check_request(request: web.Request, form: dict[str, str]) -> str:
    """The assertion, once the request's shape is right."""
    if "Authorization" in request.headers:
        raise _invalid(
            "several-credentials", "authenticate with the client assertion only, not a header"
        )
    grant = _required(form, "grant_type")
    if grant != GRANT_TYPE:
        raise _Refused(
            "unsupported_grant_type",
            "unsupported-grant-type",
            f"grant_type must be {GRANT_TYPE}",
        )
    if _required(form, "client_assertion_type") != ASSERTION_TYPE:
        raise _invalid("wrong-assertion-type", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = _required(form, "client_assertion")
    client_id = form.get("client_id")
    if client_id is not None and client_id != _claimed_client(assertion):
        raise _invalid("client-id-mismatch", "client_id must name the assertion's issuer")
    return assertion


def _presented_certificate(request: web.Request) -> x509.Certificate:
    certificate = peer_certificate(request)
    if certificate is None:
        raise _Refused(
            "invalid_client",
            "client-certificate-required",
            "a TLS client certificate is required at this endpoint",
        )
    return certificate


def _check_certificate(
    certificate: x509.Certificate, runtime: OAuthRuntime, client_id: str
) -> None:
    expected = runtime.settings.client_certificates.get(client_id)
    if expected is None or not certificate_matches(certificate, expected):
        raise _Refused(
            "invalid_client",
            "client-certificate-mismatch",
            "the TLS client certificate does not belong to this client",
        )


async def _refusal(
    request: web.Request, refused: _Refused, settings: Settings, claimed: str | None
) -> web.Response:
    user = claimed if claimed is not None and settings.partner(claimed) is not None else None
    log.info("token_refused", reason=refused.code)
    await auth.record_refusal(request, TOKEN_PATH, refused.code, user)
    status = 401 if refused.error == "invalid_client" else 400
    response = web.Response(
        body=orjson.dumps({"error": refused.error, "error_description": refused.description}),
        status=status,
        content_type="application/json",
        headers=_NO_STORE,
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = f'private_key_jwt realm="{auth.REALM}"'
    return response


async def token(request: web.Request) -> web.Response:
    """Issue an access token to a partner that proves itself with a signed assertion."""
    services = request.app[SERVICES]
    runtime = request.app[OAUTH]
    form: dict[str, str] = {}
    try:
        form = await _form(request)
        assertion = _check_request(request, form)
        mutual_tls = runtime.settings.require_client_certificate
        certificate = _presented_certificate(request) if mutual_tls else None
        client = await check_assertion(
            assertion,
            audience=runtime.audience,
            clients=runtime.clients.current(),
            now=time.time(),
            remember_jti=JtiRegister(services.engine),
            algorithms=runtime.settings.algorithms,
        )
        if certificate is not None:
            _check_certificate(certificate, runtime, client.client_id)
    except AssertionRejected as exc:
        refused = _Refused("invalid_client", exc.code, exc.reason)
        return await _refusal(
            request, refused, services.settings, _claimed_client(form.get("client_assertion"))
        )
    except _Refused as refused:
        claimed = form.get("client_id") or _claimed_client(form.get("client_assertion"))
        return await _refusal(request, refused, services.settings, claimed)
    issued = runtime.issue(client.client_id, now=time.time())
    log.info("token_issued", partner=client.client_id, kid=client.kid)
    return web.Response(
        body=orjson.dumps(
            {"access_token": issued.value, "token_type": "Bearer", "expires_in": issued.expires_in}
        ),
        content_type="application/json",
        headers=_NO_STORE,
    )


def add_routes(app: web.Application) -> None:
    """Build the authentication state (keys are loaded or made now, so a bad key file stops
    start-up), register the token endpoint, and have API refusals challenged and recorded."""
    app[OAUTH] = OAuthRuntime(app[SETTINGS])
    app.router.add_post(TOKEN_PATH, token)
    auth.install(app)
