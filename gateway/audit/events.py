"""Audit events: one class per kind; the docstring of each is its documentation.

Entries hold metadata and hashes only, never record content: people appear as the index's
surrogate ids (``person_ids``), bodies as SHA-256 digests, withheld elements by class and reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class AuditEvent(BaseModel):
    """Fields every entry carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    request_id: str | None = None
    exchange_id: str | None = None
    partner: str | None = None


class ExchangeReceived(AuditEvent):
    """A partner message was accepted for processing (parsed and checked)."""

    event: Literal["exchange.received"] = "exchange.received"
    kind: str
    sender_organisation: str
    source_message_id_sha256: str
    body_sha256: str
    person_ids: tuple[str, ...] = ()
    unmapped: tuple[str, ...] = ()  # source elements the canonical model did not carry (paths)


class WithheldRef(BaseModel):
    """A withheld element by class and reason (no content)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    element: str
    reason_code: str


class DisclosureDecided(AuditEvent):
    """A decision, permit or refuse, about disclosing to one recipient (golden rule 7)."""

    event: Literal["disclosure.decided"] = "disclosure.decided"
    outcome: Literal["permit", "refuse"]
    reason_code: str
    explanation: str
    kind: str
    recipient_partner: str | None
    recipient_organisation: str
    agreement_id: str | None = None
    agreement_version: int | None = None
    flow_id: str | None = None
    purpose: str | None = None
    lawful_basis: str | None = None
    disclosure_id: str | None = None
    disclosed: tuple[str, ...] = ()
    withheld: tuple[WithheldRef, ...] = ()
    losses: tuple[str, ...] = ()
    body_sha256: str | None = None
    person_ids: tuple[str, ...] = ()
    consent_ref: str | None = None  # the consent directive in force, if any
    override_reason: str | None = None  # an urgent override's reason code
    override_approver: str | None = None  # who approved it (a member of staff, not the subject)
    flagged_for_review: bool = False  # an override, or sharing without consent over a refusal
    s16la_judgement: str | None = None  # why withholding was judged more detrimental (s16LA)


class NoRecipient(AuditEvent):
    """The message was accepted but nobody is entitled or known to receive it."""

    event: Literal["exchange.no-recipient"] = "exchange.no-recipient"
    kind: str
    reason: str
    person_ids: tuple[str, ...] = ()


class IndexUpdated(AuditEvent):
    """The index learnt who is who from a partner message or a seed file (counts only)."""

    event: Literal["index.updated"] = "index.updated"
    persons: int
    identifiers: int
    family_links: int
    worker_roles: int
    episodes: int = 0
    consents: int = 0


class LookupDecided(AuditEvent):
    """A look-up ("who is the worker for this person?") was answered or refused."""

    event: Literal["lookup.decided"] = "lookup.decided"
    outcome: Literal["permit", "refuse", "not-found"]
    reason_code: str
    role: str
    person_ids: tuple[str, ...] = ()
    agreement_id: str | None = None
    agreement_version: int | None = None
    purpose: str | None = None
    lawful_basis: str | None = None
    disclosed: tuple[str, ...] = ()
    withheld: tuple[WithheldRef, ...] = ()


class DeliveryAttempted(AuditEvent):
    """One delivery attempt to a recipient's endpoint, and how it ended."""

    event: Literal["delivery.attempted"] = "delivery.attempted"
    outbox_id: str
    disclosure_id: str
    attempt: int
    outcome: Literal["delivered", "retry", "dead"]
    status_code: int | None = None
    error: str | None = None


class DeliveryReplayed(AuditEvent):
    """An operator put a dead-lettered delivery back in the outbox to be tried again."""

    event: Literal["delivery.replayed"] = "delivery.replayed"
    outbox_id: str
    disclosure_id: str
    operator: str  # the account that asked for it
    attempts_before: int


