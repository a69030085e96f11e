"""The OpenAPI 3.1 description of the partner API, built from the code that serves it.

Served at ``GET /openapi.json`` and committed as ``docs/openapi.json`` (a test keeps the two
equal). The CSC message schemas come from the CSC adapter's own models, so the document cannot
drift from what the adapter accepts and sends; what the gateway delivers to partners is described
under ``webhooks``. FHIR bodies are described by reference to FHIR R4 and UK Core: their checks
live in the FHIR adapter (see docs/mappings/fhir-r4.md).

Every operation lists every status it can answer, each with an example made by the code that
renders it (``gateway/responses.py``), and the request conventions every partner route shares:
``X-Request-ID``, ``X-Correlation-ID``, ``Idempotency-Key`` (POST), ``Retry-After`` (409, 429,
503), ``Allow`` (405). The security scheme is OAuth 2.0 client credentials with a signed JWT
client assertion (``private_key_jwt``), as NHS England's application-restricted APIs use.
A schemathesis run against a live gateway keeps the document honest (tests/test_schemathesis.py).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson

from adapters.csc.inbound import INBOUND
from adapters.csc.schema import csc_schemas
from gateway.conventions import LimitSettings
from gateway.directory import openapi as directory_openapi
from gateway.errors import Issue
from gateway.idempotency import KEY_HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER
from gateway.responses import operation_outcome, problem_details
from gateway.settings import bundled
from gateway.workflows import access
from schemas.facts import RoleKind

_COMPONENT = "#/components/schemas/"
_PROBLEM = {"$ref": f"{_COMPONENT}Problem"}
_OUTCOME = {"$ref": f"{_COMPONENT}OperationOutcome"}
PROBLEM_JSON = "application/problem+json"
FHIR_JSON = "application/fhir+json"
FORM = "application/x-www-form-urlencoded"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a route, not a secret
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCHEME = "partnerOAuth"
BEARER = "accessToken"

# Example ids: fixed, so that the document is the same on every build.
_REQUEST_ID = "3fa3c6f2-8f4b-4a47-9d4e-0c6a1c1b2f10"
_EXCHANGE_ID = "d917a40b-e5be-4bff-a2d7-0d85e5f215d5"
_LIMITS = LimitSettings()


def _version() -> str:
    try:
        return version("joinedup")
    except PackageNotFoundError:
        return "0+unknown"


def _hoist(name: str, schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Move a JSON Schema's ``$defs`` into components, rewriting its references to match."""
    defs = schema.pop("$defs", {})
    schema.pop("$schema", None)

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (
                    f"{_COMPONENT}{name}.{v.removeprefix('#/$defs/')}"
                    if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/")
                    else rewrite(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    for def_name, definition in defs.items():
        components[f"{name}.{def_name}"] = rewrite(definition)
    components[name] = rewrite(schema)
    return {"$ref": f"{_COMPONENT}{name}"}


# --- errors ---------------------------------------------------------------------------------------

# status: (title, when, an issue the example shows or None)
_ERRORS: dict[int, tuple[str, str, Issue | None]] = {
    400: (
        "Invalid input",
        "the body, a parameter or a header is invalid: every problem names the element and the "
        "rule, never the value",
        Issue("identifier", "must be <system>|<value>"),
    ),
    401: (
        "Unauthenticated",
        "no access token, or one that is expired, altered or not the gateway's (with a "
        "WWW-Authenticate challenge); the refusal is recorded",
        None,
    ),
    403: (
        "Forbidden",
        "authenticated, but no data-sharing agreement lets this partner do this (a message's "
        "sender is not an organisation it speaks for, or no flow covers the kind)",
        None,
    ),
    404: ("Not found", "nothing you may see: unknown, or not yours, look the same", None),
    405: ("Method Not Allowed", "the method is not served here: Allow lists those that are", None),
    408: (
        "Request timeout",
        f"the body did not arrive within limits.body_read_timeout ({_LIMITS.body_read_timeout:g} "
        "seconds); the connection is closed",
        Issue("(body)", f"did not arrive within {_LIMITS.body_read_timeout:g} seconds", "timeout"),
    ),
    409: (
        "Conflict",
        f"a request with this {KEY_HEADER} is still being processed: retry after Retry-After "
        "seconds (a replay then gets its answer)",
        None,
    ),
    413: (
        "Payload too large",
        "the body is larger than max_body_bytes, or a JSON body larger than "
        "limits.json_max_bytes (each named in the answer)",
        Issue("(body)", f"is larger than the {_LIMITS.json_max_bytes} bytes a JSON body may be"),
    ),
    415: ("Unsupported media type", "the Content-Type is not one this route takes", None),
    422: (
        "Idempotency key reused",
        f"this {KEY_HEADER} was used for a different request (method, path, content type or "
        "body), or the message cannot be represented or is not handled",
        Issue(KEY_HEADER, "was used for a different request", "business-rule"),
    ),
    429: (
        "Too many requests",
        "this partner's rate limit is spent: retry after Retry-After seconds; recorded",
        None,
    ),
    503: (
        "Service unavailable",
        "the audit ledger or the store could not be written: nothing was stored; retry",
        None,
    ),
}
_DETAILS = {
    401: "no access token: send 'Authorization: Bearer <token>' (POST /oauth2/token issues one)",
    403: "the message's sender organisation is not one this partner speaks for",
    404: "no worker in that role that you may see is known for this person",
    405: "method not allowed on this route",
    409: f"a request with this {KEY_HEADER} is still being processed: retry after a moment",
    415: "Content-Type must be one of: application/json",
    429: "this partner's rate limit is spent: retry after 2 seconds",
    503: "the audit ledger could not be written; nothing was committed",
}


def _error(status: int, fhir: bool, when: str | None = None) -> dict[str, Any]:
    title, generic, issue = _ERRORS[status]
    issues = [issue] if issue is not None else []
    detail = _DETAILS.get(status) or (f"{issue.element}: {issue.reason}" if issue else title)
    example = (
        operation_outcome(status, detail, issues)
        if fhir
        else problem_details(status, title, detail, issues, _REQUEST_ID)
    )
    headers: dict[str, Any] = {"X-Request-ID": _header("X-Request-ID")}
    if status == 401:
        headers["WWW-Authenticate"] = _header("WWW-Authenticate")
    if status == 405:
        headers["Allow"] = _header("Allow")
    if status in {409, 429, 503}:
        headers["Retry-After"] = _header("Retry-After-Required" if status == 429 else "Retry-After")
    media = FHIR_JSON if fhir else PROBLEM_JSON
    return {
        "description": when or generic,
        "headers": headers,
        "content": {media: {"schema": _OUTCOME if fhir else _PROBLEM, "example": example}},
    }


def _errors(codes: tuple[int, ...], *, fhir: bool = False, **when: str) -> dict[str, Any]:
    return {str(c): _error(c, fhir, when.get(f"s{c}")) for c in codes}


def _header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


_CONVENTIONS = [_param("XRequestID"), _param("XCorrelationID")]
_POST_CONVENTIONS = [*_CONVENTIONS, _param("IdempotencyKey")]
_ANSWER_HEADERS = {
    "X-Request-ID": _header("X-Request-ID"),
    "X-Correlation-ID": _header("X-Correlation-ID"),
}


# --- the document ---------------------------------------------------------------------------------


def build_openapi() -> dict[str, Any]:
    """The whole document."""
    components: dict[str, Any] = dict(_STATIC_COMPONENTS)
    components.update(directory_openapi.SCHEMAS)  # issue 7: the directory door
    components.update(access.OPENAPI_SCHEMAS)  # issue 7: the child status door
    schemas = csc_schemas()
    inbound = {f"csc-{kind}" for kind in INBOUND}
    refs = {name: _hoist(name, dict(schema), components) for name, schema in schemas.items()}
    csc_in = [refs[n] for n in schemas if n in inbound]
    csc_out = [refs[n] for n in schemas if n not in inbound]
    crisis = orjson.loads(bundled("demo/messages/crisis-s136.json").read_bytes())
    child_status = orjson.loads(bundled("demo/messages/child-status-999.json").read_bytes())

    def accepted(example: dict[str, Any]) -> dict[str, Any]:
        return {
            "202": {
                "description": (
                    "accepted: every decision is in the ledger; deliveries follow. A replay of an "
                    f"{KEY_HEADER} gets the first answer again, with {REPLAYED_HEADER}: true"
                ),
                "headers": _ANSWER_HEADERS | {REPLAYED_HEADER: _header(REPLAYED_HEADER)},
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"{_COMPONENT}ExchangeSummary"},
                        "example": example,
                    }
                },
            }
        }

    door_errors = (400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 503)
    # Issue 7: a message about something the gateway carried for someone else (an acknowledgement
    # of a referral, a reply to a meeting) answers as one about nothing at all; a referral's
    # status cannot move backwards, nor its reference be used twice with one council.
    door_404 = (
        "the message is about something the gateway did not carry for your organisation (an "
        "acknowledgement of a referral, a reply to a meeting): unknown or another's look the same"
    )
    door_409 = (
        f"a request with this {KEY_HEADER} is still being processed (retry after a moment), or "
        "the message contradicts what the gateway holds: a referral's status moving backwards, a "
        "referral reference already used with that council"
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Joined-up gateway",
            "version": _version(),
            "description": _DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        # One credential: the OAuth 2.0 token, presented as an HTTP bearer token.
        "security": [{SCHEME: [], BEARER: []}],
        "paths": {
            TOKEN_PATH: {"post": _token_operation()},
            "/fhir/$process-message": {
                "post": {
                    "summary": "Send a FHIR R4 message Bundle (the trust's door)",
                    "operationId": "processMessage",
                    "parameters": _POST_CONVENTIONS,
                    "requestBody": {
                        "required": True,
                        "content": {
                            FHIR_JSON: {
                                "schema": {"$ref": f"{_COMPONENT}FhirMessageBundle"},
                                "example": crisis,
                            },
                            "application/fhir+xml": {
                                "schema": {"$ref": f"{_COMPONENT}FhirMessageBundle"}
                            },
                        },
                    },
                    "responses": accepted(_CRISIS_ACCEPTED)
                    | _errors(
                        door_errors,
                        fhir=True,
                        s404=door_404,
                        s409=door_409,
                        s422="the message cannot be represented in the canonical model or is not "
                        f"handled, or this {KEY_HEADER} was used for a different request",
                    ),
                }
            },
            "/csc/messages": {
                "post": {
                    "summary": "Send a children's social care message (the council's door)",
                    "operationId": "cscMessage",
                    "parameters": _POST_CONVENTIONS,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"oneOf": csc_in},
                                "example": child_status,
                            }
                        },
                    },
                    "responses": accepted(_STATUS_ACCEPTED)
                    | _errors(door_errors, s404=door_404, s409=door_409),
                }
            },
            "/api/v1/workers": {
                "get": {
                    "summary": "Who is this person's worker in a role, and how to reach them",
                    "operationId": "lookupWorkers",
                    "parameters": [
                        {
                            "name": "identifier",
                            "in": "query",
                            "required": True,
                            "description": (
                                "<system>|<value>: an NHS number, an LA child id "
                                "(<LA code>/<child id>) or a UPN"
                            ),
                            "schema": {"type": "string", "minLength": 1},
                            "example": "https://fhir.nhs.uk/Id/nhs-number|9000000009",
                        },
                        {
                            "name": "role",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "string",
                                "enum": [r.value for r in RoleKind],
                                "default": RoleKind.ALLOCATED_SOCIAL_WORKER.value,
                            },
                            "example": RoleKind.CARE_COORDINATOR.value,
                        },
                        *_CONVENTIONS,
                    ],
                    "responses": {
                        "200": {
                            "description": (
                                "the workers you may see, minimised, and what was withheld"
                            ),
                            "headers": _ANSWER_HEADERS,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": f"{_COMPONENT}WorkerLookup"},
                                    "example": _LOOKUP_EXAMPLE,
                                }
                            },
                        }
                    }
                    | _errors(
                        (400, 401, 404, 405, 429, 503),
                        s404="the person is unknown, has no worker in that role, or has one you "
                        "may not see: the same answer for each, so a refusal reveals nothing",
                    ),
                }
            },
            # issue 7: the directory door (gateway/directory/openapi.py)
            **directory_openapi.paths(_errors, _CONVENTIONS, _ANSWER_HEADERS),
            # issue 7: a child's protection status, and who looked (gateway/workflows/access.py)
            **access.openapi_paths(_errors, _CONVENTIONS, _ANSWER_HEADERS),
            "/api/v1/exchanges/{exchange_id}/receipt": {
                "get": {
                    "summary": "A receipt: proof that the exchange's ledger entries are in the "
                    "ledger, under a signed checkpoint",
                    "description": _RECEIPT_DESCRIPTION,
                    "operationId": "exchangeReceipt",
                    "parameters": [
                        {
                            "name": "exchange_id",
                            "in": "path",
                            "required": True,
                            "description": "the exchange id from the 202 answer",
                            "schema": {"type": "string", "format": "uuid"},
                            "example": _EXCHANGE_ID,
                        },
                        *_CONVENTIONS,
                    ],
                    "responses": {
                        "200": {
                            "description": "the receipt",
                            "headers": _ANSWER_HEADERS,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": f"{_COMPONENT}Receipt"},
                                    "example": _RECEIPT_EXAMPLE,
                                }
                            },
                        },
                    }
                    | _errors(
                        (400, 401, 404, 405, 429, 503),
                        s404="no exchange with this id that you sent (unknown, or sent by "
                        "another partner: the same answer)",
                        s503="no checkpoint covers the exchange yet and one was signed less than "
                        "a second ago (retry after Retry-After seconds), or the ledger cannot "
                        "prove the entries (its operators are alerted)",
                    ),
                }
            },
            "/_ping": _ops("Alive: the process answers; nothing else is checked", _PING),
            "/_status": _ops(
                "Ready: database, ledger writer, outbox, each partner's deliveries "
                "(application/health+json; a partner outage is warn, not fail)",
                _STATUS,
                media="application/health+json",
                failing=True,
            ),
            "/metrics": _ops(
                "Prometheus metrics (no identifier in any label)", _METRICS, media="text/plain"
            ),
            "/openapi.json": _ops("This document", {"openapi": "3.1.0", "info": {}, "paths": {}}),
        },
        "webhooks": {
            "cscDelivery": {
                "post": {
                    "summary": "What the gateway delivers to a council's system (CSC JSON)",
                    "description": (
                        f"Posted to the partner's configured endpoint with {KEY_HEADER} (stable "
                        "across retries: apply each key once) and X-Request-ID (the exchange's). "
                        "Answer 2xx once stored; anything else is retried with backoff."
                    ),
                    "parameters": [_param("DeliveryIdempotencyKey"), _param("XRequestID")],
                    "requestBody": {
                        "content": {"application/json": {"schema": {"oneOf": csc_out}}}
                    },
                    "responses": {"202": {"description": "stored by the recipient"}},
                }
            },
            "fhirDelivery": {
                "post": {
                    "summary": "What the gateway delivers to a trust's system (a FHIR message)",
                    "parameters": [_param("DeliveryIdempotencyKey"), _param("XRequestID")],
                    "requestBody": {
                        "content": {
                            FHIR_JSON: {"schema": {"$ref": f"{_COMPONENT}FhirMessageBundle"}}
                        }
                    },
                    "responses": {"202": {"description": "stored by the recipient"}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                SCHEME: {
                    "type": "oauth2",
                    "description": _SECURITY_DESCRIPTION,
                    "flows": {"clientCredentials": {"tokenUrl": TOKEN_PATH, "scopes": {}}},
                },
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        f"The access token {TOKEN_PATH} issued ({SCHEME}), sent as "
                        "'Authorization: Bearer <token>'. Short-lived (10 minutes): fetch a new "
                        "one when it expires (401 with WWW-Authenticate: Bearer error="
                        '"invalid_token").'
                    ),
                },
            },
            "parameters": _PARAMETERS,
            "headers": _HEADERS,
            "schemas": components,
        },
    }


