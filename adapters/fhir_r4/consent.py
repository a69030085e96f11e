"""Consent to a canonical Consent directive.

Only an active privacy consent (``scope`` patient-privacy) is a directive about sharing; any other
is reported as unmapped, and refused as the focus of a consent-directive message.

* subject: ``Consent.patient``; recorded at: ``Consent.dateTime`` (required, a date-time);
* given by: the local ``consent-given-by`` extension (subject, competent-child, parent,
  local-authority-care-order); else the performer: the patient themselves (subject), a
  RelatedPerson (parent), or a council by its DfE LA code (local authority under a care order).
  A practitioner recording the consent does not say whose it is, and is refused;
* decision: ``provision.type`` permit or deny (required); ``provision.period``;
* recipients: ``provision.actor`` organisations, by reference or by ODS or DfE LA code;
* purposes: ``provision.purpose``, a Joined-up purpose, or a v3-ActReason code, read as every
  Joined-up purpose that maps to it (COC: care coordination, child protection conference and
  referral; THREAT: safeguarding a child; ETREAT: crisis response);
* classes: ``provision.class``, a canonical fact name (local ``element-class`` system) or a FHIR
  resource type that maps to one;
* sensitivities: ``provision.securityLabel``, v3-ActCode sensitivity codes.

SECURITY: a directive is never widened or narrowed in translation. A provision element the
canonical model cannot carry (nested provisions, ``action``, ``code``, ``data``, ``dataPeriod``, a
recipient that is not an organisation, a purpose, class or label with no canonical meaning) refuses
the Consent with the element named, rather than dropping the restriction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.codes import (
    CONSENT_GIVEN_BY_EXTENSION,
    CONSENT_SCOPE,
    ELEMENT_CLASS_SYSTEM,
    RESOURCE_TYPES,
    V3_ACT_REASON,
)
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.organisations import CODE_SYSTEMS, organisation_for, read_code
from adapters.fhir_r4.people import person_reference
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.walk import (
    JsonObject,
    child_date_time,
    child_object,
    child_period,
    child_str,
    extensions,
    objects,
)
from schemas.facts import FACT_CLASSES, Consent, ConsentActor
from schemas.labels import ACT_CODE_SYSTEM, PURPOSE_SYSTEM, Purpose, Sensitivity

ELEMENTS = elements({"status", "scope", "patient", "dateTime", "performer", "provision"})
PROVISION_READ = frozenset({"type", "period", "actor", "purpose", "class", "securityLabel"})
_ACTORS = {a.value: a for a in ConsentActor}
_PURPOSES = {p.value: p for p in Purpose}
_BY_ACT_REASON: dict[str, tuple[Purpose, ...]] = {}
for _purpose in Purpose:
    _BY_ACT_REASON[_purpose.hl7_act_reason] = (
        *_BY_ACT_REASON.get(_purpose.hl7_act_reason, ()),
        _purpose,
    )
_FACT_NAMES = frozenset(str(cls.model_fields["fact"].default) for cls in FACT_CLASSES)
_BY_RESOURCE_TYPE = {
    "Patient": "person",
    "RelatedPerson": "person",
    "Organization": "organisation",
    "Practitioner": "worker",
    "PractitionerRole": "worker-role",
    "EpisodeOfCare": "mental-health-episode",
    "Encounter": "crisis-event",
    "Condition": "diagnosis",
    "Flag": "risk",
    "Appointment": "meeting",
    "ServiceRequest": "referral",
    "Consent": "consent",
}
_SENSITIVITIES = {s.value: s for s in Sensitivity}
_WIDENED = "cannot be carried: a consent directive is not widened or narrowed in translation"


def is_privacy_consent(resource: JsonObject) -> bool:
    """Whether the Consent's scope is patient-privacy (a directive about sharing)."""
    scope = resource.get("scope")
    codes = scope.get("coding") if isinstance(scope, dict) else None
    return isinstance(codes, list) and any(
        isinstance(c, dict)
        and c.get("system") == CONSENT_SCOPE
        and c.get("code") == "patient-privacy"
        for c in codes
    )


