"""Typed, value-free access to parsed FHIR JSON.

The focused parser walks plain dicts (fast) instead of building fhir.resources models (slow). Every
accessor checks the JSON shape it expects and records an Issue where the shape is wrong, so a
malformed message produces a list of located problems, never a ``KeyError`` or ``TypeError``.
Reasons name the rule broken, never the value found.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime

from gateway.errors import InvalidMessage, Issue
from schemas.facts import Period

JsonObject = dict[str, object]


class Issues:
    """The problems found so far in one message, raised together as one InvalidMessage."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Issue] = []

    def add(self, element: str, reason: str, code: str = "invalid") -> None:
        """Record one problem at ``element``; ``reason`` must not quote the value."""
        self.items.append(Issue(element, reason, code))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        """Raise every problem found so far as one InvalidMessage (each problem once)."""
        if self.items:
            # A resource referenced twice is read twice; its problems are reported once.
            raise InvalidMessage(list(dict.fromkeys(self.items)))


def as_object(value: object, path: str, issues: Issues) -> JsonObject | None:
    """``value`` as a JSON object, or None with an issue."""
    if isinstance(value, dict):
        return value  # a dict from JSON: a JsonObject
    issues.add(path, "must be a JSON object", "structure")
    return None


def child_object(
    parent: JsonObject, key: str, path: str, issues: Issues, *, required: bool = False
) -> JsonObject | None:
    """The object at ``parent[key]``; None (with an issue if required or mis-shaped) otherwise."""
    value = parent.get(key)
    if value.__class__ is dict:  # the common case first: this runs for every element read
        return value  # a dict from JSON: a JsonObject
    if value is None:
        if required:
            issues.add(f"{path}.{key}", "is required", "required")
        return None
    return as_object(value, f"{path}.{key}", issues)


def child_list(
    parent: JsonObject, key: str, path: str, issues: Issues, *, required: bool = False
) -> list[object]:
    """The array at ``parent[key]``, or an empty list (with an issue if required or mis-shaped)."""
    value = parent.get(key)
    if value is None or value == []:
        if required:
            issues.add(f"{path}.{key}", "is required", "required")
        return []
    if not isinstance(value, list):
        issues.add(f"{path}.{key}", "must be a JSON array", "structure")
        return []
    return value


def objects(
    parent: JsonObject, key: str, path: str, issues: Issues, *, required: bool = False
) -> Sequence[tuple[str, JsonObject]]:
    """Each object in the array at ``parent[key]`` with its path; other items are reported.

    A list, not a generator: it runs for every repeating element read, most of them absent.
    """
    if key not in parent and not required:
        return ()
    found: list[tuple[str, JsonObject]] = []
    for i, item in enumerate(child_list(parent, key, path, issues, required=required)):
        if item.__class__ is dict:
            found.append((f"{path}.{key}[{i}]", item))  # a dict from JSON
        else:
            issues.add(f"{path}.{key}[{i}]", "must be a JSON object", "structure")
    return found


def child_str(
    parent: JsonObject, key: str, path: str, issues: Issues, *, required: bool = False
) -> str | None:
    """The string at ``parent[key]``; None (with an issue if required or mis-shaped) otherwise."""
    value = parent.get(key)
    if value.__class__ is str and value and not value.isspace():
        return value  # the common case, first: runs for every element
    if value is None:
        if required:
            issues.add(f"{path}.{key}", "is required", "required")
        return None
    if not isinstance(value, str):
        issues.add(f"{path}.{key}", "must be a string", "structure")
        return None
    if not value.strip():
        issues.add(f"{path}.{key}", "must not be empty", "value")
        return None
    return value


def strings(parent: JsonObject, key: str, path: str, issues: Issues) -> tuple[str, ...]:
    """The strings in the array at ``parent[key]``; other items are reported."""
    found: list[str] = []
    for i, item in enumerate(child_list(parent, key, path, issues)):
        if isinstance(item, str) and item.strip():
            found.append(item)
        else:
            issues.add(f"{path}.{key}[{i}]", "must be a non-empty string", "structure")
    return tuple(found)


def parse_date(value: str, path: str, issues: Issues) -> date | None:
    """A full FHIR ``date``; partial dates (year, year-month) cannot be carried canonically."""
    if len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    issues.add(path, "must be a full date (YYYY-MM-DD)", "value")
    return None


def parse_date_time(value: str, path: str, issues: Issues) -> datetime | date | None:
    """A FHIR ``dateTime`` or ``instant``: a full date, or a date-time with a time zone."""
    if len(value) == 10:
        return parse_date(value, path, issues)
    if len(value) > 10 and value[10] == "T":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:
                issues.add(path, "a date-time must include a time zone", "value")
                return None
            return parsed
    issues.add(path, "must be a full date or a date-time with a time zone", "value")
    return None


def child_date(parent: JsonObject, key: str, path: str, issues: Issues) -> date | None:
    """The full date at ``parent[key]``, if any."""
    value = child_str(parent, key, path, issues)
    return None if value is None else parse_date(value, f"{path}.{key}", issues)


def child_date_time(
    parent: JsonObject, key: str, path: str, issues: Issues, *, required: bool = False
) -> datetime | date | None:
    """The date or date-time at ``parent[key]``, if any."""
    value = child_str(parent, key, path, issues, required=required)
    return None if value is None else parse_date_time(value, f"{path}.{key}", issues)


def child_period(parent: JsonObject, key: str, path: str, issues: Issues) -> Period | None:
    """The FHIR Period at ``parent[key]`` as a canonical Period, if any."""
    period = child_object(parent, key, path, issues)
    if period is None:
        return None
    here = f"{path}.{key}"
    start = child_date_time(period, "start", here, issues)
    end = child_date_time(period, "end", here, issues)
    if start is not None and end is not None and _comparable(start) > _comparable(end):
        issues.add(f"{here}.end", "must not be before the start", "value")
    return Period(start=start, end=end)


def _comparable(value: datetime | date) -> date:
    # Compare a date with a date-time by calendar day: FHIR periods may mix precisions.
    return value.date() if isinstance(value, datetime) else value


def codings(
    concept: JsonObject, path: str, issues: Issues
) -> Iterator[tuple[str, str | None, str | None, str | None]]:
    """(path, system, code, display) for each Coding in a CodeableConcept."""
    for coding_path, coding in objects(concept, "coding", path, issues):
        system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
        if (  # the common case, checked inline (this runs for every coding read)
            system.__class__ is str
            and code.__class__ is str
            and system
            and code
            and not system.isspace()
            and not code.isspace()
            and (display is None or (display.__class__ is str and display.strip()))
        ):
            yield coding_path, system, code, display
            continue
        yield (
            coding_path,
            child_str(coding, "system", coding_path, issues),
            child_str(coding, "code", coding_path, issues),
            child_str(coding, "display", coding_path, issues),
        )


def extensions(
    element: JsonObject, url: str, path: str, issues: Issues
) -> Iterator[tuple[str, JsonObject]]:
    """Each extension on ``element`` with this url, with its path."""
    if "extension" not in element:
        return
    for ext_path, ext in objects(element, "extension", path, issues):
        if ext.get("url") == url:
            yield ext_path, ext