def _token_operation() -> dict[str, Any]:
    def oauth_error(error: str, description: str, when: str) -> dict[str, Any]:
        return {
            "description": when,
            "headers": {"X-Request-ID": _header("X-Request-ID")},
            "content": {
                "application/json": {
                    "schema": {"$ref": f"{_COMPONENT}TokenError"},
                    "example": {"error": error, "error_description": description},
                }
            },
        }

    refused = oauth_error(
        "invalid_client",
        "the client assertion is expired",
        "the client assertion (or the TLS client certificate) is refused: expired, replayed, "
        "signed with an unknown key or algorithm, for another audience... (recorded)",
    )
    refused["headers"]["WWW-Authenticate"] = _header("WWW-Authenticate")
    invalid = oauth_error(
        "invalid_request",
        "the grant_type parameter is required",
        "the form is malformed, a parameter is missing or repeated, or the request also "
        "carries an Authorization header (unsupported_grant_type for another grant); recorded. "
        "A malformed X-Request-ID is refused before the form is read, as problem+json",
    )
    invalid["content"] |= _error(400, fhir=False)["content"]
    return {
        "summary": "Trade a signed client assertion for an access token (private_key_jwt)",
        "description": (
            "OAuth 2.0 client credentials (RFC 6749 section 4.4) with a JWT client assertion "
            "(RFC 7523): the partner signs a JWT with its own private key (iss = sub = its "
            "client id, aud = this URL, a unique jti, exp at most 5 minutes ahead) and posts "
            "it here. The access token it gets back is sent as 'Authorization: Bearer <token>' "
            "on every other route until it expires. RFC 6749 tokens are not idempotent: this "
            f"route ignores {KEY_HEADER}."
        ),
        "operationId": "issueToken",
        "security": [],
        "parameters": _CONVENTIONS,
        "requestBody": {
            "required": True,
            "content": {
                FORM: {
                    "schema": {"$ref": f"{_COMPONENT}TokenRequest"},
                    "example": {
                        "grant_type": "client_credentials",
                        "client_assertion_type": ASSERTION_TYPE,
                        "client_assertion": _ASSERTION_EXAMPLE,
                    },
                }
            },
        },
        "responses": {
            "200": {
                "description": "an access token (Cache-Control: no-store)",
                "headers": {"X-Request-ID": _header("X-Request-ID")},
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"{_COMPONENT}TokenResponse"},
                        "example": {
                            "access_token": _ASSERTION_EXAMPLE,
                            "token_type": "Bearer",
                            "expires_in": 600,
                        },
                    }
                },
            },
            "400": invalid,
            "401": refused,
        }
        | _errors((405, 408, 413)),
    }


