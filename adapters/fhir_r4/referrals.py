"""ServiceRequest (and its Task) to a canonical Referral to children's social care.

A ServiceRequest is a referral to the council's front door when its ``category`` has the local
code ``https://joined-up.org.uk/CodeSystem/referral-category|childrens-social-care``, or when it is
the focus of a ``referral`` or ``referral-status`` message. Any other (a scan, a lab test) is
reported as unmapped.

* subject: ``ServiceRequest.subject`` (the child, or the parent the concern is about);
* concerns: the ``note`` texts, in order (else the ``reasonCode`` texts); required, in words;
* household: ``supportingInfo`` references to Patients and RelatedPersons; risks: those to Flags
  that are risks; anything else in ``supportingInfo`` is reported as unmapped;
* referrer: ``requester``, a PractitionerRole (its WorkerRole);
* consent: the local ``referral-consent`` extension (``consentGiven`` boolean,
  ``basisWithoutConsent`` string: why it was made without consent);
* reference: ``identifier`` in the local ``referral-reference`` system (replies quote it);
* status: from the Task whose ``focus`` is the ServiceRequest. ``Task.businessStatus`` coded in the
  local ``referral-status`` system (sent, received, allocated, assessment, section-47,
  no-further-action) says exactly; otherwise ``Task.status`` requested reads as sent, received as
  received, accepted as allocated, rejected as no-further-action, and any other status needs a
  business status. Without a Task the referral has just been sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.codes import (
    REFERRAL_CATEGORY,
    REFERRAL_CATEGORY_SYSTEM,
    REFERRAL_CONSENT_EXTENSION,
    REFERRAL_REFERENCE_SYSTEM,
    REFERRAL_STATUS_SYSTEM,
    REFERRAL_STATUSES,
)
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.people import person_reference
from adapters.fhir_r4.roles import any_role_for
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.walk import (
    JsonObject,
    child_object,
    child_str,
    codings,
    extensions,
    objects,
)
from schemas.facts import Referral, ReferralStatus
from schemas.labels import SecurityLabels
from schemas.message import MessageKind

SERVICE_REQUEST_ELEMENTS = elements(
    {
        "status",
        "intent",
        "category",
        "subject",
        "note",
        "reasonCode",
        "supportingInfo",
        "requester",
        "identifier",
    }
)
TASK_ELEMENTS = elements({"status", "businessStatus", "focus", "for", "intent"})
MAX_CONCERNS = 8000
_BY_TASK_STATUS = {
    "requested": ReferralStatus.SENT,
    "received": ReferralStatus.RECEIVED,
    "accepted": ReferralStatus.ALLOCATED,
    "rejected": ReferralStatus.NO_FURTHER_ACTION,
}
_TASK_STATUSES = frozenset(
    {
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "ready",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    }
)


@dataclass(slots=True)
class _Referral:
    index: int
    subject: str
    concerns: str
    household: tuple[str, ...]
    risks: tuple[str, ...]
    referrer: str | None
    consent_given: bool | None
    basis_without_consent: str | None
    reference: str | None
    labels: SecurityLabels
    status: ReferralStatus = ReferralStatus.SENT


@dataclass(slots=True)
class Referrals:
    """Referrals read so far, by ServiceRequest entry, waiting for their Tasks."""

    by_entry: dict[int, _Referral | None] = field(default_factory=dict)


def is_referral(resource: JsonObject) -> bool:
    """Whether a ServiceRequest is categorised as a referral to children's social care."""
    categories = resource.get("category")
    if not isinstance(categories, list):
        return False
    return any(
        isinstance(concept, dict)
        and isinstance(concept.get("coding"), list)
        and any(
            isinstance(c, dict)
            and c.get("system") == REFERRAL_CATEGORY_SYSTEM
            and c.get("code") == REFERRAL_CATEGORY
            for c in concept["coding"]
        )
        for concept in categories
    )


