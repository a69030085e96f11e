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
from adapters.fhir_r4.legal_status import (
    LEGAL_STATUS_EXTENSION,
    LegalStatusReading,
    is_detention,
    read_legal_status,
)
from adapters.fhir_r4.organisations import organisation_id
from adapters.fhir_r4.security import read_security
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

_LOCATION_LABELS = ElementLabels(
    element="location", labels=SecurityLabels(sensitivity=frozenset({Sensitivity.PATLOC}))
)
_REASON_LABELS = ElementLabels(
    element="reason", labels=SecurityLabels(sensitivity=frozenset({Sensitivity.PSY}))
)


def read_crisis_event(ctx: ReadContext, entry: Entry, subject_id: str) -> CrisisEvent | None:
    """The crisis event an Encounter records, for the Person ``subject_id``."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    if resource.get("status") == "entered-in-error":
        issues.add(
            f"{path}.status", "an Encounter entered in error is not a crisis", "business-rule"
        )
    legal = read_legal_status(resource, path, issues)
    kind = _kind(ctx, resource, path, legal)
    period = child_period(resource, "period", path, issues)
    if period is None or period.start is None:
        issues.add(f"{path}.period.start", "is required: when the crisis began", "required")
    location = _location(ctx, resource, path)
    reason = _reason(ctx, resource, path)
    if kind is None or period is None:
        return None
    return CrisisEvent(
        id=f"crisis-event-{entry.index}",
        kind=kind,
        subject=subject_id,
        period=period,
        legal_status=legal.status,
        organisation=organisation_id(
            ctx, child_object(resource, "serviceProvider", path, issues), f"{path}.serviceProvider"
        ),
        location=location,
        reason=reason,
        labels=read_security(resource, path, issues),
        element_labels=tuple(
            labels
            for labels, value in ((_LOCATION_LABELS, location), (_REASON_LABELS, reason))
            if value is not None
        ),
    )


def _kind(
    ctx: ReadContext, resource: JsonObject, path: str, legal: LegalStatusReading
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


def _location(ctx: ReadContext, resource: JsonObject, path: str) -> str | None:
    """The first location's name (from the Location entry) or its display."""
    for item_path, item in objects(resource, "location", path, ctx.issues):
        reference = child_object(item, "location", item_path, ctx.issues, required=True)
        if reference is None:
            return None
        here = f"{item_path}.location"
        if "reference" in reference:
            target = ctx.bundle.resolve(reference, here, ctx.issues, ("Location",))
            if target is not None:
                name = child_str(target.resource, "name", target.path, ctx.issues)
                if name is not None:
                    return name
        return child_str(reference, "display", here, ctx.issues)
    return None


def _reason(ctx: ReadContext, resource: JsonObject, path: str) -> str | None:
    """The first reason's text, else its first coding's display."""
    for concept_path, concept in objects(resource, "reasonCode", path, ctx.issues):
        text = child_str(concept, "text", concept_path, ctx.issues)
        if text is not None:
            return text
        for _, _, _, display in codings(concept, concept_path, ctx.issues):
            if display is not None:
                return display
    return None