def _ops(
    summary: str, example: Any, *, media: str = "application/json", failing: bool = False
) -> dict[str, Any]:
    schema = {"type": "string"} if media.startswith("text/") else {"type": "object"}
    responses: dict[str, Any] = {
        "200": {
            "description": summary,
            "headers": _ANSWER_HEADERS,
            "content": {media: {"schema": schema, "example": example}},
        }
    }
    if failing:
        responses["503"] = {
            "description": "a check fails (the database or the ledger writer)",
            "headers": _ANSWER_HEADERS,
            "content": {media: {"schema": schema, "example": example | {"status": "fail"}}},
        }
    return {
        "get": {
            "summary": summary,
            "security": [],
            "parameters": _CONVENTIONS,
            "responses": responses | _errors((400, 405), s400="X-Request-ID is not a UUID"),
        }
    }


# --- texts and examples ---------------------------------------------------------------------------

_DESCRIPTION = (
    "Interagency information sharing between an NHS mental health trust (FHIR R4 UK Core) and a "
    "council's children's social care. Every disclosure is decided under a data-sharing "
    "agreement, minimised, and recorded in a tamper-evident ledger.\n\n"
    "**Conventions** (as NHS England's APIs): every answer carries `X-Request-ID` (send a UUID, "
    "or one is made; a malformed one is 400) and echoes `X-Correlation-ID`. Errors are FHIR "
    "`OperationOutcome` with NHS Spine error codes on `/fhir/` routes and RFC 9457 "
    "`application/problem+json` elsewhere, naming the element and the rule, never a value. A "
    f"POST may carry `{KEY_HEADER}` (1 to {MAX_KEY_LENGTH} printable ASCII characters, scoped to "
    "the partner, kept 24 hours): a replay gets the first answer again with "
    f"`{REPLAYED_HEADER}: true`; the same key for a different request is 422; while the first "
    "is in flight, 409 with `Retry-After`. Each partner has a rate limit (a token bucket per "
    "gateway process): past it, 429 with `Retry-After` in seconds. JSON bodies may nest at most "
    f"{_LIMITS.json_max_depth} deep; a body that does not arrive within "
    f"{_LIMITS.body_read_timeout:g} seconds is 408; a method a route does not serve is 405 "
    "with `Allow`."
)

