"""ContactPoint to canonical contacts, with the out-of-hours marker.

FHIR has no way to say "this number is the out-of-hours (crisis) line": ``use: temp`` means a
temporary contact, and ``period`` says when a contact is valid, not at what hours. Joined-up marks
it with a local boolean extension, ``https://joined-up.org.uk/StructureDefinition/out-of-hours``.
Contacts marked ``use: old`` or whose period has ended are dropped: they are no use in a crisis.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from adapters.fhir_r4.codes import OUT_OF_HOURS_EXTENSION
from adapters.fhir_r4.walk import Issues, JsonObject, child_period, child_str, objects
from schemas.facts import ContactPoint

_SYSTEMS: dict[str, Literal["phone", "email", "url", "other"]] = {
    "phone": "phone",
    "email": "email",
    "url": "url",
    # Canonical contacts have no fax, pager or SMS: they are kept, as "other".
    "fax": "other",
    "pager": "other",
    "sms": "other",
    "other": "other",
}


def read_telecom(
    element: JsonObject, path: str, issues: Issues, now: datetime
) -> tuple[ContactPoint, ...]:
    """The current contacts in ``element.telecom``, out-of-hours ones marked."""
    if "telecom" not in element:
        return ()
    found: list[ContactPoint] = []
    for contact_path, contact in objects(element, "telecom", path, issues):
        system = child_str(contact, "system", contact_path, issues, required=True)
        value = child_str(contact, "value", contact_path, issues)
        period = child_period(contact, "period", contact_path, issues)
        if system is not None and system not in _SYSTEMS:
            issues.add(f"{contact_path}.system", "is not a ContactPoint system", "code-invalid")
            continue
        if system is None or value is None or contact.get("use") == "old":
            continue
        if period is not None and period.end is not None and _ended(period.end, now):
            continue
        if len(value) > 256:
            issues.add(f"{contact_path}.value", "is too long for a contact", "too-long")
            continue
        found.append(
            ContactPoint(
                system=_SYSTEMS[system], value=value, out_of_hours=_is_out_of_hours(contact)
            )
        )
    return tuple(found)


def _ended(end: datetime | date, now: datetime) -> bool:
    return end < now if isinstance(end, datetime) else end < now.date()


def _is_out_of_hours(contact: JsonObject) -> bool:
    marks = contact.get("extension")
    if not isinstance(marks, list):
        return False
    return any(
        isinstance(m, dict) and m.get("url") == OUT_OF_HOURS_EXTENSION and m.get("valueBoolean")
        for m in marks
    )


def telecom_json(contacts: tuple[ContactPoint, ...]) -> list[JsonObject]:
    """FHIR ContactPoints for canonical contacts (used by the renderer)."""
    rendered: list[JsonObject] = []
    for contact in contacts:
        item: JsonObject = {"system": contact.system, "value": contact.value, "use": "work"}
        if contact.out_of_hours:
            item["extension"] = [{"url": OUT_OF_HOURS_EXTENSION, "valueBoolean": True}]
        rendered.append(item)
    return rendered
