"""structlog configuration: JSON lines with request and exchange ids, and a redaction step.

# SECURITY: the redaction processor is the last line of defence, not the first: code logs ids,
# counts and codes only. It still removes any key that names record content and masks anything
# shaped like an NHS number, UPN or e-mail address in any value, so a mistake cannot leak one.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are never logged, whatever they hold.
REDACTED_KEYS = frozenset(
    {
        "body",
        "payload",
        "content",
        "identifier",
        "identifiers",
        "nhs_number",
        "la_child_id",
        "upn",
        "name",
        "given",
        "family",
        "birth_date",
        "date_of_birth",
        "postcode",
        "address",
        "telecom",
        "phone",
        "email",
        "api_key",
        "authorization",
        "token",
        "password",
        "query_string",
    }
)
# Ids the gateway generates itself (UUIDs): a UUID can contain a run of ten digits, and masking it
# would break log correlation, so these keys are passed through as they are.
GENERATED_ID_KEYS = frozenset({"request_id", "exchange_id", "outbox_id", "disclosure_id"})
_PATTERNS = (
    re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)"),  # NHS numbers (and other 10-digit ids)
    re.compile(r"\b[A-Za-z]\d{11}[A-Za-z0-9]\b"),  # UPNs
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),  # e-mail addresses
)
REDACTED = "[redacted]"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for pattern in _PATTERNS:
            value = pattern.sub(REDACTED, value)
        return value
    if isinstance(value, dict):
        return {k: REDACTED if k in REDACTED_KEYS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """A structlog processor: drop content keys, mask identifier-shaped text everywhere."""
    for key in list(event_dict):
        if key in GENERATED_ID_KEYS:
            continue
        if key.lower() in REDACTED_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def processors(*, json: bool = True) -> list[Any]:
    """The ordered processor chain; ``redact`` runs after exceptions are rendered to text."""
    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    chain.append(
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    return chain


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Configure structlog (and route stdlib logging through the same redaction)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    structlog.configure(
        processors=processors(json=fmt == "json"),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard library (aiohttp, SQLAlchemy, asyncio): send their records
    # through the same chain, redaction included, so no handler writes an unredacted line.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=processors(json=fmt == "json")[:-1],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                processors(json=fmt == "json")[-1],
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # aiohttp's access log would print query strings; it is replaced by our own request log.
    logging.getLogger("aiohttp.access").disabled = True