_SECURITY_DESCRIPTION = (
    "OAuth 2.0 client credentials with a signed JWT client assertion (RFC 7523, "
    "`token_endpoint_auth_method: private_key_jwt`), as NHS England's application-restricted "
    "APIs: the partner's public keys (a JWKS, rotated by `kid`) are configured at the gateway; "
    f"it posts an assertion signed with its private key to `{TOKEN_PATH}` and sends the "
    "short-lived access token it gets as `Authorization: Bearer <token>`. Optionally the token "
    "endpoint also requires the partner's TLS client certificate."
)

_RECEIPT_DESCRIPTION = (
    "Only the partner that sent the exchange may fetch it; anyone else gets the same 404 as for "
    "an unknown id. The top level is an inclusion proof of the exchange's first entry in the "
    "form of the C2SP / transparency-dev test vectors (hashes in base64), with the signed "
    "checkpoint (a C2SP signed note) it leads to; `entries` proves every entry of the exchange. "
    "Check it with `joinedup audit verify-receipt FILE --key <the gateway's verifier key>`. If "
    "no checkpoint covers the entries yet, one is signed on demand, at most once a second: "
    "otherwise 503 with Retry-After."
)

_ASSERTION_EXAMPLE = (
    "eyJhbGciOiJSUzUxMiIsImtpZCI6InRydXN0LTEiLCJ0eXAiOiJKV1QifQ"
    ".eyJpc3MiOiJ0cnVzdC1kZW1vIiwic3ViIjoidHJ1c3QtZGVtbyJ9.c2lnbmF0dXJl"
)

