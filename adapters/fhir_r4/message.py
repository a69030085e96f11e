"""A FHIR input to a CanonicalMessage: the order in which the parts are read.

Inputs:

* a ``message`` Bundle: the MessageHeader's event is the message's kind, its sender the
  provenance, its focus what the message is about; the message must be self-contained;
* a ``collection``, ``batch`` or ``transaction`` Bundle, or a single resource: a
  ``record-update`` (index facts only), about the one Patient in it if there is exactly one.
  References may lead to the sender's other records: where an optional one does, it is reported as
  unmapped. Batch and transaction entries without a resource (queries, deletions) carry no fact and
  are reported as unmapped.

Every resource of a handled type is read, in a fixed order (people first, then organisations and
workers, then what refers to them), each into its facts; resources of other types, and elements the
canonical model cannot carry, are listed in ``CanonicalMessage.unmapped``. An input from which no
fact at all can be read is refused, its unmapped elements given as the reasons.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from adapters.base import ParseContext
from adapters.fhir_r4.bundle import BundleIndex, Entry
from adapters.fhir_r4.care import read_episode
from adapters.fhir_r4.codes import UNDECLARED_SENDER
from adapters.fhir_r4.communication import read_communication
from adapters.fhir_r4.condition import read_diagnosis
from adapters.fhir_r4.consent import read_consent
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.encounter import read_crisis_event
from adapters.fhir_r4.flags import Flags, add_episodes, read_flag
from adapters.fhir_r4.header import Header, read_header
from adapters.fhir_r4.identifiers import is_person_system, read_identifier
from adapters.fhir_r4.meetings import read_appointment
from adapters.fhir_r4.organisations import organisation_for, read_assigner, read_sender
from adapters.fhir_r4.people import read_patient, read_related
from adapters.fhir_r4.referrals import Referrals, add_referrals, read_service_request, read_task
from adapters.fhir_r4.request import SHARING_REQUEST_EXTENSION
from adapters.fhir_r4.roles import read_care_team, role_for, worker_for
from adapters.fhir_r4.walk import Issues, JsonObject, child_str, parse_date_time
from adapters.fhir_r4.xmlread import resource_model
from adapters.pydantic_issues import issues_from
from gateway.errors import InvalidMessage, Issue
from schemas.message import CanonicalMessage, MessageKind, Unmapped
from schemas.provenance import Provenance

SOURCE_FORMAT = "fhir-r4"
RECORD_BUNDLES = frozenset({"collection", "batch", "transaction"})
HEADER_ELEMENTS = elements(
    {"eventCoding", "eventUri", "sender", "focus", "reason", "destination", "source"}
)
# What a message of each kind must focus on, and the rule's wording.
_FOCUS: dict[MessageKind, tuple[tuple[str, ...], str]] = {
    MessageKind.CRISIS_EVENT: (
        ("Encounter",),
        "must refer to exactly one Encounter: the crisis the message is about",
    ),
    MessageKind.REFERRAL: (
        ("ServiceRequest",),
        "must refer to exactly one ServiceRequest: the referral",
    ),
    MessageKind.REFERRAL_STATUS: (
        ("Task", "ServiceRequest"),
        "must refer to exactly one Task or ServiceRequest: the referral whose status it gives",
    ),
    MessageKind.MEETING_INVITATION: (
        ("Appointment",),
        "must refer to exactly one Appointment: the meeting",
    ),
    MessageKind.MEETING_REPLY: (("Appointment",), "must refer to exactly one Appointment"),
    MessageKind.ICPC_SCHEDULED: (("Appointment",), "must refer to exactly one Appointment"),
    MessageKind.CONSENT_DIRECTIVE: (
        ("Consent",),
        "must refer to exactly one Consent: the directive",
    ),
}
# The element naming the person a focus resource is about.
_SUBJECT_ELEMENT = {
    "Encounter": "subject",
    "ServiceRequest": "subject",
    "Task": "for",
    "Consent": "patient",
    "Flag": "subject",
    "CareTeam": "subject",
    "EpisodeOfCare": "patient",
    "Condition": "subject",
    "Communication": "subject",
    "RelatedPerson": "patient",
}
_NHS_NUMBER_KINDS = frozenset({MessageKind.CRISIS_EVENT})


def read_input(
    data: JsonObject, context: ParseContext, issues: Issues, fallback_id: Callable[[], str]
) -> CanonicalMessage:
    """Map a parsed FHIR resource or Bundle; raise InvalidMessage naming every problem found."""
    try:
        return _read(data, context, issues, fallback_id)
    except ValidationError as exc:
        # Values are checked on the way in, so this is a mapping fault; report it without values
        # rather than let pydantic's message (which quotes them) travel.
        raise InvalidMessage(issues_from(exc, root="(canonical)", trust_messages=False)) from exc


def _read(
    data: JsonObject, context: ParseContext, issues: Issues, fallback_id: Callable[[], str]
) -> CanonicalMessage:
    resource_type = child_str(data, "resourceType", "(body)", issues)
    if resource_type is None:
        issues.add("resourceType", "is required: a FHIR resource or Bundle", "structure")
        issues.raise_if_any()
    if resource_type != "Bundle":
        index = BundleIndex.single(data, str(resource_type), issues)
        ctx = ReadContext(issues, index, context.received_at, self_contained=False)
        return _record_update(ctx, data, context, str(resource_type), fallback_id)
    bundle_type = child_str(data, "type", "Bundle", issues, required=True)
    if bundle_type == "message":
        index = BundleIndex.of_bundle(data, issues, requests_allowed=False)
        ctx = ReadContext(issues, index, context.received_at, self_contained=True)
        return _message(ctx, data, context)
    if bundle_type in RECORD_BUNDLES:
        index = BundleIndex.of_bundle(data, issues, requests_allowed=bundle_type != "collection")
        ctx = ReadContext(issues, index, context.received_at, self_contained=False)
        return _record_update(ctx, data, context, "Bundle", fallback_id)
    if bundle_type is not None:
        issues.add("Bundle.type", "must be message, collection, batch or transaction", "value")
    issues.raise_if_any()
    raise InvalidMessage([Issue("Bundle", "could not be mapped", "processing")])


def _message(ctx: ReadContext, bundle: JsonObject, context: ParseContext) -> CanonicalMessage:
    issues = ctx.issues
    header = read_header(ctx)
    focus = header.focus if header else ()
    if header is not None:
        report_unread(ctx, header.entry, HEADER_ELEMENTS, frozenset({SHARING_REQUEST_EXTENSION}))
        ctx.mapped.add(header.entry.index)
        _check_focus(ctx, header)
        ctx.kind = header.kind
        if header.kind in _NHS_NUMBER_KINDS:
            ctx.nhs_required = frozenset(_subject_entries(ctx, focus))
    _read_all(ctx, {e.index for e in focus})
    kind = header.kind if header else None
    subject = _subject(ctx, focus)
    if kind is not None:
        _check_subject(ctx, kind, subject)
    sender = read_sender(ctx, header.entry.resource, header.entry.path) if header else None
    message_id = child_str(bundle, "id", "Bundle", issues) or (header.id if header else None)
    if message_id is None:
        issues.add("Bundle.id", "is required: the message's id", "required")
    sent_at = _timestamp(bundle, issues)
    issues.raise_if_any()
    if header is None or kind is None or not sender or not message_id:
        # Each of these is reported where it is found; reaching here silently is a mapping fault.
        raise InvalidMessage([Issue("Bundle", "could not be mapped", "processing")])
    return _assemble(
        ctx,
        kind=kind,
        subject=subject,
        context=context,
        sender=sender,
        message_id=message_id,
        sent_at=sent_at,
        header=header,
    )


def _record_update(
    ctx: ReadContext,
    data: JsonObject,
    context: ParseContext,
    root: str,
    fallback_id: Callable[[], str],
) -> CanonicalMessage:
    issues = ctx.issues
    for request in ctx.bundle.requests:
        reason = (
            "a deletion cannot be carried: the canonical model records facts"
            if request.method == "DELETE"
            else "a request without a resource carries no fact"
        )
        ctx.unmap(request.path, reason)
    _read_all(ctx, set())
    patients = ctx.bundle.of_type("Patient")
    subject = ctx.persons[patients[0].index].id if len(patients) == 1 else None
    sender = read_assigner(ctx, data) if root == "Bundle" else None
    sent_at = _timestamp(data, issues) if root == "Bundle" else None
    message_id = child_str(data, "id", root, issues) or fallback_id()
    issues.raise_if_any()
    if not ctx.facts:
        raise InvalidMessage(_nothing_mapped(ctx, root))
    return _assemble(
        ctx,
        kind=MessageKind.RECORD_UPDATE,
        subject=subject,
        context=context,
        sender=sender or UNDECLARED_SENDER,
        message_id=message_id,
        sent_at=sent_at,
        header=None,
    )


def _nothing_mapped(ctx: ReadContext, root: str) -> list[Issue]:
    """The refusal of an input with no fact in it: why each part did not map."""
    resource_paths = {e.path for e in ctx.bundle.entries} | {r.path for r in ctx.bundle.requests}
    reasons = list(dict.fromkeys(ctx.unmapped))
    first = [(e, r) for e, r in reasons if e in resource_paths]
    rest = [(e, r) for e, r in reasons if e not in resource_paths]
    found = [Issue(e, r, "not-supported") for e, r in (*first, *rest)]
    return found or [Issue(root, "holds nothing the canonical model carries", "not-supported")]


def _check_focus(ctx: ReadContext, header: Header) -> None:
    if header.kind is None or header.kind not in _FOCUS:
        return
    types, rule = _FOCUS[header.kind]
    matching = [e for e in header.focus if e.type in types]
    if len(matching) != 1:
        ctx.issues.add(
            f"{header.entry.path}.focus", rule, "required" if not matching else "invalid"
        )


def _read_all(ctx: ReadContext, focus: set[int]) -> None:
    """Every resource, by type, in an order where what is referred to is read first."""
    bundle = ctx.bundle
    for entry in bundle.of_type("Patient"):
        read_patient(ctx, entry)
    for entry in bundle.of_type("RelatedPerson"):
        read_related(ctx, entry)
    for entry in bundle.of_type("Organization"):
        organisation_for(ctx, entry)
    for entry in bundle.of_type("Practitioner"):
        worker_for(ctx, entry)
    for entry in bundle.of_type("EpisodeOfCare"):
        read_episode(ctx, entry)
    for entry in bundle.of_type("CareTeam"):
        read_care_team(ctx, entry)
    for entry in bundle.of_type("Encounter"):
        read_crisis_event(ctx, entry, focus=entry.index in focus)
    for entry in bundle.of_type("Condition"):
        read_diagnosis(ctx, entry)
    _read_social_care(ctx, focus)
    for entry in bundle.of_type("PractitionerRole"):
        if entry.index not in ctx.mapped:
            role_for(ctx, entry)
    for entry in bundle.entries:
        if entry.index not in ctx.mapped:
            ctx.unmap(entry.path, _unhandled(entry.type))


def _read_social_care(ctx: ReadContext, focus: set[int]) -> None:
    """Flags, meetings, referrals, consents and notifications (after people and workers)."""
    bundle = ctx.bundle
    flags = Flags()
    for entry in bundle.of_type("Flag"):
        read_flag(ctx, entry, flags)
    for entry in bundle.of_type("Appointment"):
        read_appointment(ctx, entry, focus=entry.index in focus)
    referrals = Referrals()
    for entry in bundle.of_type("ServiceRequest"):
        read_service_request(ctx, entry, referrals, focus=entry.index in focus)
    for entry in bundle.of_type("Task"):
        read_task(ctx, entry, referrals)
    add_referrals(ctx, referrals)
    for entry in bundle.of_type("Consent"):
        read_consent(ctx, entry, focus=entry.index in focus)
    for entry in bundle.of_type("Communication"):
        read_communication(ctx, entry)
    add_episodes(ctx, flags)


def _unhandled(resource_type: str) -> str:
    if resource_type == "MessageHeader":
        return "a MessageHeader is read only as the first entry of a message Bundle"
    if resource_model(resource_type) is None:
        return "not a FHIR R4 resource type"
    return f"{resource_type} resources are not carried by the canonical model"


def _subject_entries(ctx: ReadContext, focus: tuple[Entry, ...]) -> list[int]:
    """The Patient entries the focus resources are about (before anything is read)."""
    found: list[int] = []
    for entry in focus:
        target = entry if entry.type == "Patient" else None
        if target is None and entry.type in _SUBJECT_ELEMENT:
            target = _entry_of(ctx, entry.resource.get(_SUBJECT_ELEMENT[entry.type]))
        if target is not None and target.type == "Patient":
            found.append(target.index)
    return found


def _subject(ctx: ReadContext, focus: tuple[Entry, ...]) -> str | None:
    """The person a message is about: a focus Patient, else the person a focus resource is
    about (its subject, patient or ``for``; an Appointment's Patient participant)."""
    for entry in focus:
        if entry.type == "Patient":
            return _person_at(ctx, entry)
    for entry in focus:
        found = None
        if entry.type == "Appointment":
            found = _meeting_subject(ctx, entry)
        elif entry.type in _SUBJECT_ELEMENT:
            found = _referred_person(ctx, entry.resource.get(_SUBJECT_ELEMENT[entry.type]))
            if found is None and entry.type == "Task":
                focus_of = entry.resource.get("focus")
                target = _entry_of(ctx, focus_of)
                if target is not None:
                    found = _referred_person(ctx, target.resource.get("subject"))
        if found is not None:
            return found
    return None


def _person_at(ctx: ReadContext, entry: Entry) -> str | None:
    person = ctx.persons.get(entry.index)
    return None if person is None else person.id


def _entry_of(ctx: ReadContext, reference: object) -> Entry | None:
    if isinstance(reference, dict):
        target = reference.get("reference")
        if isinstance(target, str):
            return ctx.bundle.lookup(target)
    return None


def _referred_person(ctx: ReadContext, reference: object) -> str | None:
    entry = _entry_of(ctx, reference)
    if entry is not None:
        return _person_at(ctx, entry)
    if isinstance(reference, dict):
        identifier = reference.get("identifier")
        if isinstance(identifier, dict) and is_person_system(identifier.get("system")):
            found = read_identifier(identifier, "(reference)", Issues())  # reported by the reader
            if found is not None:
                return ctx.persons_by_key.get(found.key)
    return None


def _meeting_subject(ctx: ReadContext, entry: Entry) -> str | None:
    for fact in ctx.facts:
        if fact.id == f"meeting-{entry.index}" and fact.fact == "meeting":
            return fact.subject
    return None


def _check_subject(ctx: ReadContext, kind: MessageKind, subject: str | None) -> None:
    if subject is None:
        if kind in (MessageKind.CRISIS_EVENT,):
            if not ctx.bundle.of_type("Patient"):
                ctx.issues.add(
                    "Bundle.entry", "must include the Patient the message is about", "required"
                )
        elif kind in _ABOUT_A_PERSON:
            ctx.issues.add(
                "Bundle.entry[0].resource.focus",
                f"must lead to the person a {kind.value} message is about",
                "required",
            )
        return


_ABOUT_A_PERSON = frozenset(
    {
        MessageKind.CRISIS_EVENT,
        MessageKind.REFERRAL,
        MessageKind.CONSENT_DIRECTIVE,
        MessageKind.CHILD_STATUS,
        MessageKind.SECTION_47_STARTED,
        MessageKind.ICPC_SCHEDULED,
        MessageKind.CP_PLAN_STARTED,
        MessageKind.CP_PLAN_ENDED,
        MessageKind.CHILD_RECORD,
        MessageKind.CIN_CENSUS_CHILD,
    }
)


def _assemble(
    ctx: ReadContext,
    *,
    kind: MessageKind,
    subject: str | None,
    context: ParseContext,
    sender: str,
    message_id: str,
    sent_at: datetime | None,
    header: Header | None,
) -> CanonicalMessage:
    return CanonicalMessage(
        message_id=message_id,
        kind=kind,
        subject=subject,
        facts=tuple(ctx.facts),
        provenance=Provenance(
            organisation=sender,
            system=context.partner,
            source_format=SOURCE_FORMAT,
            source_message_id=message_id,
            received_at=context.received_at,
        ),
        purpose=header.purpose if header else None,
        request=header.request if header else None,
        sent_at=sent_at,
        unmapped=tuple(
            _unmapped(element, reason) for element, reason in dict.fromkeys(ctx.unmapped)
        ),
    )


_UNMAPPED: dict[tuple[str, str], Unmapped] = {}


def _unmapped(element: str, reason: str) -> Unmapped:
    """An Unmapped item, shared: a partner's messages leave out the same elements each time."""
    key = (element, reason)
    found = _UNMAPPED.get(key)
    if found is None:
        if len(_UNMAPPED) > 10_000:  # bounded: paths vary with entry positions
            _UNMAPPED.clear()
        found = _UNMAPPED[key] = Unmapped(element=element, reason=reason)
    return found


def _timestamp(bundle: JsonObject, issues: Issues) -> datetime | None:
    value = child_str(bundle, "timestamp", "Bundle", issues)
    if value is None:
        return None
    parsed = parse_date_time(value, "Bundle.timestamp", issues)
    if parsed is not None and not isinstance(parsed, datetime):
        issues.add("Bundle.timestamp", "must be an instant (a date-time)", "value")
        return None
    return parsed
