"""Encounter to canonical CrisisEvent.

Which kind of crisis (the rule):

1. ``Encounter.type`` may state it with a coding in ``https://joined-up.org.uk/CodeSystem/crisis-event-kind``
   (codes: the CrisisKind values, e.g. ``detention``). A stated kind always wins.
2. Otherwise a detaining legal status (any Mental Health Act code other than informal, guardianship,
   community treatment order, not applicable or not known) makes it a ``detention``;
3. otherwise an inpatient class (v3-ActCode IMP, ACUTE, NONAC) makes it an ``admission``;
4. otherwise the kind cannot be known and the message is refused.

A stated ``detention`` must carry ``Extension-UKCore-LegalStatus`` with a detaining code: the
council's response depends on which section applies.

The location (where the person is held: possibly a place of safety) is labelled PATLOC, and the
reason (clinical narrative) PSY, on those fields alone, so that the event itself can be shared.
"""

from __future__ import annotations

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.codes import CRISIS_KIND_SYSTEM, CRISIS_KINDS, INPATIENT_CLASSES, V3_ACT_CODE
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.legal_status import (
    LEGAL_STATUS_EXTENSION,
    LegalStatusReading,
    is_detention,
    read_legal_status,
)
from adapters.fhir_r4.organisations import organisation_id
from adapters.fhir_r4.people import person_reference
from adapters.fhir_r4.security import merge, read_inline, read_security
from adapters.fhir_r4.walk import (
    JsonObject,
    child_object,
    child_period,
    child_str,
    codings,
    objects,
)
from schemas.facts import CrisisEvent, CrisisKind
from schemas.labels import ElementLabels, SecurityLabels, Sensitivity

_PATLOC = SecurityLabels(sensitivity=frozenset({Sensitivity.PATLOC}))
_PSY = SecurityLabels(sensitivity=frozenset({Sensitivity.PSY}))
# The usual field labels, built once (most events carry no inline labels of their own).
_USUAL = {
    ("location", _PATLOC): ElementLabels(element="location", labels=_PATLOC),
    ("reason", _PSY): ElementLabels(element="reason", labels=_PSY),
}


def _field_labels(element: str, labels: SecurityLabels) -> ElementLabels:
    return _USUAL.get((element, labels)) or ElementLabels(element=element, labels=labels)


ELEMENTS = elements(
    {"status", "class", "type", "subject", "period", "serviceProvider", "location", "reasonCode"}
)
EXTENSIONS = frozenset({LEGAL_STATUS_EXTENSION})
_LOCATION_ELEMENTS = elements({"name"})


