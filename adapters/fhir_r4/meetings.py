"""Appointment to canonical Meeting.

An Appointment is a cross-agency meeting when its ``appointmentType`` (or ``serviceType``) has a
coding in the local ``meeting-kind`` code system: care review, strategy discussion, initial or
review child protection conference, core group. Any other Appointment (a clinic visit) is reported
as unmapped; as the focus of a meeting message it is refused.

* The subject is the one Patient among the participants: the person the meeting is about.
* Participants that are workers become the meeting's WorkerRole participants: a PractitionerRole
  (its WorkerRole, for the subject where the message has one), or a Practitioner or Organization
  whose participant ``type`` has a worker-role coding. Family members (RelatedPerson) and
  equipment are not carried. A Location participant is the meeting's location.
* A participant's ``status`` accepted / declined / tentative is its response (a meeting reply);
  needs-action is no response yet.
* ``status``: proposed, pending and waitlist read as proposed; booked, arrived and checked-in as
  booked; fulfilled; cancelled; noshow as fulfilled (reported: it took place without someone).
* ``identifier`` in the local ``meeting-reference`` system is the organiser's reference, which
  replies quote.
* The local ``meeting-target`` extension (``targetDate``, ``afterTarget``) is the date the meeting
  is due by (an initial conference's target); ``afterTarget`` is derived from it and the start.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.codes import (
    MEETING_KIND_SYSTEM,
    MEETING_KINDS,
    MEETING_REFERENCE_SYSTEM,
    MEETING_TARGET_EXTENSION,
)
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.encounter import read_location
from adapters.fhir_r4.organisations import organisation_for
from adapters.fhir_r4.people import read_patient
from adapters.fhir_r4.roles import NO_ROLE, any_role_for, practitioner_role, role_code
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.walk import (
    JsonObject,
    child_date,
    child_date_time,
    child_object,
    child_str,
    codings,
    extensions,
    objects,
)
from schemas.facts import Meeting, MeetingKind, MeetingResponse, RoleKind, WorkerRole

MeetingStatus = Literal["proposed", "booked", "cancelled", "fulfilled"]
Response = Literal["accepted", "declined", "tentative"]
ELEMENTS = elements(
    {"status", "appointmentType", "serviceType", "start", "end", "participant", "identifier"}
)
_STATUSES: dict[str, MeetingStatus] = {
    "proposed": "proposed",
    "pending": "proposed",
    "waitlist": "proposed",
    "booked": "booked",
    "arrived": "booked",
    "checked-in": "booked",
    "fulfilled": "fulfilled",
    "noshow": "fulfilled",
    "cancelled": "cancelled",
}
_RESPONSES: dict[str, Response] = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
}


def meeting_kind(ctx: ReadContext, resource: JsonObject, path: str) -> MeetingKind | None:
    """The meeting kind coded in ``appointmentType`` or ``serviceType``, if any."""
    concepts: list[tuple[str, JsonObject]] = []
    concept = child_object(resource, "appointmentType", path, ctx.issues)
    if concept is not None:
        concepts.append((f"{path}.appointmentType", concept))
    concepts.extend(objects(resource, "serviceType", path, ctx.issues))
    for concept_path, item in concepts:
        for coding_path, system, code, _ in codings(item, concept_path, ctx.issues):
            if system != MEETING_KIND_SYSTEM:
                continue
            if code not in MEETING_KINDS:
                ctx.issues.add(f"{coding_path}.code", "is not a meeting kind", "code-invalid")
                return None
            return MEETING_KINDS[code]
    return None


def read_appointment(ctx: ReadContext, entry: Entry, *, focus: bool) -> None:
    """The Meeting an Appointment is, if it is a cross-agency meeting."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    ctx.mapped.add(entry.index)
    status = child_str(resource, "status", path, issues, required=True)
    if status == "entered-in-error":
        if focus:
            issues.add(f"{path}.status", "an appointment entered in error is no meeting", "value")
        else:
            ctx.unmap(path, "an appointment entered in error is no meeting")
        return
    kind = meeting_kind(ctx, resource, path)
    if kind is None:
        if focus:
            issues.add(
                f"{path}.appointmentType",
                "must state the meeting kind (meeting-kind code system)",
                "required",
            )
        else:
            ctx.unmap(path, "not a cross-agency meeting: no meeting-kind code")
        return
    report_unread(ctx, entry, ELEMENTS, frozenset({MEETING_TARGET_EXTENSION}))
    target = _target(ctx, resource, path)
    if status is not None and status not in _STATUSES:
        issues.add(f"{path}.status", "is not an Appointment status", "code-invalid")
    elif status == "noshow":
        ctx.unmap(f"{path}.status", "no-show is carried as fulfilled")
    start = _instant(ctx, resource, "start", path, required=True)
    end = _instant(ctx, resource, "end", path, required=False)
    subject, location, workers = _participants(ctx, entry)
    reference = _reference(ctx, resource, path)
    if subject is None or start is None or status not in _STATUSES:
        return
    participants: list[str] = []
    responses: list[MeetingResponse] = []
    for role_entry, kind_hint, fact_id, response, here in workers:
        role_id = _worker_role(
            ctx, role_entry, role_kind=kind_hint, fact_id=fact_id, subject=subject, here=here
        )
        if role_id is None or role_id in participants:
            continue
        participants.append(role_id)
        if response is not None:
            responses.append(MeetingResponse(participant=role_id, response=response))
    ctx.add(
        Meeting(
            id=f"meeting-{entry.index}",
            kind=kind,
            subject=subject,
            start=start,
            end=end,
            status=_STATUSES[status],
            participants=tuple(participants),
            location=location,
            reference=reference,
            responses=tuple(responses),
            target_date=target,
            labels=read_security(resource, path, issues),
        )
    )