class ImportCompleted(AuditEvent):
    """A batch file (such as a CIN census return) was imported into the index; counts only."""

    event: Literal["import.completed"] = "import.completed"
    source_format: str
    file_sha256: str
    organisation: str
    records: int
    imported: int
    problems: int
    persons: int
    identifiers: int
    episodes: int


class OverrideReviewed(AuditEvent):
    """An IG officer reviewed a flagged decision (an urgent override, or a share against a
    recorded refusal) and recorded their conclusion. The comment is the officer's own words
    about the decision; the review pages ask for no record content in it."""

    event: Literal["override.reviewed"] = "override.reviewed"
    reviewed_seq: int  # the ``disclosure.decided`` entry reviewed
    reviewer: str  # the officer's account name
    role: str
    comment: Annotated[str, Field(min_length=1, max_length=2000)]


class RecordViewed(AuditEvent):
    """Someone viewed or exported audit detail about people (the review pages, exports): viewing
    personal data is itself recorded."""

    event: Literal["record.viewed"] = "record.viewed"
    viewer: str  # account name
    role: str
    view: str  # e.g. search, exchange, person-report, evidence-pack, export
    person_ids: tuple[str, ...] = ()
    seqs: tuple[int, ...] = ()  # the entries shown, where few enough to list


class AccessRefused(AuditEvent):
    """A request to a review page or an admin route was refused: not signed in, wrong role, a
    failed sign-in, a missing or bad CSRF token. Names the route pattern, never a query."""

    event: Literal["access.refused"] = "access.refused"
    route: str
    reason: str  # not-authenticated, wrong-role, bad-credentials, csrf, ...
    user: str | None = None  # the account name, only when it exists


class LedgerVerified(AuditEvent):
    """The whole ledger was verified (``joinedup audit verify`` or the ledger status page): the
    result the IG review pages show as "last verified"."""

    event: Literal["ledger.verified"] = "ledger.verified"
    intact: bool
    entries: int  # entries verified
    tree_size: int  # the ledger's size when verification started
    first_bad_seq: int | None = None
    reason: str | None = None
    by: str  # "cli" or the account that asked for it


class ExchangeRefused(AuditEvent):
    """A partner's message was refused before anything of it was applied: it did not parse, its
    sender or kind is not covered, or it contradicts what the gateway holds (an acknowledgement of
    a referral it never carried, a reply to another organisation's meeting). Names elements and
    reasons, never values."""

    event: Literal["exchange.refused"] = "exchange.refused"
    route: str
    status: int
    error: str  # the error's class: InvalidMessage, Forbidden, NotFound, Conflict...
    kind: str | None = None  # the message kind, when it got as far as being parsed
    elements: tuple[str, ...] = ()  # where the problems are (paths), at most 20


class DirectoryLoaded(AuditEvent):
    """Ops loaded a directory file (organisations, teams, workers, roles): counts only."""

    event: Literal["directory.loaded"] = "directory.loaded"
    file_sha256: str
    organisations: tuple[str, ...]  # ODS and DfE LA codes whose entries were replaced
    entries: int
    by: str  # "cli" or the account that loaded it


class ReferralEscalated(AuditEvent):
    """A referral was not acknowledged by the deadline (in working hours): both organisations'
    safeguarding leads are told (each notice is its own ``disclosure.decided`` entry)."""

    event: Literal["referral.escalated"] = "referral.escalated"
    referral_id: str  # the gateway's id for the referral it carried
    referrer_organisation: str
    front_door_organisation: str
    sent_at: datetime
    deadline: datetime
    person_ids: tuple[str, ...] = ()


AnyAuditEvent = Annotated[
    ExchangeReceived
    | DisclosureDecided
    | NoRecipient
    | IndexUpdated
    | LookupDecided
    | DeliveryAttempted
    | DeliveryReplayed
    | ImportCompleted
    | OverrideReviewed
    | RecordViewed
    | AccessRefused
    | LedgerVerified
    | ExchangeRefused
    | DirectoryLoaded
    | ReferralEscalated,
    Field(discriminator="event"),
]
