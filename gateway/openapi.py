"""The OpenAPI 3.1 description of the partner API, built from the code that serves it.

Served at ``GET /openapi.json`` and committed as ``docs/openapi.json`` (a test keeps the two
equal). The CSC message schemas come from the CSC adapter's own models, so the document cannot
drift from what the adapter accepts and sends; what the gateway delivers to partners is described
under ``webhooks``. FHIR bodies are described by reference to FHIR R4 and UK Core: their checks
live in the FHIR adapter (see docs/mappings/fhir-r4.md).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from adapters.csc.inbound import INBOUND
from adapters.csc.schema import csc_schemas
from schemas.facts import RoleKind

_COMPONENT = "#/components/schemas/"
_PROBLEM = {"$ref": f"{_COMPONENT}Problem"}
_OUTCOME = {"$ref": f"{_COMPONENT}OperationOutcome"}


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


def _errors(ref: dict[str, str], media: str, codes: tuple[int, ...]) -> dict[str, Any]:
    reasons = {
        400: "the body or a parameter is invalid; every problem names the element and the rule",
        401: "no API key, or an unknown one",
        403: "the message's sender is not an organisation this partner speaks for",
        404: "nothing you may see",
        413: "the body is larger than the gateway accepts",
        415: "the Content-Type is not one this door accepts",
        503: "the audit ledger could not be written: nothing was stored; retry",
    }
    return {str(c): {"description": reasons[c], "content": {media: {"schema": ref}}} for c in codes}


def build_openapi() -> dict[str, Any]:
    """The whole document."""
    components: dict[str, Any] = dict(_STATIC_COMPONENTS)
    schemas = csc_schemas()
    inbound = {f"csc-{kind}" for kind in INBOUND}
    refs = {name: _hoist(name, dict(schema), components) for name, schema in schemas.items()}
    csc_in = [refs[n] for n in schemas if n in inbound]
    csc_out = [refs[n] for n in schemas if n not in inbound]
    accepted = {
        "202": {
            "description": "accepted: every decision is in the ledger; deliveries follow",
            "content": {"application/json": {"schema": {"$ref": f"{_COMPONENT}ExchangeSummary"}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Joined-up gateway",
            "version": _version(),
            "description": (
                "Interagency information sharing between an NHS mental health trust (FHIR R4 UK "
                "Core) and a council's children's social care. Every disclosure is decided under "
                "a data-sharing agreement, minimised, and recorded in a tamper-evident ledger."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/fhir/$process-message": {
                "post": {
                    "summary": "Send a FHIR R4 message Bundle (the trust's door)",
                    "operationId": "processMessage",
                    "requestBody": {
                        "required": True,
                        "content": {
                            media: {"schema": {"$ref": f"{_COMPONENT}FhirMessageBundle"}}
                            for media in ("application/fhir+json", "application/fhir+xml")
                        },
                    },
                    "responses": accepted
                    | _errors(_OUTCOME, "application/fhir+json", (400, 401, 403, 413, 415, 503)),
                }
            },
            "/csc/messages": {
                "post": {
                    "summary": "Send a children's social care message (the council's door)",
                    "operationId": "cscMessage",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"oneOf": csc_in}}},
                    },
                    "responses": accepted
                    | _errors(_PROBLEM, "application/problem+json", (400, 401, 403, 413, 415, 503)),
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
                            "schema": {"type": "string"},
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
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": (
                                "the workers you may see, minimised, and what was withheld"
                            ),
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": f"{_COMPONENT}WorkerLookup"}
                                }
                            },
                        }
                    }
                    | _errors(_PROBLEM, "application/problem+json", (400, 401, 404, 503)),
                }
            },
            "/api/v1/exchanges/{exchange_id}/receipt": {
                "get": {
                    "summary": "A receipt: proof that the exchange's ledger entries are in the "
                    "ledger, under a signed checkpoint",
                    "description": (
                        "Only the partner that sent the exchange may fetch it; anyone else gets "
                        "the same 404 as for an unknown id. The top level is an inclusion proof "
                        "of the exchange's first entry in the form of the C2SP / "
                        "transparency-dev test vectors (hashes in base64), with the signed "
                        "checkpoint (a C2SP signed note) it leads to; `entries` proves every "
                        "entry of the exchange. Check it with `joinedup audit verify-receipt "
                        "FILE --key <the gateway's verifier key>`. If no checkpoint covers the "
                        "entries yet, one is signed on demand, at most once a second: otherwise "
                        "503 with Retry-After."
                    ),
                    "operationId": "exchangeReceipt",
                    "parameters": [
                        {
                            "name": "exchange_id",
                            "in": "path",
                            "required": True,
                            "description": "the exchange id from the 202 answer",
                            "schema": {"type": "string", "format": "uuid"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "the receipt",
                            "content": {
                                "application/json": {"schema": {"$ref": f"{_COMPONENT}Receipt"}}
                            },
                        },
                        "503": {
                            "description": (
                                "no checkpoint covers the exchange yet and one was signed less "
                                "than a second ago (retry after Retry-After seconds), or the "
                                "ledger cannot prove the entries (its operators are alerted)"
                            ),
                            "headers": {
                                "Retry-After": {
                                    "description": "seconds to wait, when retrying will help",
                                    "schema": {"type": "integer"},
                                }
                            },
                            "content": {"application/problem+json": {"schema": _PROBLEM}},
                        },
                    }
                    | _errors(_PROBLEM, "application/problem+json", (400, 401, 404)),
                }
            },
            "/_ping": _ops("Alive", "application/json"),
            "/_status": _ops("Ready: database, ledger, outbox", "application/health+json"),
            "/metrics": _ops("Prometheus metrics", "text/plain"),
            "/openapi.json": _ops("This document", "application/json"),
            "/oauth2/token": _token_path(),
        },
        "webhooks": {
            "cscDelivery": {
                "post": {
                    "summary": "What the gateway delivers to a council's system (CSC JSON)",
                    "description": (
                        "Posted to the partner's configured endpoint with Idempotency-Key (stable "
                        "across retries) and X-Request-ID. Answer 2xx once stored."
                    ),
                    "requestBody": {
                        "content": {"application/json": {"schema": {"oneOf": csc_out}}}
                    },
                    "responses": {"202": {"description": "stored by the recipient"}},
                }
            },
            "fhirDelivery": {
                "post": {
                    "summary": "What the gateway delivers to a trust's system (a FHIR message)",
                    "requestBody": {
                        "content": {
                            "application/fhir+json": {
                                "schema": {"$ref": f"{_COMPONENT}FhirMessageBundle"}
                            }
                        }
                    },
                    "responses": {"202": {"description": "stored by the recipient"}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "An access token from POST /oauth2/token, valid for ten minutes (the "
                        "interim API keys only while the operators allow them)."
                    ),
                }
            },
            "schemas": components,
        },
    }


def _token_path() -> dict[str, Any]:
    """POST /oauth2/token: client credentials with a signed JWT client assertion (RFC 7523)."""
    error = {
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {
            "error": {"enum": ["invalid_client", "invalid_request", "unsupported_grant_type"]},
            "error_description": {"type": "string"},
        },
    }
    form = {
        "type": "object",
        "required": ["grant_type", "client_assertion_type", "client_assertion"],
        "properties": {
            "grant_type": {"const": "client_credentials"},
            "client_assertion_type": {
                "const": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            },
            "client_assertion": {"type": "string", "maxLength": 16384},
            "client_id": {"type": "string"},
        },
    }
    token = {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer"},
        },
    }
    return {
        "post": {
            "summary": "Trade a signed client assertion for an access token (private_key_jwt)",
            "description": (
                "OAuth 2.0 client credentials with a JWT client assertion (RFC 7523) signed with "
                "a key in the partner's JWKS: iss = sub = the client id, aud = this endpoint's "
                "URL, a unique jti, exp at most five minutes ahead. Every refusal is recorded."
            ),
            "operationId": "issueToken",
            "security": [],
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": form}},
            },
            "responses": {
                "200": {
                    "description": "an access token (Cache-Control: no-store)",
                    "content": {"application/json": {"schema": token}},
                },
                "400": {
                    "description": "invalid_request or unsupported_grant_type",
                    "content": {"application/json": {"schema": error}},
                },
                "401": {
                    "description": "invalid_client: the assertion or the client certificate",
                    "content": {"application/json": {"schema": error}},
                },
            },
        }
    }


def _ops(summary: str, media: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": [],
            "responses": {"200": {"description": summary, "content": {media: {}}}},
        }
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
            "workers": {"type": "array", "items": {"type": "object"}},
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
            "issue": {"type": "array", "items": {"type": "object"}},
        },
    },
}
