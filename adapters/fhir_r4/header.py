"""The MessageHeader: which event, about which resources, for which purpose.

The event is a coding in the local code system ``https://joined-up.org.uk/CodeSystem/message-event``
whose codes are the canonical message kinds; it decides the message's kind. ``focus`` names the
resources the message is about; the optional purpose is a coding in
``https://joined-up.org.uk/CodeSystem/purpose`` in ``MessageHeader.reason``.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.codes import MESSAGE_EVENT_SYSTEM, MESSAGE_EVENTS
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.request import read_request
from adapters.fhir_r4.walk import child_object, child_str, codings, objects
from schemas.labels import PURPOSE_SYSTEM, Purpose
from schemas.message import MessageKind
from schemas.request import SharingRequest

_PURPOSES = {p.value: p for p in Purpose}
PATH = "Bundle.entry[0].resource"


@dataclass(frozen=True, slots=True)
class Header:
    """What the MessageHeader says."""

    entry: Entry
    kind: MessageKind | None
    focus: tuple[Entry, ...]  # the resources the message is about
    purpose: Purpose | None
    id: str | None
    request: SharingRequest | None = None  # a named lawful basis or an urgent override


def read_header(ctx: ReadContext) -> Header | None:
    """The first entry, which must be a MessageHeader."""
    entries = ctx.bundle.entries
    if not entries or entries[0].index != 0:
        return None  # the Bundle's own checks have reported the missing or broken entry
    entry = entries[0]
    if entry.type != "MessageHeader":
        ctx.issues.add(
            f"{PATH}.resourceType", "must be MessageHeader: a message starts with it", "structure"
        )
        return None
    return Header(
        entry=entry,
        kind=_event(ctx, entry),
        focus=_focus(ctx, entry),
        purpose=_purpose(ctx, entry),
        id=child_str(entry.resource, "id", PATH, ctx.issues),
        request=read_request(ctx, entry.resource, PATH),
    )


def _event(ctx: ReadContext, entry: Entry) -> MessageKind | None:
    issues = ctx.issues
    coding = child_object(entry.resource, "eventCoding", PATH, issues)
    if coding is None:
        if "eventUri" in entry.resource:
            issues.add(f"{PATH}.eventUri", "is not supported: give eventCoding", "not-supported")
        else:
            issues.add(f"{PATH}.eventCoding", "is required", "required")
        return None
    here = f"{PATH}.eventCoding"
    system = child_str(coding, "system", here, issues, required=True)
    code = child_str(coding, "code", here, issues, required=True)
    if system is None or code is None:
        return None
    if system != MESSAGE_EVENT_SYSTEM:
        issues.add(
            f"{here}.system", "is not the Joined-up message-event code system", "code-invalid"
        )
        return None
    kind = MESSAGE_EVENTS.get(code)
    if kind is None:
        issues.add(here, "is not a message event this adapter accepts", "code-invalid")
    return kind


def _focus(ctx: ReadContext, entry: Entry) -> tuple[Entry, ...]:
    """The resources the header's focus references (each must resolve within the message)."""
    found: list[Entry] = []
    for focus_path, reference in objects(entry.resource, "focus", PATH, ctx.issues):
        target = ctx.follow(reference, focus_path)
        if target is not None and all(target is not f for f in found):
            found.append(target)
    return tuple(found)


def _purpose(ctx: ReadContext, entry: Entry) -> Purpose | None:
    reason = child_object(entry.resource, "reason", PATH, ctx.issues)
    if reason is None:
        return None
    for coding_path, system, code, _ in codings(reason, f"{PATH}.reason", ctx.issues):
        if system != PURPOSE_SYSTEM:
            continue  # the sender may add its own reason codes alongside
        if code not in _PURPOSES:
            ctx.issues.add(f"{coding_path}.code", "is not a Joined-up purpose", "code-invalid")
            return None
        return _PURPOSES[code]
    return None
