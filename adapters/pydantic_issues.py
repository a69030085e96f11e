"""Turn a pydantic ``ValidationError`` into value-free :class:`~gateway.errors.Issue` objects.

pydantic's messages, and the ``input`` it keeps, can quote the offending value: an NHS number, a
name, a date of birth. Partners and logs must never see those, so a reason comes from a fixed table
keyed by the error *type*. Only where the caller vouches for the validators (this project's own,
whose messages name rules and never values) is a validator's own message passed through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import ValidationError

from gateway.errors import Issue

PathStyle = Literal["json", "fhir"]

# error type -> (plain-English reason, FHIR issue-type code)
_REASONS: dict[str, tuple[str, str]] = {
    "missing": ("is required", "required"),
    "extra_forbidden": ("is not an element of this format", "structure"),
    "string_type": ("must be a string", "structure"),
    "string_unicode": ("must be a string", "structure"),
    "int_type": ("must be an integer", "structure"),
    "int_parsing": ("must be an integer", "structure"),
    "int_from_float": ("must be an integer", "structure"),
    "bool_type": ("must be true or false", "structure"),
    "bool_parsing": ("must be true or false", "structure"),
    "list_type": ("must be an array", "structure"),
    "tuple_type": ("must be an array", "structure"),
    "dict_type": ("must be an object", "structure"),
    "model_type": ("must be an object", "structure"),
    "model_attributes_type": ("must be an object", "structure"),
    "string_too_short": ("is too short", "value"),
    "string_too_long": ("is too long", "too-long"),
    "string_pattern_mismatch": ("does not have the required format", "value"),
    "too_short": ("has too few items", "required"),
    "too_long": ("has too many items", "too-long"),
    "date_type": ("must be a date (YYYY-MM-DD)", "value"),
    "date_parsing": ("must be a date (YYYY-MM-DD)", "value"),
    "date_from_datetime_parsing": ("must be a date (YYYY-MM-DD)", "value"),
    "date_from_datetime_inexact": ("must be a date (YYYY-MM-DD)", "value"),
    "datetime_type": ("must be a date-time (ISO 8601)", "value"),
    "datetime_parsing": ("must be a date-time (ISO 8601)", "value"),
    "datetime_from_date_parsing": ("must be a date-time (ISO 8601)", "value"),
    "timezone_aware": ("must include a time zone", "value"),
    "enum": ("is not one of the allowed codes", "code-invalid"),
    "literal_error": ("is not one of the allowed codes", "code-invalid"),
    "union_tag_invalid": ("has an unknown type", "structure"),
    "union_tag_not_found": ("has no type", "structure"),
    # fhir.resources reads a string where an object belongs as embedded JSON, and fails so
    "json_invalid": ("must be an object", "structure"),
    "json_type": ("must be JSON", "structure"),
    "model_field_validation.missing": ("is required", "required"),
}


def _is_name(part: str) -> bool:
    # pydantic adds validator names such as "function-after[...]" to locations; they are not
    # elements a partner can find in their message, so they are left out of the path.
    return part.replace("_", "a").isalnum()


def location(root: str, loc: Sequence[int | str], tags: frozenset[str] = frozenset()) -> str:
    """A JSON path (root ``$``) or FHIRPath-like location (root ``Bundle``) for a pydantic loc.

    ``tags`` are discriminated-union tags (``person``, ``nhs-number``): pydantic puts the tag after
    the array index of a union item, but it is not an element of the document, so it is dropped.
    """
    path = root
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _is_name(part) and not (isinstance(previous, int) and part in tags):
            path += f".{part}"
        previous = part
    return path


def issues_from(
    exc: ValidationError,
    *,
    root: str,
    trust_messages: bool,
    body_element: str = "(body)",
    tags: frozenset[str] = frozenset(),
) -> list[Issue]:
    """One Issue per pydantic error, located under ``root``, never quoting the input.

    ``trust_messages`` passes a ``value_error``'s own message through; set it only for models
    whose validators are this project's (their messages name the rule, never the value).
    """
    issues: list[Issue] = []
    # SECURITY: include_input=False, and msg is never read: pydantic and fhir.resources messages
    # can quote the value (e.g. "Date value string does not match spec regex. '...'").
    for err in exc.errors(include_url=False, include_input=False):
        kind = err["type"]
        if kind == "json_invalid" and not err["loc"]:
            issues.append(Issue(body_element, "is not well-formed JSON", "structure"))
            continue
        element = location(root, err["loc"], tags)
        context = err.get("ctx") or {}
        if kind in ("value_error", "assertion_error"):
            reason = str(context.get("error", "")) if trust_messages else ""
            issues.append(Issue(element, reason or "has an invalid value", "value"))
            continue
        reason, code = _REASONS.get(kind, (f"is not valid ({kind})", "invalid"))
        expected = context.get("expected")
        if kind in ("enum", "literal_error") and isinstance(expected, str):
            # The allowed codes come from the schema, not from the record: safe to name.
            reason = f"must be one of {expected}"
        issues.append(Issue(element, reason, code))
    return issues