_WITHHELD = [
    {"element": "person.sex", "reason_code": "not-in-agreement"},
    {"element": "mental-health-episode.period", "reason_code": "not-in-agreement"},
    {"element": "crisis-event.location", "reason_code": "not-in-agreement"},
    {"element": "crisis-event.reason", "reason_code": "not-in-agreement"},
    {"element": "diagnosis", "reason_code": "sensitivity-label"},
]
_CRISIS_ACCEPTED = {
    "exchange_id": _EXCHANGE_ID,
    "request_id": _REQUEST_ID,
    "kind": "crisis-event",
    "received_at": "2026-11-30T05:19:26.267934+00:00",
    "recipients": [
        {
            "organisation": "999",
            "outcome": "permit",
            "reason_code": "flow-permits",
            "disclosure_id": "570580cb-490f-4c86-92d0-48278a9faeb1",
            "agreement": {"id": "demo-trust-council", "version": 1, "flow": "crisis-notice"},
            "withheld": _WITHHELD,
        }
    ],
    "ledger_entries": 3,
}
_STATUS_ACCEPTED = {
    "exchange_id": "64be7d4c-e66f-4fce-9fc8-495c5f319a33",
    "request_id": _REQUEST_ID,
    "kind": "child-status",
    "received_at": "2026-11-30T05:19:26.256622+00:00",
    "recipients": [],
    "no_recipient": "child-status messages update the index only",
    "ledger_entries": 3,
}
_LOOKUP_EXAMPLE = {
    "role": "care-coordinator",
    "at": "2026-11-30T10:15:00+00:00",
    "in_hours": True,
    "workers": [
        {
            "role": "care-coordinator",
            "team": "Northtown Community Mental Health Team",
            "telecom": [{"system": "phone", "value": "01632 960123", "out_of_hours": False}],
            "out_of_hours": [{"system": "phone", "value": "01632 960999", "out_of_hours": True}],
            "name": {"given": ["Alex"], "family": "Morgan"},
            "organisation_name": "Northtown Mental Health NHS Foundation Trust",
            "reach_now": {
                "via": "office",
                "contacts": [{"system": "phone", "value": "01632 960123", "out_of_hours": False}],
            },
            "organisation": "RX9",
            "updated_at": "2026-11-30T05:19:26.272240+00:00",
            "agreement": {
                "id": "demo-trust-council",
                "version": 1,
                "flow": "care-coordinator-contact",
            },
            "purpose": "care-coordination",
            "lawful_basis": "art6(1)(e)",
        }
    ],
    "withheld": [],
}
_PROOF = [
    "mpMybuwBg8yYHLQaSgs1OKwKB10C7TRhn4mM5tx2sSY=",
    "kc0Yl19i8WcWakWlkiIcKrMUx12DDamcu6rTdPrcDrc=",
    "WKDwSdj1yNKWj8zzlcZy/QUkSo58o9UjxFCvWFNVeoo=",
]
_RECEIPT_EXAMPLE = {
    "exchangeId": _EXCHANGE_ID,
    "seq": 4,
    "leafIdx": 3,
    "treeSize": 7,
    "root": "NTkSnyCU8yKE+7RpTI06Sm1/Pnsp1RCiVWUE7wayLWA=",
    "leafHash": "y46Qpy8pVMV+t0W88aYlplvSsH41CCXxaIRRPegFwX0=",
    "proof": _PROOF,
    "checkpoint": (
        "joined-up.local/ledger\n7\nNTkSnyCU8yKE+7RpTI06Sm1/Pnsp1RCiVWUE7wayLWA=\n\n"
        "\u2014 joined-up.local/ledger 9bUoQtPEjH9jWGLa53p7fiyLRaBLsOQsA5IKb4aKYgomQxYCj6dHLFOR"
        "aJGj1hbbFmGPrL+kbDd6EYEZalkiU2D7iwc=\n"
    ),
    "entries": [
        {
            "seq": 4,
            "event": "exchange.received",
            "leafIdx": 3,
            "leafHash": "y46Qpy8pVMV+t0W88aYlplvSsH41CCXxaIRRPegFwX0=",
            "proof": _PROOF,
        }
    ],
}
_PING = {"status": "pass", "version": "0.1.0"}
_STATUS = {
    "status": "pass",
    "version": "0.1.0",
    "checks": {
        "database:responseTime": [{"status": "pass", "observedValue": 0.58, "observedUnit": "ms"}],
        "outbox:dead": [{"status": "pass", "observedValue": 0}],
    },
}
_METRICS = (
    "# HELP joinedup_http_requests_total Requests by route template and status\n"
    "# TYPE joinedup_http_requests_total counter\n"
)

