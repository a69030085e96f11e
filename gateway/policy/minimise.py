"""Minimisation: keep only the elements a flow permits; list everything withheld and why.

Element paths are ``<fact>.<field>``; ``<fact>.*`` permits every field of a fact. A fact whose
security labels include one the flow excludes is withheld whole, whatever the element list says.
Withheld items name the element and the reason, never the content.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.agreement import Flow
from schemas.disclosure import WithheldItem, WithheldReason
from schemas.facts import Fact

# Fields every fact keeps: they carry structure and labels, not content.
_STRUCTURAL = frozenset({"id", "fact", "labels", "element_labels"})

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


def minimise(facts: tuple[Fact, ...], flow: Flow) -> Minimised:
    """Apply ``flow``'s element list and label exclusions to ``facts``."""
    allowed = flow.allowed_elements
    kept: list[Fact] = []
    disclosed: set[str] = set()
    withheld: dict[tuple[str, WithheldReason], WithheldItem] = {}
    ask = flow.withheld_contact

    for fact in facts:
        name = fact.fact
        # SECURITY: labels win over element lists; an excluded sensitivity never crosses.
        excluded = sorted(label.value for label in fact.labels.sensitivity & flow.exclude_labels)
        if excluded:
            key = (name, WithheldReason.SENSITIVITY_LABEL)
            withheld[key] = WithheldItem(
                element=name,
                reason_code=WithheldReason.SENSITIVITY_LABEL,
                reason=(
                    f"{_FACT_NAMES.get(name, name)} is labelled {', '.join(excluded)}, which "
                    f"flow {flow.id} excludes."
                ),
                ask=ask,
            )
            continue
        whole = f"{name}.*" in allowed
        fields = {f for f in type(fact).model_fields if f not in _STRUCTURAL}
        permitted = set(fields) if whole else {f for f in fields if f"{name}.{f}" in allowed}
        required = {f for f in fields if type(fact).model_fields[f].is_required()}
        if not permitted or not required <= permitted:
            withheld[(name, WithheldReason.NOT_IN_AGREEMENT)] = WithheldItem(
                element=name,
                reason_code=WithheldReason.NOT_IN_AGREEMENT,
                reason=(
                    f"{_FACT_NAMES.get(name, name)} is not among the elements "
                    f"flow {flow.id} shares."
                ),
                ask=ask,
            )
            continue
        cleared: dict[str, object] = {}
        # SECURITY: a field labelled with an excluded sensitivity is withheld even where the
        # element list names it; if the fact cannot stand without it, the whole fact goes.
        label_blocked: dict[str, list[str]] = {}
        for item in fact.element_labels:
            hit = sorted(label.value for label in item.labels.sensitivity & flow.exclude_labels)
            if hit and item.element in permitted:
                label_blocked[item.element] = hit
        if label_blocked.keys() & required:
            withheld[(name, WithheldReason.SENSITIVITY_LABEL)] = WithheldItem(
                element=name,
                reason_code=WithheldReason.SENSITIVITY_LABEL,
                reason=f"{_FACT_NAMES.get(name, name)} carries labels flow {flow.id} excludes.",
                ask=ask,
            )
            continue
        for field, hit in sorted(label_blocked.items()):
            permitted.discard(field)
            if getattr(fact, field) != type(fact).model_fields[field].get_default(
                call_default_factory=True
            ):
                cleared[field] = (
                    type(fact).model_fields[field].get_default(call_default_factory=True)
                )
                path = f"{name}.{field}"
                withheld[(path, WithheldReason.SENSITIVITY_LABEL)] = WithheldItem(
                    element=path,
                    reason_code=WithheldReason.SENSITIVITY_LABEL,
                    reason=f"{path} is labelled {', '.join(hit)}, which flow {flow.id} excludes.",
                    ask=ask,
                )
        for field in sorted(fields - permitted - cleared.keys()):
            default = type(fact).model_fields[field].get_default(call_default_factory=True)
            if getattr(fact, field) != default:
                cleared[field] = default
                path = f"{name}.{field}"
                withheld[(path, WithheldReason.NOT_IN_AGREEMENT)] = WithheldItem(
                    element=path,
                    reason_code=WithheldReason.NOT_IN_AGREEMENT,
                    reason=f"{path} is not among the elements flow {flow.id} shares.",
                    ask=ask,
                )
        if fact.element_labels:
            cleared["element_labels"] = tuple(
                item for item in fact.element_labels if item.element in permitted
            )
        # model_copy(update=...) skips validation, which is right here: clearing to the field's
        # own default cannot make a valid fact invalid.
        kept.append(fact.model_copy(update=cleared) if cleared else fact)
        disclosed.update(
            f"{name}.{f}" for f in permitted if getattr(fact, f) not in (None, (), frozenset())
        )
    return Minimised(tuple(kept), tuple(sorted(disclosed)), tuple(withheld.values()))