def read_consent(ctx: ReadContext, entry: Entry, *, focus: bool) -> None:
    """The directive an active privacy Consent states."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    ctx.mapped.add(entry.index)
    status = child_str(resource, "status", path, issues, required=True)
    problem = None
    if not is_privacy_consent(resource):
        problem = (
            f"{path}.scope",
            "not a privacy consent (scope patient-privacy): not a directive about sharing",
        )
    elif status != "active":
        problem = (f"{path}.status", "not active: only a directive in force is carried")
    if problem is not None:
        if focus:
            issues.add(*problem, "value")
        else:
            ctx.unmap(path, problem[1])
        return
    report_unread(ctx, entry, ELEMENTS, frozenset({CONSENT_GIVEN_BY_EXTENSION}))
    subject = person_reference(ctx, resource, "patient", path)
    recorded = child_date_time(resource, "dateTime", path, issues, required=True)
    if recorded is not None and not isinstance(recorded, datetime):
        issues.add(
            f"{path}.dateTime", "must be a date-time: when the consent was recorded", "value"
        )
        recorded = None
    given_by = _given_by(ctx, resource, path)
    provision = child_object(resource, "provision", path, issues, required=True)
    if provision is None:
        return
    here = f"{path}.provision"
    for key in provision:
        if key not in PROVISION_READ and key not in ("id", "extension"):
            issues.add(f"{here}.{key}", _WIDENED, "not-supported")
    decision = _decision(ctx, provision, here)
    recipients = _recipients(ctx, provision, here)
    purposes = _purposes(ctx, provision, here)
    classes = _classes(ctx, provision, here)
    sensitivities = _labels(ctx, provision, here)
    period = child_period(provision, "period", here, issues)
    if subject is None or recorded is None or given_by is None or decision is None:
        return
    ctx.add(
        Consent(
            id=f"consent-{entry.index}",
            subject=subject,
            given_by=given_by,
            decision=decision,
            recipients=recipients,
            purposes=purposes,
            element_classes=classes,
            sensitivities=sensitivities,
            period=period,
            recorded_at=recorded,
            labels=read_security(resource, path, issues),
        )
    )


def _given_by(ctx: ReadContext, resource: JsonObject, path: str) -> ConsentActor | None:
    for ext_path, ext in extensions(resource, CONSENT_GIVEN_BY_EXTENSION, path, ctx.issues):
        code = child_str(ext, "valueCode", ext_path, ctx.issues, required=True)
        if code is not None and code not in _ACTORS:
            ctx.issues.add(f"{ext_path}.valueCode", "is not a consent actor", "code-invalid")
            return None
        return None if code is None else _ACTORS[code]
    for performer_path, performer in objects(resource, "performer", path, ctx.issues):
        target = ctx.follow(performer, performer_path, None, required=False)
        if target is None:
            continue
        if target.type == "Patient":
            return ConsentActor.SUBJECT
        if target.type == "RelatedPerson":
            return ConsentActor.PARENT
        if target.type == "Organization" and organisation_for(ctx, target).la_code is not None:
            return ConsentActor.LOCAL_AUTHORITY_CARE_ORDER
    ctx.issues.add(
        f"{path}.performer",
        "must say whose consent it is: the patient, a parent (RelatedPerson) or the council,"
        " or the consent-given-by extension",
        "required",
    )
    return None


def _decision(
    ctx: ReadContext, provision: JsonObject, path: str
) -> Literal["permit", "deny"] | None:
    decision = child_str(provision, "type", path, ctx.issues, required=True)
    if decision == "permit":
        return "permit"
    if decision == "deny":
        return "deny"
    if decision is not None:
        ctx.issues.add(f"{path}.type", "must be permit or deny", "code-invalid")
    return None


def _recipients(ctx: ReadContext, provision: JsonObject, path: str) -> tuple[str, ...]:
    found: list[str] = []
    for actor_path, actor in objects(provision, "actor", path, ctx.issues):
        reference = child_object(actor, "reference", actor_path, ctx.issues, required=True)
        if reference is None:
            continue
        here = f"{actor_path}.reference"
        code = None
        identifier = reference.get("identifier")
        if "reference" not in reference and isinstance(identifier, dict):
            if identifier.get("system") in CODE_SYSTEMS:
                code = read_code(identifier, f"{here}.identifier", ctx)
        else:
            target = ctx.follow(reference, here, None)
            if target is not None and target.type == "Organization":
                organisation = organisation_for(ctx, target)
                code = organisation.ods_code or organisation.la_code
        if code is None:
            ctx.issues.add(
                here,
                "must be an organisation with an ODS or DfE LA code: " + _WIDENED,
                "not-supported",
            )
        elif code not in found:
            found.append(code)
    return tuple(found)


def _purposes(ctx: ReadContext, provision: JsonObject, path: str) -> tuple[Purpose, ...]:
    found: list[Purpose] = []
    for coding_path, coding in objects(provision, "purpose", path, ctx.issues):
        system, code = coding.get("system"), coding.get("code")
        purposes: tuple[Purpose, ...] = ()
        if system == PURPOSE_SYSTEM and isinstance(code, str) and code in _PURPOSES:
            purposes = (_PURPOSES[code],)
        elif system == V3_ACT_REASON and isinstance(code, str):
            purposes = _BY_ACT_REASON.get(code, ())
        if not purposes:
            ctx.issues.add(
                coding_path,
                "is not a purpose the gateway knows (Joined-up purposes, or the v3-ActReason"
                " codes they map to): " + _WIDENED,
                "code-invalid",
            )
        found.extend(p for p in purposes if p not in found)
    return tuple(found)


def _classes(ctx: ReadContext, provision: JsonObject, path: str) -> tuple[str, ...]:
    found: list[str] = []
    for coding_path, coding in objects(provision, "class", path, ctx.issues):
        system, code = coding.get("system"), coding.get("code")
        name = None
        if system == ELEMENT_CLASS_SYSTEM and isinstance(code, str) and code in _FACT_NAMES:
            name = str(code)
        elif system == RESOURCE_TYPES and isinstance(code, str):
            name = _BY_RESOURCE_TYPE.get(code)
        if name is None:
            ctx.issues.add(
                coding_path,
                "is not a class of information the gateway knows (canonical fact names, or the"
                " FHIR resource types that map to them): " + _WIDENED,
                "code-invalid",
            )
        elif name not in found:
            found.append(name)
    return tuple(found)


def _labels(ctx: ReadContext, provision: JsonObject, path: str) -> frozenset[Sensitivity]:
    found: set[Sensitivity] = set()
    for coding_path, coding in objects(provision, "securityLabel", path, ctx.issues):
        system, code = coding.get("system"), coding.get("code")
        if system == ACT_CODE_SYSTEM and isinstance(code, str) and code in _SENSITIVITIES:
            found.add(_SENSITIVITIES[code])
        else:
            ctx.issues.add(
                coding_path,
                "is not a sensitivity label (v3-ActCode) the gateway knows: " + _WIDENED,
                "code-invalid",
            )
    return frozenset(found)