_PARAMETERS: dict[str, Any] = {
    "XRequestID": {
        "name": "X-Request-ID",
        "in": "header",
        "required": False,
        "description": "A UUID naming this request in every log line and ledger entry, echoed on "
        "the answer and passed on to partners; made by the gateway if absent; 400 if not a UUID",
        "schema": {"type": "string", "format": "uuid"},
        "example": _REQUEST_ID,
    },
    "XCorrelationID": {
        "name": "X-Correlation-ID",
        "in": "header",
        "required": False,
        "description": "Your own id for a chain of requests: echoed on the answer when it is at "
        "most 128 printable characters",
        "schema": {"type": "string"},
        "example": "trust-batch-2026-11-30-0001",
    },
    "IdempotencyKey": {
        "name": KEY_HEADER,
        "in": "header",
        "required": False,
        "description": f"Makes a POST safe to resend: 1 to {MAX_KEY_LENGTH} printable ASCII "
        "characters (a UUID is usual, e.g. 0b0c7ee4-5d5e-4c5a-9d0e-4f1c2a3b4c5d), scoped to your "
        f"partner id. A replay gets the first answer again ({REPLAYED_HEADER}: true); the same "
        "key for a different request is 422; while the first is in flight, 409 with "
        "Retry-After. Kept for 24 hours.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            "pattern": f"^[ -~]{{1,{MAX_KEY_LENGTH}}}$",
        },
    },
    "DeliveryIdempotencyKey": {
        "name": KEY_HEADER,
        "in": "header",
        "required": True,
        "description": "The delivery's own key, the same on every retry: apply each key once",
        "schema": {"type": "string"},
    },
}

