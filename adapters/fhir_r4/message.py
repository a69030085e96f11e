"""A FHIR message Bundle to a CanonicalMessage: the order in which the parts are read.

The subject is the Patient the focus Encounter is about (the parent). Resources the flow has no use
for (Observations, Medications, other Patients ...) are not mapped and not reported: the canonical
message has no place to list them, and a loss report for inbound messages is later work.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from adapters.base import ParseContext
from adapters.fhir_r4.bundle import BundleIndex, Entry
from adapters.fhir_r4.care import read_episode
from adapters.fhir_r4.condition import read_diagnosis
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.encounter import read_crisis_event
from adapters.fhir_r4.header import Header, read_header
from adapters.fhir_r4.organisations import read_sender
from adapters.fhir_r4.people import read_person, read_related_person
from adapters.fhir_r4.walk import Issues, JsonObject, child_object, child_str, parse_date_time
from adapters.pydantic_issues import issues_from
from gateway.errors import InvalidMessage, Issue
from schemas.facts import Person
from schemas.identifiers import NHS_NUMBER_SYSTEM
from schemas.message import CanonicalMessage, MessageKind
from schemas.provenance import Provenance

SOURCE_FORMAT = "fhir-r4"


def read_message(bundle: JsonObject, context: ParseContext, issues: Issues) -> CanonicalMessage:
    """Map a parsed message Bundle; raise InvalidMessage naming every problem found."""
    bundle_type = child_str(bundle, "type", "Bundle", issues, required=True)
    if bundle_type is not None and bundle_type != "message":
        issues.add("Bundle.type", "must be message", "value")
    ctx = ReadContext(issues, BundleIndex(bundle, issues), context.received_at)
    header = read_header(ctx)
    encounter = header.focus if header else None
    patient = _subject_patient(ctx, encounter)
    parent = None
    if patient is not None:
        parent = read_person(patient.resource, patient.path, issues, f"person-{patient.index}")
        if not any(i.type == "nhs-number" for i in parent.identifiers):
            issues.add(f"{patient.path}.identifier", "must include a valid NHS number", "required")
        ctx.add(parent)
        _read_related(ctx, patient, parent)
        if encounter is not None:
            event = read_crisis_event(ctx, encounter, parent.id)
            if event is not None:
                ctx.add(event)
        for episode in ctx.bundle.of_type("EpisodeOfCare"):
            if _is_about(ctx, episode, "patient", patient):
                read_episode(ctx, episode, parent.id)
        for condition in ctx.bundle.of_type("Condition"):
            if _is_about(ctx, condition, "subject", patient):
                diagnosis = read_diagnosis(ctx, condition, parent.id)
                if diagnosis is not None:
                    ctx.add(diagnosis)
    # The sender last: an Organization already read for an Encounter or episode is reused.
    sender_code = read_sender(ctx, header.entry.resource, header.entry.path)[0] if header else None
    message_id = child_str(bundle, "id", "Bundle", issues) or (header.id if header else None)
    if message_id is None:
        issues.add("Bundle.id", "is required: the message's id", "required")
    sent_at = _timestamp(bundle, issues)
    issues.raise_if_any()
    if header is None or header.kind is None or parent is None or not sender_code or not message_id:
        # Each of these is reported where it is found; reaching here silently is a mapping fault.
        raise InvalidMessage([Issue("Bundle", "could not be mapped", "processing")])
    return _assemble(
        ctx,
        header=header,
        kind=header.kind,
        parent=parent,
        context=context,
        sender_code=sender_code,
        message_id=message_id,
        sent_at=sent_at,
    )


def _assemble(
    ctx: ReadContext,
    *,
    header: Header,
    kind: MessageKind,
    parent: Person,
    context: ParseContext,
    sender_code: str,
    message_id: str,
    sent_at: datetime | None,
) -> CanonicalMessage:
    try:
        return CanonicalMessage(
            message_id=message_id,
            kind=kind,
            subject=parent.id,
            facts=tuple(ctx.facts),
            provenance=Provenance(
                organisation=sender_code,
                system=context.partner,
                source_format=SOURCE_FORMAT,
                source_message_id=message_id,
                received_at=context.received_at,
            ),
            purpose=header.purpose,
            sent_at=sent_at,
        )
    except ValidationError as exc:
        # Every value was checked on the way in, so this is a mapping fault; report it without
        # values rather than let pydantic's message (which quotes them) travel.
        raise InvalidMessage(issues_from(exc, root="(canonical)", trust_messages=False)) from exc


def _subject_patient(ctx: ReadContext, encounter: Entry | None) -> Entry | None:
    """The Patient the focus Encounter is about; else the Bundle's only Patient."""
    if encounter is not None:
        reference = child_object(encounter.resource, "subject", encounter.path, ctx.issues)
        if reference is None:
            ctx.issues.add(f"{encounter.path}.subject", "is required", "required")
            return None
        return ctx.bundle.resolve(reference, f"{encounter.path}.subject", ctx.issues, ("Patient",))
    patients = ctx.bundle.of_type("Patient")
    if len(patients) == 1:
        return patients[0]  # no usable focus (reported): read the Patient for its own problems
    if not patients:
        ctx.issues.add("Bundle.entry", "must include the Patient the message is about", "required")
    return None


def _is_about(ctx: ReadContext, entry: Entry, key: str, patient: Entry) -> bool:
    """Whether ``entry.<key>`` refers to the subject Patient (another Patient is an error)."""
    reference = child_object(entry.resource, key, entry.path, ctx.issues, required=True)
    if reference is None:
        return False
    target = ctx.bundle.resolve(reference, f"{entry.path}.{key}", ctx.issues, ("Patient",))
    if target is not None and target is not patient:
        ctx.issues.add(
            f"{entry.path}.{key}.reference", "must refer to the message's Patient", "invalid"
        )
    return target is patient


def _read_related(ctx: ReadContext, patient: Entry, parent: Person) -> None:
    for related in ctx.bundle.of_type("RelatedPerson"):
        if not _related_to(ctx, related, patient, parent):
            continue
        found = read_related_person(
            related.resource,
            related.path,
            ctx.issues,
            fact_id=f"person-{related.index}",
            link_id=f"family-relationship-{related.index}",
            parent=parent,
        )
        if found is not None:
            ctx.add(found[0])
            ctx.add(found[1])


def _related_to(ctx: ReadContext, related: Entry, patient: Entry, parent: Person) -> bool:
    """Whether RelatedPerson.patient is the subject: by reference, or by the same NHS number."""
    here = f"{related.path}.patient"
    reference = child_object(related.resource, "patient", related.path, ctx.issues, required=True)
    if reference is None:
        return False
    if "reference" in reference:
        return _is_about(ctx, related, "patient", patient)
    identifier = child_object(reference, "identifier", here, ctx.issues)
    nhs_numbers = {i.value for i in parent.identifiers if i.type == "nhs-number"}
    if identifier is not None and identifier.get("system") == NHS_NUMBER_SYSTEM:
        value = child_str(identifier, "value", f"{here}.identifier", ctx.issues)
        if value in nhs_numbers:
            return True
    ctx.issues.add(here, "must refer to the message's Patient", "invalid")
    return False


def _timestamp(bundle: JsonObject, issues: Issues) -> datetime | None:
    value = child_str(bundle, "timestamp", "Bundle", issues)
    if value is None:
        return None
    parsed = parse_date_time(value, "Bundle.timestamp", issues)
    if parsed is not None and not isinstance(parsed, datetime):
        issues.add("Bundle.timestamp", "must be an instant (a date-time)", "value")
        return None
    return parsed