def _instant(
    ctx: ReadContext, resource: JsonObject, key: str, path: str, *, required: bool
) -> datetime | None:
    value = child_date_time(resource, key, path, ctx.issues, required=required)
    if value is not None and not isinstance(value, datetime):
        ctx.issues.add(f"{path}.{key}", "must be an instant (a date-time)", "value")
        return None
    return value


# (the participant's entry, its stated role, a fact id for it, its response, its path)
_Worker = tuple[Entry, RoleKind | None, str, Response | None, str]


def _participants(ctx: ReadContext, entry: Entry) -> tuple[str | None, str | None, list[_Worker]]:
    resource, path, issues = entry.resource, entry.path, ctx.issues
    patients: list[str] = []
    location = None
    workers: list[_Worker] = []
    for i, (here, participant) in enumerate(objects(resource, "participant", path, issues)):
        response = _RESPONSES.get(str(participant.get("status")))
        actor = child_object(participant, "actor", here, issues)
        if actor is None:
            ctx.unmap(here, "names no actor")
            continue
        target = ctx.follow(actor, f"{here}.actor", None, required=False)
        if target is None:
            display = child_str(actor, "display", f"{here}.actor", issues)
            if location is None and display is not None and actor.get("type") == "Location":
                location = display
            continue
        if target.type == "Patient":
            patients.append(read_patient(ctx, target).id)
        elif target.type == "Location":
            location = location or read_location(ctx, target)
        elif target.type in ("PractitionerRole", "Practitioner", "Organization"):
            kind = role_code(ctx, participant, "type", here)
            workers.append((target, kind, f"worker-role-{entry.index}-{i}", response, here))
        else:
            ctx.unmap(
                f"{here}.actor", "only workers, the person it is about and the place are read"
            )
    subject = patients[0] if len(set(patients)) == 1 else None
    if subject is None:
        issues.add(
            f"{path}.participant",
            "must include exactly one Patient: the person the meeting is about",
            "required",
        )
    return subject, location, workers


def _worker_role(
    ctx: ReadContext,
    target: Entry,
    *,
    role_kind: RoleKind | None,
    fact_id: str,
    subject: str,
    here: str,
) -> str | None:
    if target.type == "PractitionerRole":
        return any_role_for(ctx, target, subject, role_kind)
    if role_kind is None:
        ctx.unmap(f"{here}.type", NO_ROLE)
        return None
    if target.type == "Practitioner":
        return practitioner_role(ctx, target, kind=role_kind, fact_id=fact_id, subject=None)
    organisation = organisation_for(ctx, target)
    return ctx.add(WorkerRole(id=fact_id, role=role_kind, organisation=organisation.id))


def _reference(ctx: ReadContext, resource: JsonObject, path: str) -> str | None:
    found = None
    for id_path, identifier in objects(resource, "identifier", path, ctx.issues):
        if identifier.get("system") == MEETING_REFERENCE_SYSTEM and found is None:
            found = child_str(identifier, "value", id_path, ctx.issues, required=True)
        else:
            ctx.unmap(id_path, "only the meeting-reference identifier is carried")
    return found


def _target(ctx: ReadContext, resource: JsonObject, path: str) -> date | None:
    """The ``meeting-target`` extension's date (``afterTarget`` follows from it and the start)."""
    found = None
    for ext_path, ext in extensions(resource, MEETING_TARGET_EXTENSION, path, ctx.issues):
        for part_path, part in objects(ext, "extension", ext_path, ctx.issues):
            url = part.get("url")
            if url == "targetDate":
                found = child_date(part, "valueDate", part_path, ctx.issues)
                if found is None:
                    ctx.issues.add(f"{part_path}.valueDate", "is required", "required")
            elif url != "afterTarget":
                ctx.unmap(part_path, "not a part of the meeting-target extension")
    return found