def read_service_request(
    ctx: ReadContext, entry: Entry, referrals: Referrals, *, focus: bool
) -> None:
    """A ServiceRequest entry that is a referral, kept in ``referrals`` for its Task."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    ctx.mapped.add(entry.index)
    if not focus and not is_referral(resource):
        ctx.unmap(path, "not a referral to children's social care (referral-category code)")
        return
    status = child_str(resource, "status", path, issues, required=True)
    if status == "entered-in-error":
        if focus:
            issues.add(f"{path}.status", "a referral entered in error cannot be sent", "value")
        else:
            ctx.unmap(path, "a referral entered in error")
        return
    report_unread(ctx, entry, SERVICE_REQUEST_ELEMENTS, frozenset({REFERRAL_CONSENT_EXTENSION}))
    referrals.by_entry[entry.index] = None
    subject = person_reference(ctx, resource, "subject", path)
    # A referral states its concerns; a status update may point at the referral without them.
    concerns = _concerns(ctx, resource, path, required=focus and ctx.kind is MessageKind.REFERRAL)
    household, risks = _supporting(ctx, resource, path)
    referrer = None
    requester = ctx.follow_child(resource, "requester", path, None)
    if requester is not None and requester.type == "PractitionerRole":
        referrer = any_role_for(ctx, requester)
    elif requester is not None:
        ctx.unmap(f"{path}.requester", "only a PractitionerRole is carried as the referrer")
    consent_given, basis = _consent(ctx, resource, path)
    reference = None
    for id_path, identifier in objects(resource, "identifier", path, issues):
        if identifier.get("system") == REFERRAL_REFERENCE_SYSTEM and reference is None:
            reference = child_str(identifier, "value", id_path, issues, required=True)
        else:
            ctx.unmap(id_path, "only the referral-reference identifier is carried")
    if subject is None or concerns is None:
        return
    referrals.by_entry[entry.index] = _Referral(
        index=entry.index,
        subject=subject,
        concerns=concerns,
        household=household,
        risks=risks,
        referrer=referrer,
        consent_given=consent_given,
        basis_without_consent=basis,
        reference=reference,
        labels=read_security(resource, path, issues),
    )


def _concerns(ctx: ReadContext, resource: JsonObject, path: str, *, required: bool) -> str | None:
    texts = [
        text
        for note_path, note in objects(resource, "note", path, ctx.issues)
        if (text := child_str(note, "text", note_path, ctx.issues, required=True)) is not None
    ]
    if not texts:
        texts = [
            text
            for reason_path, reason in objects(resource, "reasonCode", path, ctx.issues)
            if (text := child_str(reason, "text", reason_path, ctx.issues)) is not None
        ]
    if not texts:
        if not required:
            return ""
        ctx.issues.add(
            f"{path}.note", "is required: the concerns, in words (note text)", "required"
        )
        return None
    concerns = "\n\n".join(texts)
    if len(concerns) > MAX_CONCERNS:
        ctx.issues.add(f"{path}.note", f"is longer than {MAX_CONCERNS} characters", "too-long")
        return None
    return concerns


def _supporting(
    ctx: ReadContext, resource: JsonObject, path: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    household: list[str] = []
    risks: list[str] = []
    for here, reference in objects(resource, "supportingInfo", path, ctx.issues):
        target = ctx.follow(reference, here, None, required=False)
        if target is None:
            continue
        person = ctx.persons.get(target.index)
        risk = ctx.risks.get(target.index)
        if person is not None and person.id not in household:
            household.append(person.id)
        elif risk is not None:
            risks.append(risk)
        elif target.type not in ("Patient", "RelatedPerson", "Flag"):
            ctx.unmap(here, "only household members and risks are carried with a referral")
    return tuple(household), tuple(risks)


def _consent(ctx: ReadContext, resource: JsonObject, path: str) -> tuple[bool | None, str | None]:
    given = basis = None
    for ext_path, ext in extensions(resource, REFERRAL_CONSENT_EXTENSION, path, ctx.issues):
        for part_path, part in objects(ext, "extension", ext_path, ctx.issues):
            url = part.get("url")
            if url == "consentGiven":
                value = part.get("valueBoolean")
                if not isinstance(value, bool):
                    ctx.issues.add(f"{part_path}.valueBoolean", "is required", "required")
                else:
                    given = value
            elif url == "basisWithoutConsent":
                basis = child_str(part, "valueString", part_path, ctx.issues, required=True)
            else:
                ctx.unmap(part_path, "not a part of the referral-consent extension")
    return given, basis


def read_task(ctx: ReadContext, entry: Entry, referrals: Referrals) -> None:
    """A Task about a referral sets the referral's status."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    ctx.mapped.add(entry.index)
    focus = child_object(resource, "focus", path, issues)
    target = None if focus is None else ctx.follow(focus, f"{path}.focus", None, required=False)
    if target is None or target.index not in referrals.by_entry:
        ctx.unmap(path, "not about a referral in the message")
        return
    report_unread(ctx, entry, TASK_ELEMENTS)
    status = child_str(resource, "status", path, issues, required=True)
    if status is not None and status not in _TASK_STATUSES:
        issues.add(f"{path}.status", "is not a Task status", "code-invalid")
        return
    found = _business_status(ctx, resource, path)
    if found is None and status is not None:
        found = _BY_TASK_STATUS.get(status)
        if found is None:
            issues.add(
                f"{path}.businessStatus",
                "is required to say where the referral is (referral-status code system) when"
                " the Task status does not",
                "required",
            )
    referral = referrals.by_entry[target.index]
    if referral is not None and found is not None:
        referral.status = found


def _business_status(ctx: ReadContext, resource: JsonObject, path: str) -> ReferralStatus | None:
    concept = child_object(resource, "businessStatus", path, ctx.issues)
    if concept is None:
        return None
    for coding_path, system, code, _ in codings(concept, f"{path}.businessStatus", ctx.issues):
        if system != REFERRAL_STATUS_SYSTEM:
            continue
        if code not in REFERRAL_STATUSES:
            ctx.issues.add(f"{coding_path}.code", "is not a referral status", "code-invalid")
            return None
        return REFERRAL_STATUSES[code]
    return None


def add_referrals(ctx: ReadContext, referrals: Referrals) -> None:
    """One Referral fact per referral read, with the status its Task gave it."""
    for referral in referrals.by_entry.values():
        if referral is None:
            continue
        ctx.add(
            Referral(
                id=f"referral-{referral.index}",
                subject=referral.subject,
                household=referral.household,
                concerns=referral.concerns,
                risks=referral.risks,
                referrer=referral.referrer,
                status=referral.status,
                consent_given=referral.consent_given,
                basis_without_consent=referral.basis_without_consent,
                reference=referral.reference,
                labels=referral.labels,
            )
        )
