"""Every exception the gateway raises on purpose, in one tree.

    GatewayError
    ├── InvalidInput            bad input from a caller: 4xx, names element and reason
    │   ├── InvalidMessage      a partner message that cannot be parsed or checked (400/422)
    │   ├── RequestTimeout      408: the body did not arrive in time
    │   ├── PayloadTooLarge     413
    │   ├── UnsupportedMediaType 415
    │   └── KeyReused           422: an Idempotency-Key already used for a different request
    ├── Unauthenticated         401: no or unknown credentials
    ├── Forbidden               403: authenticated, but not allowed (sender mismatch, role)
    ├── NotFound                404
    ├── Conflict                409: the same Idempotency-Key is still being processed
    ├── TooManyRequests         429: the partner's rate limit is spent
    ├── ConfigurationError      invalid settings, agreements or partner configuration (start-up)
    └── Unavailable             503: the ledger or store cannot be written; nothing was committed

A decision not to disclose is not an exception: the policy engine returns it as a value
(``gateway.policy.engine.Decision``), and the pipeline audits every one, permit or refuse.

Error texts name elements and rules, never values: they reach partners and logs, and must not
carry identifiers or record content.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with an input: where (a FHIRPath-like or JSON path) and why, never the value."""

    element: str
    reason: str
    code: str = "invalid"  # FHIR issue-type code: invalid, structure, required, value, code-invalid


class GatewayError(Exception):
    """Base of every deliberate gateway error."""

    status = 500
    title = "Gateway error"
    retry_after: int | None = None  # seconds, sent as Retry-After when set

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(GatewayError):
    """A caller sent something the gateway cannot accept."""

    status = 400
    title = "Invalid input"

    def __init__(self, detail: str, issues: list[Issue] | None = None) -> None:
        super().__init__(detail)
        self.issues = issues or []


class InvalidMessage(InvalidInput):
    """A partner message failed parsing or the adapter's checks."""

    title = "Invalid message"

    def __init__(self, issues: list[Issue], *, status: int = 400) -> None:
        first = issues[0] if issues else Issue("(message)", "invalid message")
        super().__init__(f"{first.element}: {first.reason}", issues)
        self.status = status


class RequestTimeout(InvalidInput):
    """The request body did not arrive within the configured time."""

    status = 408
    title = "Request timeout"


class PayloadTooLarge(InvalidInput):
    """The request body is larger than the configured limit."""

    status = 413
    title = "Payload too large"


class UnsupportedMediaType(InvalidInput):
    """The request's content type is not one the route accepts."""

    status = 415
    title = "Unsupported media type"


class KeyReused(InvalidInput):
    """An Idempotency-Key this partner already used for a different request (method, path,
    content type or body)."""

    status = 422
    title = "Idempotency key reused"


class Unauthenticated(GatewayError):
    """Missing or unknown credentials."""

    status = 401
    title = "Unauthenticated"


class Forbidden(GatewayError):
    """Credentials are valid but do not allow this."""

    status = 403
    title = "Forbidden"


class NotFound(GatewayError):
    """No such resource (or not one the caller may know exists)."""

    status = 404
    title = "Not found"


class Conflict(GatewayError):
    """A request with the same Idempotency-Key is still being processed: retry after a moment."""

    status = 409
    title = "Conflict"

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooManyRequests(GatewayError):
    """The partner has spent its rate limit: retry after ``retry_after`` seconds."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ConfigurationError(GatewayError):
    """Settings, agreements or partner configuration are invalid."""

    title = "Configuration error"


class Unavailable(GatewayError):
    """The store or ledger cannot be written: the exchange is refused and nothing is committed."""

    status = 503
    title = "Service unavailable"
