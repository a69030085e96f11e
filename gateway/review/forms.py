"""The search form: its choices, and the checks on what comes back (each error names its field).

A person identifier is never echoed back into a page, valid or not: the pages say "the person
identifier you entered", so an NHS number typed into the form appears in no page, cache or
screenshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from pydantic import ValidationError

from gateway.policy.engine import AgreementSet
from gateway.review.queries import Outcome, SearchFilters, is_uuid
from gateway.settings import Settings
from schemas.identifiers import LaChildId, validate_nhs_number
from schemas.labels import Purpose

IDENTIFIER_ERROR = "The person identifier is not a valid NHS number or la:<LA code>:<child id>"
OUTCOMES: tuple[tuple[Outcome, str], ...] = (
    ("any", "Any"),
    ("shared", "Shared"),
    ("refused", "Refused"),
    ("override", "Override"),
)
_MAX_IDENTIFIER = 100


def identifier_key(text: str) -> str:
    """The index key for a typed identifier: an NHS number (spaces allowed) or
    ``la:<LA code>:<child id>``. ValueError if it is neither (the message names no value)."""
    value = text.strip()
    if len(value) > _MAX_IDENTIFIER:
        raise ValueError("too long")
    if value[:3].lower() == "la:":
        parts = value.split(":")
        if len(parts) != 3:
            raise ValueError("an LA child id is la:<LA code>:<child id>")
        try:
            return LaChildId(la_code=parts[1], value=parts[2]).key
        except ValidationError:
            raise ValueError("not a valid LA child id") from None
    return f"nhs:{validate_nhs_number(value)}"


@dataclass(frozen=True, slots=True)
class Choices:
    """The options of the search form's lists."""

    partners: tuple[tuple[str, str], ...]  # (id, name)
    purposes: tuple[str, ...]
    bases: tuple[str, ...]

    @classmethod
    def build(cls, settings: Settings, agreements: AgreementSet) -> Choices:
        bases = sorted(
            {basis.code for a in agreements for flow in a.flows for basis in flow.lawful_bases}
        )
        return cls(
            partners=tuple((p.id, p.name) for p in settings.partners),
            purposes=tuple(p.value for p in Purpose),
            bases=tuple(bases),
        )


@dataclass
class SearchForm:
    """What the search form held, the errors by field id, and the filters when it is valid."""

    values: dict[str, str] = field(default_factory=dict)  # echoed back: never the identifier
    errors: dict[str, str] = field(default_factory=dict)
    identifier_key: str | None = None
    person_id: str | None = None  # the index's id, from a "next page" link (never an identifier)
    filters: SearchFilters = field(default_factory=SearchFilters)

    @property
    def valid(self) -> bool:
        return not self.errors


def _date(form: SearchForm, name: str, label: str, raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        form.errors[name] = f"The date {label} must be a real date, written YYYY-MM-DD"
        return None


def _lists(form: SearchForm, query: Mapping[str, str], choices: Choices) -> Outcome:
    """The four lists: each value must be one of its options (or empty for any)."""
    get = {k: query.get(k, "").strip() for k in ("partner", "purpose", "basis", "outcome")}
    allowed: dict[str, tuple[set[str], str]] = {
        "partner": ({p for p, _ in choices.partners}, "Choose a partner from the list"),
        "purpose": (set(choices.purposes), "Choose a purpose from the list"),
        "basis": (set(choices.bases), "Choose a lawful basis from the list"),
        "outcome": ({o for o, _ in OUTCOMES}, "Choose an outcome from the list"),
    }
    for name, (options, message) in allowed.items():
        if get[name] and get[name] not in options:
            form.errors[name] = message
    form.values = {k: v for k, v in get.items() if k not in form.errors}
    outcome = form.values.get("outcome") or "any"
    return next(o for o, _ in OUTCOMES if o == outcome)


def _dates(form: SearchForm, query: Mapping[str, str]) -> tuple[date | None, date | None]:
    date_from = _date(form, "from", "From", query.get("from", "").strip())
    date_to = _date(form, "to", "To", query.get("to", "").strip())
    if date_from and date_to and date_to < date_from:
        form.errors["to"] = "The date To must not be before the date From"
    for name, value in (("from", date_from), ("to", date_to)):
        if value is not None and name not in form.errors:
            form.values[name] = value.isoformat()
    return date_from, date_to


def _before(form: SearchForm, query: Mapping[str, str]) -> int | None:
    raw = query.get("before", "").strip()
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    form.errors["before"] = "The page of results asked for does not exist"
    return None


def _person(form: SearchForm, query: Mapping[str, str]) -> None:
    person = query.get("person", "").strip()
    if person:
        if is_uuid(person):
            form.person_id = person
        else:
            form.errors["person"] = "The person asked for in the address is not a valid id"
    identifier = query.get("identifier", "")
    if identifier.strip():
        try:
            form.identifier_key = identifier_key(identifier)
        except ValueError:
            # SECURITY: the message names the rule, never the value typed.
            form.errors["identifier"] = IDENTIFIER_ERROR


def parse_search(query: Mapping[str, str], choices: Choices) -> SearchForm:
    """Check a search's query parameters against the form's choices."""
    form = SearchForm()
    outcome = _lists(form, query, choices)
    date_from, date_to = _dates(form, query)
    before = _before(form, query)
    _person(form, query)
    form.filters = SearchFilters(
        partner=form.values.get("partner") or None,
        purpose=form.values.get("purpose") or None,
        basis=form.values.get("basis") or None,
        outcome=outcome,
        date_from=date_from,
        date_to=date_to,
        before=before,
    )
    return form
