"""Error bodies: FHIR OperationOutcome on the FHIR door, RFC 9457 problem+json elsewhere.

Both name the element and the reason; neither ever carries record content or a stack trace.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from gateway.appkeys import REQUEST_ID
from gateway.errors import GatewayError, InvalidInput, Issue

PROBLEM_JSON = "application/problem+json"
FHIR_JSON = "application/fhir+json"
PROBLEM_BASE = "https://joined-up.org.uk/problems/"

_SEVERITY_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    408: "timeout",
    409: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    503: "transient",
}


def is_fhir_route(request: web.Request) -> bool:
    """FHIR routes answer errors as OperationOutcome."""
    return request.path.startswith("/fhir/") or request.path == "/fhir"


def json_response(
    body: Any, *, status: int = 200, content_type: str = "application/json"
) -> web.Response:
    """A JSON response serialised with orjson."""
    return web.Response(body=orjson.dumps(body), status=status, content_type=content_type)


def error_response(
    request: web.Request, *, status: int, title: str, detail: str, issues: list[Issue] | None = None
) -> web.Response:
    """An error in the format the route's callers expect."""
    issues = issues or []
    if is_fhir_route(request):
        return json_response(
            operation_outcome(status, detail, issues), status=status, content_type=FHIR_JSON
        )
    return json_response(
        problem_details(status, title, detail, issues, request.get(REQUEST_ID)),
        status=status,
        content_type=PROBLEM_JSON,
    )


def problem_details(
    status: int, title: str, detail: str, issues: list[Issue], request_id: str | None
) -> dict[str, Any]:
    """An RFC 9457 problem details object (the OpenAPI document's examples are made with it)."""
    slug = title.lower().replace(" ", "-")
    problem: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request_id:
        problem["request_id"] = request_id
    if issues:
        problem["errors"] = [
            {"element": i.element, "reason": i.reason, "code": i.code} for i in issues
        ]
    return problem


def gateway_error_response(request: web.Request, exc: GatewayError) -> web.Response:
    """Render a deliberate gateway error (with ``Retry-After`` when the error sets it)."""
    issues = exc.issues if isinstance(exc, InvalidInput) else None
    response = error_response(
        request, status=exc.status, title=exc.title, detail=exc.detail, issues=issues
    )
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


# NHS England's Spine error codes, as its own APIs (PDS) return them in OperationOutcome.details.
SPINE_ERROR_SYSTEM = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"
_SPINE_BY_ISSUE_CODE = {
    "required": ("MISSING_VALUE", "Required value is missing"),
    "value": ("INVALID_VALUE", "Provided value is invalid"),
    "invalid": ("INVALID_VALUE", "Provided value is invalid"),
    "code-invalid": ("INVALID_VALUE", "Provided value is invalid"),
    "structure": ("INVALID_VALUE", "Provided value is invalid"),
    "business-rule": ("INVALID_VALUE", "Provided value is invalid"),
    "duplicate": ("INVALID_VALUE", "Provided value is invalid"),
    "not-found": ("INVALID_VALUE", "Provided value is invalid"),  # an unresolvable reference
    "not-supported": ("UNSUPPORTED_SERVICE", "Unsupported Service"),
    "login": ("ACCESS_DENIED", "Access denied"),
    "forbidden": ("ACCESS_DENIED", "Access denied"),
}
_SPINE_BY_STATUS = {
    404: ("RESOURCE_NOT_FOUND", "Resource not found"),
    405: ("INVALID_METHOD", "Invalid method"),
    # A duplicate submission refused while the first is in flight (GP Connect's 409 code).
    409: ("DUPLICATE_REJECTED", "Create would lead to creation of a duplicate resource"),
    # As PDS and the other NHS England APIs answer a spent rate limit.
    429: ("TOO_MANY_REQUESTS", "Too many requests"),
}


def _details(issue_code: str, status: int) -> dict[str, Any] | None:
    spine = _SPINE_BY_STATUS.get(status) or _SPINE_BY_ISSUE_CODE.get(issue_code)
    if spine is None:
        return None
    code, display = spine
    return {
        "coding": [{"system": SPINE_ERROR_SYSTEM, "version": "1", "code": code, "display": display}]
    }


def operation_outcome(status: int, detail: str, issues: list[Issue]) -> dict[str, Any]:
    """Shaped like the Spine APIs' own errors: FHIR issue code, Spine code, diagnostics."""
    fallback = _SEVERITY_CODE.get(status, "exception")
    found: list[tuple[str, str, list[str] | None]] = [
        (i.code if status in (400, 422) else fallback, i.reason, [i.element]) for i in issues
    ]
    entries = []
    for code, diagnostics, expression in found or [(fallback, detail, None)]:
        entry: dict[str, Any] = {"severity": "error", "code": code}
        details = _details(code, status)
        if details is not None:
            entry["details"] = details
        entry["diagnostics"] = diagnostics
        if expression is not None:
            entry["expression"] = expression
        entries.append(entry)
    return {"resourceType": "OperationOutcome", "issue": entries}