_HEADERS: dict[str, Any] = {
    "X-Request-ID": {
        "description": "This request's id (yours if you sent a valid one)",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    },
    "X-Correlation-ID": {
        "description": "Your X-Correlation-ID, echoed",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying, where retrying will help",
        "schema": {"type": "integer", "minimum": 1},
    },
    "Retry-After-Required": {
        "description": "Seconds until the partner's rate limit allows another request",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "Allow": {
        "description": "The methods this route serves",
        "required": True,
        "schema": {"type": "string"},
    },
    REPLAYED_HEADER: {
        "description": f"Present on a replayed answer to an {KEY_HEADER}",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "WWW-Authenticate": {
        "description": "A Bearer (or, at the token endpoint, private_key_jwt) challenge",
        "required": True,
        "schema": {"type": "string"},
    },
}

_STATIC_COMPONENTS: dict[str, Any] = {
    "FhirMessageBundle": {
        "type": "object",
        "description": (
            "A FHIR R4 Bundle (UK Core): type message, batch, transaction or collection, or a "
            "single resource. See https://hl7.org/fhir/R4/bundle.html and docs/mappings/fhir-r4.md."
        ),
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string"}},
    },
    "ExchangeSummary": {
        "type": "object",
        "required": ["exchange_id", "request_id", "kind", "received_at", "recipients"],
        "properties": {
            "exchange_id": {"type": "string", "format": "uuid"},
            "request_id": {"type": "string", "format": "uuid"},
            "kind": {"type": "string"},
            "received_at": {"type": "string", "format": "date-time"},
            "ledger_entries": {"type": "integer"},
            "no_recipient": {"type": "string"},
            "recipients": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["organisation", "outcome", "reason_code"],
                    "properties": {
                        "organisation": {"type": "string"},
                        "outcome": {"enum": ["permit", "refuse"]},
                        "reason_code": {"type": "string"},
                        "disclosure_id": {"type": "string", "format": "uuid"},
                        "agreement": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string"},
                                "version": {"type": "integer"},
                                "flow": {"type": "string"},
                            },
                        },
                        "withheld": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "element": {"type": "string"},
                                    "reason_code": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "WorkerLookup": {
        "type": "object",
        "required": ["role", "workers", "withheld"],
        "properties": {
            "role": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "in_hours": {"type": "boolean", "description": "whether the offices are open now"},
            "next_opening": {"type": "string", "format": "date-time"},
            "workers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"reach_now": {"$ref": f"{_COMPONENT}ReachNow"}},
                },
            },
            "withheld": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Receipt": {
        "type": "object",
        "description": (
            "An inclusion proof (RFC 9162 section 2.1.3) of the exchange's first ledger entry, "
            "the signed checkpoint it refers to, and a proof for every entry of the exchange"
        ),
        "required": [
            "exchangeId",
            "seq",
            "leafIdx",
            "treeSize",
            "root",
            "leafHash",
            "proof",
            "checkpoint",
            "entries",
        ],
        "properties": {
            "exchangeId": {"type": "string", "format": "uuid"},
            "seq": {"type": "integer", "minimum": 1, "description": "the entry's ledger seq"},
            "leafIdx": {"type": "integer", "minimum": 0, "description": "seq - 1"},
            "treeSize": {"type": "integer", "minimum": 1},
            "root": {"type": "string", "contentEncoding": "base64"},
            "leafHash": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "SHA-256(0x00 || the entry's canonical bytes)",
            },
            "proof": {"type": "array", "items": {"type": "string", "contentEncoding": "base64"}},
            "checkpoint": {
                "type": "string",
                "description": (
                    "a C2SP signed note: origin, tree size and base64 root, a blank line, and "
                    "the gateway's Ed25519 signature line"
                ),
            },
            "entries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["seq", "event", "leafIdx", "leafHash", "proof"],
                    "properties": {
                        "seq": {"type": "integer", "minimum": 1},
                        "event": {"type": "string"},
                        "leafIdx": {"type": "integer", "minimum": 0},
                        "leafHash": {"type": "string", "contentEncoding": "base64"},
                        "proof": {
                            "type": "array",
                            "items": {"type": "string", "contentEncoding": "base64"},
                        },
                    },
                },
            },
        },
    },
    "TokenRequest": {
        "type": "object",
        "required": ["grant_type", "client_assertion_type", "client_assertion"],
        "properties": {
            "grant_type": {"const": "client_credentials"},
            "client_assertion_type": {"const": ASSERTION_TYPE},
            "client_assertion": {
                "type": "string",
                "maxLength": 16384,
                "description": "a compact JWS signed with one of the partner's configured keys",
            },
            "client_id": {
                "type": "string",
                "description": "optional; if given, it must be the assertion's issuer",
            },
        },
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "minimum": 1},
        },
    },
    "TokenError": {
        "type": "object",
        "description": "RFC 6749 section 5.2",
        "required": ["error", "error_description"],
        "properties": {
            "error": {
                "enum": ["invalid_request", "invalid_client", "unsupported_grant_type"],
            },
            "error_description": {"type": "string"},
        },
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "request_id": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["element", "reason", "code"],
                    "properties": {
                        "element": {"type": "string"},
                        "reason": {"type": "string"},
                        "code": {"type": "string"},
                    },
                },
            },
        },
    },
    "OperationOutcome": {
        "type": "object",
        "description": "FHIR R4 OperationOutcome, with NHS Spine error codes in issue.details",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {
                        "severity": {"enum": ["fatal", "error", "warning", "information"]},
                        "code": {"type": "string"},
                        "details": {
                            "type": "object",
                            "properties": {
                                "coding": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "system": {"type": "string"},
                                            "version": {"type": "string"},
                                            "code": {"type": "string"},
                                            "display": {"type": "string"},
                                        },
                                    },
                                }
                            },
                        },
                        "diagnostics": {"type": "string"},
                        "expression": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
}