def read_crisis_event(ctx: ReadContext, entry: Entry, *, focus: bool) -> None:
    """The crisis event an Encounter records. The focus of a crisis message must be one; any
    other Encounter that is not (an outpatient visit, say) is reported as unmapped."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    ctx.mapped.add(entry.index)
    if resource.get("status") == "entered-in-error":
        if focus:
            issues.add(
                f"{path}.status", "an Encounter entered in error is not a crisis", "business-rule"
            )
        else:
            ctx.unmap(path, "an Encounter entered in error is not a crisis")
            return
    legal = read_legal_status(resource, path, issues)
    kind = _kind(ctx, resource, path, legal, required=focus)
    if kind is None and not focus:
        ctx.unmap(
            path,
            "not a crisis event: no crisis-event-kind type, detaining legal status or inpatient"
            " class",
        )
        return
    report_unread(ctx, entry, ELEMENTS, EXTENSIONS)
    subject = person_reference(ctx, resource, "subject", path)
    period = child_period(resource, "period", path, issues)
    if period is None or period.start is None:
        issues.add(f"{path}.period.start", "is required: when the crisis began", "required")
    location, location_labels = _location(ctx, resource, path)
    reason, reason_labels = _reason(ctx, resource, path)
    if kind is None or period is None or subject is None:
        return
    ctx.add(
        CrisisEvent(
            id=f"crisis-event-{entry.index}",
            kind=kind,
            subject=subject,
            period=period,
            legal_status=legal.status,
            organisation=organisation_id(
                ctx,
                child_object(resource, "serviceProvider", path, issues),
                f"{path}.serviceProvider",
            ),
            location=location,
            reason=reason,
            labels=read_security(resource, path, issues),
            element_labels=tuple(
                _field_labels(element, labels)
                for element, labels in (("location", location_labels), ("reason", reason_labels))
                if labels is not None
            ),
        )
    )


def _kind(
    ctx: ReadContext,
    resource: JsonObject,
    path: str,
    legal: LegalStatusReading,
    *,
    required: bool,
) -> CrisisKind | None:
    issues = ctx.issues
    stated = _stated_kind(ctx, resource, path)
    detained = legal.status is not None and is_detention(legal.status)
    if stated is CrisisKind.DETENTION:
        if not legal.present:
            # SECURITY: a detention notice without its legal basis would leave the council guessing
            # at the section and its duration; the sender must state it.
            issues.add(
                f"{path}.extension('{LEGAL_STATUS_EXTENSION}')",
                "is required for a detention event",
                "required",
            )
        elif legal.status is not None and not detained:
            issues.add(
                f"{legal.classification_path}.code",
                "must be a detaining legal status for a detention event",
                "business-rule",
            )
    if stated is not None:
        return stated
    if detained:
        return CrisisKind.DETENTION
    encounter_class = child_object(resource, "class", path, issues)
    if (
        encounter_class is not None
        and encounter_class.get("system") == V3_ACT_CODE
        and child_str(encounter_class, "code", f"{path}.class", issues) in INPATIENT_CLASSES
    ):
        return CrisisKind.ADMISSION
    if not required:
        return None
    issues.add(
        f"{path}.type",
        "must state the crisis event kind (crisis-event-kind code system): neither a detaining"
        " legal status nor an inpatient class implies it",
        "required",
    )
    return None


def _stated_kind(ctx: ReadContext, resource: JsonObject, path: str) -> CrisisKind | None:
    for concept_path, concept in objects(resource, "type", path, ctx.issues):
        for coding_path, system, code, _ in codings(concept, concept_path, ctx.issues):
            if system != CRISIS_KIND_SYSTEM:
                continue  # the trust's own encounter types: not ours to read
            if code not in CRISIS_KINDS:
                ctx.issues.add(f"{coding_path}.code", "is not a crisis event kind", "code-invalid")
                return None
            return CRISIS_KINDS[code]
    return None


def read_location(ctx: ReadContext, entry: Entry) -> str | None:
    """A Location entry's name (the only element of it carried)."""
    if entry.index not in ctx.mapped:
        ctx.mapped.add(entry.index)
        report_unread(ctx, entry, _LOCATION_ELEMENTS)
    return child_str(entry.resource, "name", entry.path, ctx.issues)


def _location(
    ctx: ReadContext, resource: JsonObject, path: str
) -> tuple[str | None, SecurityLabels | None]:
    """The first location's name (from the Location entry) or its display, and its labels:
    PATLOC always (it may be a place of safety or a refuge), with any inline labels added."""
    for item_path, item in objects(resource, "location", path, ctx.issues):
        reference = child_object(item, "location", item_path, ctx.issues, required=True)
        if reference is None:
            return None, None
        here = f"{item_path}.location"
        name = None
        if "reference" in reference:
            target = ctx.follow(reference, here, ("Location",), required=False)
            if target is not None:
                name = read_location(ctx, target)
        if name is None:
            name = child_str(reference, "display", here, ctx.issues)
        if name is None:
            return None, None
        inline = read_inline(item, item_path, ctx.issues)
        return name, _PATLOC if inline is None else merge(_PATLOC, inline)
    return None, None


def _reason(
    ctx: ReadContext, resource: JsonObject, path: str
) -> tuple[str | None, SecurityLabels | None]:
    """The first reason's text, else its first coding's display, and its labels: PSY always
    (clinical narrative), with any inline labels added."""
    for concept_path, concept in objects(resource, "reasonCode", path, ctx.issues):
        text = child_str(concept, "text", concept_path, ctx.issues)
        if text is None:
            for _, _, _, display in codings(concept, concept_path, ctx.issues):
                if display is not None:
                    text = display
                    break
        if text is not None:
            inline = read_inline(concept, concept_path, ctx.issues)
            return text, _PSY if inline is None else merge(_PSY, inline)
    return None, None
