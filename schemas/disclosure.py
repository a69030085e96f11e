"""A disclosure: what one recipient is sent, and the manifest of what was withheld and why."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from schemas.base import CanonicalModel
from schemas.facts import Fact, LocalId
from schemas.labels import LawfulBasis, Obligation, Purpose
from schemas.message import MessageKind


class WithheldReason(StrEnum):
    """Why an element was not disclosed."""

    NOT_IN_AGREEMENT = "not-in-agreement"
    SENSITIVITY_LABEL = "sensitivity-label"
    CONSENT_DENIED = "consent-denied"
    THIRD_PARTY = "third-party"
    NO_AGREEMENT = "no-agreement"


class WithheldItem(CanonicalModel):
    """One withheld element: its class or path, the reason, and whom to ask. Never its content."""

    element: str
    reason_code: WithheldReason
    reason: str
    ask: str | None = None


class Addressee(CanonicalModel):
    """The recipient partner and, where known, the worker the disclosure is addressed to."""

    partner: str
    organisation: str
    worker_role: LocalId | None = None


class Disclosure(CanonicalModel):
    """The minimised facts one recipient may receive, under one agreement, purpose and basis."""

    disclosure_id: str
    exchange_id: str
    kind: MessageKind
    sender_partner: str
    sender_organisation: str
    recipient: Addressee
    agreement_id: str
    agreement_version: int
    flow_id: str
    purpose: Purpose
    lawful_basis: LawfulBasis
    subject: LocalId | None  # the person the source message was about, where there was one
    about: tuple[LocalId, ...] = ()  # further people the recipient knows (e.g. the child)
    facts: tuple[Fact, ...]
    disclosed: tuple[str, ...]
    withheld: tuple[WithheldItem, ...]
    obligations: frozenset[Obligation] = frozenset()
    created_at: datetime
