"""The canonical message: what a partner said, as agency-neutral facts with provenance."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import model_validator

from schemas.base import CanonicalModel
from schemas.facts import Fact, LocalId, Person
from schemas.labels import Purpose
from schemas.provenance import Provenance


class MessageKind(StrEnum):
    """What a message is about; agreements name the kinds each flow may carry."""

    CRISIS_EVENT = "crisis-event"
    CHILD_STATUS = "child-status"
    WORKER_CONTACT = "worker-contact"  # a look-up answer: who the worker is, how to reach them


class CanonicalMessage(CanonicalModel):
    """One partner message, parsed. Every fact in it carries the message's provenance."""

    message_id: str
    kind: MessageKind
    subject: LocalId  # the Person fact the message is about
    facts: tuple[Fact, ...]
    provenance: Provenance
    purpose: Purpose | None = None  # the purpose the sender declared, if any
    sent_at: datetime | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> CanonicalMessage:
        ids = [f.id for f in self.facts]
        if len(ids) != len(set(ids)):
            raise ValueError("fact ids must be unique within a message")
        subject = self.fact(self.subject)
        if not isinstance(subject, Person):
            raise ValueError("the subject must be a person fact in the message")
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
