"""Rendering: the jinja2 environment (autoescape always on), the security headers every review page
carries, and the HTML error pages (the API's problem+json has no place in a browser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined

_HERE = files("gateway.review")
TEMPLATES = str(_HERE / "templates")
CSS = (_HERE / "static" / "review.css").read_bytes()

# SECURITY: nothing but this origin's own stylesheet; no scripts at all; not framed; forms post
# only here; no URL leaks to other sites in a Referer.
CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

# Each status's page: the heading and what to do about it.
_ERRORS: dict[int, tuple[str, list[str]]] = {
    400: ("The request could not be understood", ["Go back and try again."]),
    403: (
        "You do not have access to this page",
        [
            "Your account's role does not include this page. Ask your information governance lead "
            "if you need it."
        ],
    ),
    404: ("Page not found", ["Check the address, or start from the search page."]),
    405: ("This page cannot be used that way", ["Go back and use the page's own form."]),
    409: ("That was already done", ["Go back and reload the page."]),
    413: ("What was sent is too large", ["Go back and send less."]),
    429: ("Too many attempts", ["Wait a few minutes and try again."]),
    500: (
        "Something went wrong",
        [
            "The page could not be shown. If it happens again, tell the gateway's operators and "
            "quote the request id below."
        ],
    ),
    502: (
        "The sign-in provider could not be reached",
        ["Try again in a few minutes, or sign in with a local account."],
    ),
    503: (
        "The ledger could not be written",
        [
            "Nothing was shown or changed: every view of personal data must be recorded first. "
            "Try again shortly; if it persists, tell the gateway's operators."
        ],
    ),
}


def when(value: datetime | str | None) -> str:
    """A timestamp as the pages show it: UTC, to the second."""
    if value is None:
        return ""
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def age(delta: timedelta) -> str:
    """A duration in words, to the nearest second, minute, hour or day."""
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def environment() -> Environment:
    """The templates, autoescaped whatever their name, failing loudly on a missing variable."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    return env


def html_response(body: str, *, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def secure(response: web.StreamResponse, *, cache: bool = False) -> None:
    """Add the headers every review response carries (``no-store`` unless ``cache``)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if not cache:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"


def error_context(status: int, detail: str | None = None) -> dict[str, Any]:
    """The error page's heading and paragraphs for ``status``."""
    title, paragraphs = _ERRORS.get(status, _ERRORS[500] if status >= 500 else _ERRORS[400])
    return {
        "title": title,
        "paragraphs": [detail] if detail else paragraphs,
        "link": None,
    }
