"""Minimisation: keep only the elements a flow permits; list everything withheld and why.

Element paths are ``<fact>.<field>``; ``<fact>.*`` permits every field of a fact except free text
(``FREE_TEXT_ELEMENTS``), which a flow must name element by element. A fact (or field) carrying a
sensitive label (``SENSITIVE_LABELS``: diagnosis and mental health, psychotherapy notes, sexual and
domestic violence, substance use, location, third parties) is withheld unless the flow permits
that label (``permit_labels``), and so is one carrying a label the flow excludes, whatever the
element list says.
Withheld items name the element and the reason, never the content.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel, ValidationError

from schemas.agreement import FREE_TEXT_ELEMENTS, SENSITIVE_LABELS, Flow
from schemas.disclosure import WithheldItem, WithheldReason
from schemas.facts import Fact, FactBase
from schemas.labels import SecurityLabels

# Fields every fact keeps: they carry structure and labels, not content.
_STRUCTURAL = frozenset({"id", "fact", "labels", "element_labels"})

# The rules every fact class inherits (element labels must name fields): clearing fields to their
# defaults and filtering the labels to kept fields cannot break them.
_BASE_RULES = FactBase.__pydantic_decorators__

_FACT_NAMES = {
    "diagnosis": "the diagnosis",
    "risk": "risk information",
    "crisis-event": "crisis event details",
}


@dataclass(frozen=True, slots=True)
class Minimised:
    """The facts that may cross, and the manifest of what did not."""

    facts: tuple[Fact, ...]
    disclosed: tuple[str, ...]
    withheld: tuple[WithheldItem, ...]


@dataclass(frozen=True, slots=True)
class _Shape:
    """A fact class's content fields, which of them are required, and their defaults."""

    fields: frozenset[str]
    required: frozenset[str]
    defaults: dict[str, object]
    # Whether the class has rules tying fields together (model validators beyond the base
    # class's check that element labels name fields, or field validators that may read other
    # fields): only then can clearing a field leave a fact that no longer stands.
    cross_field: bool


@cache
def _shape(cls: type[BaseModel]) -> _Shape:
    fields = {name: info for name, info in cls.model_fields.items() if name not in _STRUCTURAL}
    decorators = cls.__pydantic_decorators__
    own_rules = set(decorators.model_validators) - set(_BASE_RULES.model_validators)
    return _Shape(
        frozenset(fields),
        frozenset(name for name, info in fields.items() if info.is_required()),
        {
            name: info.get_default(call_default_factory=True)
            for name, info in fields.items()
            if not info.is_required()
        },
        bool(own_rules or decorators.field_validators),
    )


def _excluded(labels: SecurityLabels, flow: Flow) -> list[str]:
    # SECURITY: sensitive labels are denied unless the flow permits them; others only if excluded.
    blocked = (SENSITIVE_LABELS - flow.permit_labels) | flow.exclude_labels
    return sorted(label.value for label in labels.sensitivity & blocked)


def _cleared(fact: Fact, cleared: dict[str, object], shape: _Shape) -> Fact | None:
    """``fact`` with ``cleared`` fields back at their defaults; None if it can no longer stand."""
    if not cleared:
        return fact
    if not shape.cross_field:
        # Every cleared field goes back to its declared default, which is valid on its own, and
        # the kept element labels still name fields: nothing to check again.
        return fact.model_copy(update=cleared)
    # Clearing a field can break a rule that ties it to another (a meeting's responses must come
    # from its participants): check the fact again; if it can no longer stand, the caller
    # withholds it whole rather than send something inconsistent.
    try:
        return type(fact).model_validate({**dict(fact), **cleared})
    except ValidationError:
        return None


def minimise(
    facts: tuple[Fact, ...], flow: Flow, *, withhold_classes: frozenset[str] = frozenset()
) -> Minimised:
    """Apply ``flow``'s element list and label exclusions to ``facts``.

    ``withhold_classes`` names fact classes a consent refusal covers: withheld whatever the flow
    allows.
    """
    allowed = flow.allowed_elements
    kept: list[Fact] = []
    disclosed: set[str] = set()
    withheld: dict[tuple[str, WithheldReason], WithheldItem] = {}

    def withhold(element: str, code: WithheldReason, reason: str) -> None:
        withheld[(element, code)] = WithheldItem(
            element=element, reason_code=code, reason=reason, ask=flow.withheld_contact
        )

    for fact in facts:
        name = fact.fact
        label = _FACT_NAMES.get(name, name)
        # SECURITY: labels win over element lists; an excluded sensitivity never crosses.
        excluded = _excluded(fact.labels, flow)
        if excluded:
            withhold(
                name,
                WithheldReason.SENSITIVITY_LABEL,
                f"{label} is labelled {', '.join(excluded)}, which flow {flow.id} does not permit.",
            )
            continue
        if name in withhold_classes:
            withhold(
                name,
                WithheldReason.CONSENT_DENIED,
                f"consent to share {label} with this recipient was refused or withdrawn.",
            )
            continue
        shape = _shape(type(fact))
        # SECURITY: ``<fact>.*`` never reaches free text; a flow names each free-text element.
        permitted = {
            f
            for f in shape.fields
            if f"{name}.{f}" in allowed
            or (f"{name}.*" in allowed and f"{name}.{f}" not in FREE_TEXT_ELEMENTS)
        }
        if not permitted or not shape.required <= permitted:
            withhold(
                name,
                WithheldReason.NOT_IN_AGREEMENT,
                f"{label} is not among the elements flow {flow.id} shares.",
            )
            continue
        # SECURITY: a field labelled with an excluded sensitivity is withheld even where the
        # element list names it; if the fact cannot stand without it, the whole fact goes.
        blocked = {
            item.element: hit
            for item in fact.element_labels
            if item.element in permitted and (hit := _excluded(item.labels, flow))
        }
        if blocked.keys() & shape.required:
            withhold(
                name,
                WithheldReason.SENSITIVITY_LABEL,
                f"{label} carries labels flow {flow.id} does not permit.",
            )
            continue
        permitted -= blocked.keys()
        cleared: dict[str, object] = {}
        for field in sorted(shape.fields - permitted):
            default = shape.defaults[field]
            if getattr(fact, field) == default:
                continue
            cleared[field] = default
            path = f"{name}.{field}"
            if field in blocked:
                withhold(
                    path,
                    WithheldReason.SENSITIVITY_LABEL,
                    f"{path} is labelled {', '.join(blocked[field])}, which flow {flow.id} "
                    "does not permit.",
                )
            else:
                withhold(
                    path,
                    WithheldReason.NOT_IN_AGREEMENT,
                    f"{path} is not among the elements flow {flow.id} shares.",
                )
        if fact.element_labels:
            cleared["element_labels"] = tuple(
                item for item in fact.element_labels if item.element in permitted
            )
        checked = _cleared(fact, cleared, shape)
        if checked is None:
            withhold(
                name,
                WithheldReason.NOT_IN_AGREEMENT,
                f"{label} cannot be shared without the elements flow {flow.id} withholds.",
            )
            continue
        kept.append(checked)
        disclosed.update(
            f"{name}.{f}" for f in permitted if getattr(fact, f) not in (None, (), frozenset())
        )
    return Minimised(tuple(kept), tuple(sorted(disclosed)), tuple(withheld.values()))
