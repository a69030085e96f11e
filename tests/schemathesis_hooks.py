"""Schemathesis hooks for tests/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

The coverage phase fills an optional header with the same value in every case it makes ("0"
for Idempotency-Key), so every request after the first would reuse one key for a different
body, be refused with 422 before the door reads it, and the fuzzing would never reach the
adapters. A real client makes a key per request: where a case sends a valid key, it is replaced
with a fresh UUID just before the request goes. Cases about a header (a missing, malformed or
boundary value of any header, the key's included) are sent exactly as made, so every refusal is
still checked. (Replays and reuse are tested in tests/test_idempotency.py.)
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from typing import Any

import schemathesis

KEY = "Idempotency-Key"


def _valid(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 255 and all(" " <= c <= "~" for c in value)


def _about_a_header(case: Any) -> bool:
    data = getattr(getattr(case.meta, "phase", None), "data", None)
    location = getattr(data, "parameter_location", None)
    return location is not None and "header" in str(location).lower()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A fresh key for each request that sends a valid one, unless a header is under test."""
    headers = case.headers
    if (
        isinstance(headers, MutableMapping)
        and _valid(headers.get(KEY))
        and not _about_a_header(case)
    ):
        headers[KEY] = str(uuid.uuid4())
