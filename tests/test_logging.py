"""The redaction processor: no identifier or record content reaches a log line."""

from __future__ import annotations

import io
import logging

import orjson
import structlog

from gateway.logging import REDACTED, processors, redact


def _render(**fields: object) -> str:
    stream = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=stream), processors=processors(json=True)
    )
    logger.info("event", **fields)
    return stream.getvalue()


def test_identifier_shaped_values_are_masked_anywhere() -> None:
    """NHS numbers (plain or spaced), UPNs and e-mail addresses are masked inside any value."""
    line = _render(
        note="patient 9000000009 and 900 000 0017",
        nested={"deep": ["pupil A12345678901B", "mail sam.patel@council.example"]},
    )
    for secret in ("9000000009", "900 000 0017", "A12345678901B", "sam.patel@council.example"):
        assert secret not in line
    assert REDACTED in line


def test_content_keys_are_dropped_whatever_they_hold() -> None:
    """Keys that name record content are replaced outright."""
    event = orjson.loads(
        _render(body="{...}", name="Jane", telecom="0113", Authorization="Bearer k")
    )
    assert {"body": REDACTED, "name": REDACTED, "telecom": REDACTED, "Authorization": REDACTED} == {
        k: event[k] for k in ("body", "name", "telecom", "Authorization")
    }


def test_exception_text_is_redacted() -> None:
    """A traceback whose message carries an identifier is masked after it is rendered."""
    stream = io.StringIO()
    logger = structlog.wrap_logger(structlog.PrintLogger(file=stream), processors=processors())
    try:
        raise ValueError("bad value 9000000009")
    except ValueError:
        logger.exception("failed")
    assert "9000000009" not in stream.getvalue()
    assert "ValueError" in stream.getvalue()


def test_redact_leaves_ordinary_fields() -> None:
    """Ids, counts and codes pass through untouched."""
    event = {"event": "x", "request_id": "1f0e", "status": 202, "reason_code": "no-agreement"}
    assert dict(event) == redact(logging.getLogger(), "info", dict(event))


def test_generated_ids_are_kept_whole() -> None:
    """A request id that happens to hold ten digits in a row is not masked."""
    request_id = "a1b2c3d4-e5f6-4a7b-8c9d-a1234567890b"
    assert request_id == orjson.loads(_render(request_id=request_id))["request_id"]
