"""The canonical message: what a partner said, as agency-neutral facts with provenance."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import model_validator

from schemas.base import CanonicalModel
from schemas.facts import Fact, LocalId, Person
from schemas.labels import Purpose
from schemas.provenance import Provenance
from schemas.request import SharingRequest


class MessageKind(StrEnum):
    """What a message is about; agreements name the kinds each flow may carry."""

    # Mental health side (trust → gateway)
    CRISIS_EVENT = "crisis-event"  # crisis contact, self-harm attendance, detention, admission...
    REFERRAL = "referral"  # a structured referral to the council's front door
    CONSENT_DIRECTIVE = "consent-directive"
    RECORD_UPDATE = "record-update"  # resources or a collection/batch/transaction: index facts only
    # Both sides
    WORKER_CONTACT = "worker-contact"  # who the worker is, how to reach them (incl. look-ups)
    MEETING_INVITATION = "meeting-invitation"  # care review, strategy discussion, conferences
    MEETING_REPLY = "meeting-reply"  # accept or decline
    # Children's social care side (council → gateway), named after the Standard Safeguarding Dataset
    CHILD_STATUS = "child-status"  # CP-IS-like: plans, allocated worker, out-of-hours contact
    CHILD_RECORD = "child-record"  # a DfE CSC API child record
    ALLOCATED_WORKER_CHANGED = "allocated-worker-changed"  # ssd_involvements
    SECTION_47_STARTED = "section-47-started"  # ssd_s47_enquiry
    ICPC_SCHEDULED = "icpc-scheduled"  # ssd_initial_cp_conference
    CP_PLAN_STARTED = "cp-plan-started"  # ssd_cp_plans
    CP_PLAN_ENDED = "cp-plan-ended"
    REFERRAL_STATUS = "referral-status"  # acknowledgement: received, allocated, outcome
    CIN_CENSUS_CHILD = "cin-census-child"  # one child of an annual CIN census return
    # Made by the gateway's safeguarding workflows, never accepted from a partner
    THINK_FAMILY = "think-family"  # a parent in adult mental health has a child open to CSC
    ACCESS_NOTIFICATION = "access-notification"  # who looked up a child's status, and why
    REFERRAL_ESCALATION = "referral-escalation"  # a referral not acknowledged in time


# Kinds only the gateway itself makes (from what it already holds): refused at the door.
GATEWAY_MADE_KINDS = frozenset(
    {MessageKind.THINK_FAMILY, MessageKind.ACCESS_NOTIFICATION, MessageKind.REFERRAL_ESCALATION}
)


class Unmapped(CanonicalModel):
    """A source element the canonical model does not carry: reported, never dropped silently.

    ``element`` is a location in the partner's message (never its value); ``reason`` says why.
    """

    element: str
    reason: str


# Kinds that only make sense about one person (the parent in crisis, the child on a plan...).
_ABOUT_A_PERSON = frozenset(
    {
        MessageKind.CRISIS_EVENT,
        MessageKind.REFERRAL,
        MessageKind.CONSENT_DIRECTIVE,
        MessageKind.CHILD_STATUS,
        MessageKind.CHILD_RECORD,
        MessageKind.SECTION_47_STARTED,
        MessageKind.ICPC_SCHEDULED,
        MessageKind.CP_PLAN_STARTED,
        MessageKind.CP_PLAN_ENDED,
        MessageKind.CIN_CENSUS_CHILD,
        MessageKind.THINK_FAMILY,
        MessageKind.ACCESS_NOTIFICATION,
        MessageKind.REFERRAL_ESCALATION,
    }
)


class CanonicalMessage(CanonicalModel):
    """One partner message, parsed. Every fact in it carries the message's provenance."""

    message_id: str
    kind: MessageKind
    subject: LocalId | None = None  # the Person fact the message is about, where there is one
    facts: tuple[Fact, ...]
    provenance: Provenance
    purpose: Purpose | None = None  # the purpose the sender declared, if any
    sent_at: datetime | None = None
    unmapped: tuple[Unmapped, ...] = ()  # the loss report of the translation into canonical
    request: SharingRequest | None = None  # a basis the sender relies on, or its urgent override

    @model_validator(mode="after")
    def _references_resolve(self) -> CanonicalMessage:
        ids = [f.id for f in self.facts]
        if len(ids) != len(set(ids)):
            raise ValueError("fact ids must be unique within a message")
        if self.subject is not None and not isinstance(self.fact(self.subject), Person):
            raise ValueError("the subject must be a person fact in the message")
        if self.subject is None and self.kind in _ABOUT_A_PERSON:
            raise ValueError(f"a {self.kind.value} message names its subject person")
        return self

    def fact(self, local_id: str) -> Fact | None:
        """The fact with this local id, or None."""
        for f in self.facts:
            if f.id == local_id:
                return f
        return None

    def facts_of(self, cls: type[Fact]) -> list[Fact]:
        """Every fact of one class, in message order."""
        return [f for f in self.facts if isinstance(f, cls)]
