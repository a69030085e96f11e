"""The exchange pipeline, legible in one place.

    parse → check sender → resolve → decide → minimise → render → commit → 202

``run_exchange`` is a plain loop over ``STAGES``, an explicit ordered tuple. Each stage reads and
fills one :class:`Exchange`. Nothing is written until ``commit``, which hands one unit of work
(index updates, the exchange record, outbox rows and an audit entry for every decision, permit or
refuse) to the group committer: all of it lands, or none of it does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table

from adapters.base import Adapter, ParseContext, Rendered
from gateway import index, workflows
from gateway.audit.events import (
    AuditEvent,
    DisclosureDecided,
    ExchangeReceived,
    IndexUpdated,
    NoRecipient,
    WithheldRef,
)
from gateway.errors import Forbidden, GatewayError
from gateway.ids import new_id
from gateway.policy.conditions import Conditions, apply_conditions
from gateway.policy.engine import Decision, Outcome, check_subscription, decide
from gateway.policy.minimise import minimise
from gateway.recipients import Candidate, recipient_context
from gateway.services import Services
from gateway.settings import PartnerSettings
from gateway.store.committer import UnitOfWork
from gateway.store.tables import exchanges, outbox
from gateway.workflows import family
from schemas.disclosure import Addressee, Disclosure
from schemas.facts import Consent, Person, RoleKind
from schemas.message import GATEWAY_MADE_KINDS, CanonicalMessage, MessageKind
from schemas.provenance import UNDECLARED_ORGANISATION


@dataclass
class Derived:
    """A message the gateway makes from what it holds (a think-family flag, an access
    notification...), decided, minimised and rendered like a partner's, in the same commit."""

    message: CanonicalMessage
    candidate: Candidate
    known: dict[str, str] = field(default_factory=dict)  # its fact ids -> indexed person ids


@dataclass
class Routed:
    """One candidate recipient and everything decided for it."""

    candidate: Candidate
    decision: Decision
    conditions: Conditions | None = None  # consent in force, override, what a refusal withholds
    disclosure: Disclosure | None = None
    rendered: Rendered | None = None
    outbox_id: str | None = None
    partner: str | None = None  # the configured partner speaking for the recipient, if any
    derived: Derived | None = None  # set when the disclosure is of a gateway-made message


@dataclass
class Exchange:
    """The state of one exchange as it moves through the stages."""

    partner: PartnerSettings
    adapter: Adapter
    body: bytes
    request_id: str
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    exchange_id: str = field(default_factory=new_id)
    message: CanonicalMessage | None = None
    known: dict[str, str] = field(default_factory=dict)  # fact id -> indexed person id
    candidates: list[Candidate] = field(default_factory=list)
    routed: list[Routed] = field(default_factory=list)
    no_recipient_reason: str | None = None
    teaches: bool = True  # whether the message changes the index (decided in resolve)
    snapshot: index.Snapshot | None = None  # what the index held about the message's people
    learnt: index.Learnt = field(default_factory=index.Learnt)
    ledger_seqs: list[int] = field(default_factory=list)
    summary: dict[str, object] = field(default_factory=dict)
    # Workflow additions (gateway/workflows): messages the gateway derives, rows the workflows
    # keep (written in the same unit, after the index learns), and their audit entries (built
    # after the writes, so they can name what was written).
    derived: list[Derived] = field(default_factory=list)
    writes: list[Callable[[Connection], None]] = field(default_factory=list)
    events: list[Callable[[], list[AuditEvent]]] = field(default_factory=list)

    @property
    def parsed(self) -> CanonicalMessage:
        if self.message is None:
            raise RuntimeError("stage ordering: the message has not been parsed")
        return self.message


Stage = Callable[[Exchange, Services], Awaitable[None]]


async def parse(ex: Exchange, services: Services) -> None:
    """Source adapter: bytes to a canonical message (InvalidMessage names every problem)."""
    ex.message = ex.adapter.parse(ex.body, ParseContext(ex.partner.id, ex.received_at))


async def check_sender(ex: Exchange, services: Services) -> None:
    """The message must come from an organisation the authenticated partner speaks for."""
    message = ex.parsed
    if message.provenance.organisation == UNDECLARED_ORGANISATION:
        # A message that names no sender is the authenticated partner's own, if it speaks for
        # one organisation; a partner speaking for several must say which.
        if len(ex.partner.organisations) != 1:
            raise Forbidden(
                "the message names no sender organisation, and this partner speaks for several"
            )
        provenance = message.provenance.model_copy(
            update={"organisation": ex.partner.organisations[0]}
        )
        ex.message = message.model_copy(update={"provenance": provenance})
        _check_kind_covered(ex, services)
        return
    # SECURITY: without this, a partner could send messages in another organisation's name.
    if message.provenance.organisation not in ex.partner.organisations:
        raise Forbidden("the message's sender organisation is not one this partner speaks for")
    _check_kind_covered(ex, services)


# Kinds that only teach the index who is who (the gateway never forwards them): any party to an
# agreement may send them, under that agreement's processing terms.
INDEX_ONLY_KINDS = frozenset(
    {
        MessageKind.RECORD_UPDATE,
        MessageKind.CHILD_RECORD,
        MessageKind.SECTION_47_STARTED,
        MessageKind.CIN_CENSUS_CHILD,
    }
)


def _check_kind_covered(ex: Exchange, services: Services) -> None:
    """A partner may send only the message kinds its agreements cover: a kind some flow from its
    organisation names, or a record update (which teaches the index and is never forwarded) from
    an organisation party to an agreement."""
    message = ex.parsed
    if message.kind in GATEWAY_MADE_KINDS:
        raise Forbidden(f"{message.kind.value} messages are made by the gateway, not sent to it")
    sender = message.provenance.organisation
    agreements = services.agreements
    named = any(
        flow.from_ == sender and message.kind in flow.message_kinds
        for agreement in agreements
        for flow in agreement.flows
    )
    party = any(p.code == sender for agreement in agreements for p in agreement.parties)
    # SECURITY: default deny at the door: nothing is learnt (the index included) from a message
    # no agreement covers.
    if not (named or (message.kind in INDEX_ONLY_KINDS and party)):
        raise Forbidden(
            f"no data-sharing agreement lets this organisation send {message.kind.value} messages"
        )


async def resolve(ex: Exchange, services: Services) -> None:
    """Match the message's people in the index and find who could receive it (one hand-off)."""
    await services.reader.run(lambda conn: _resolve(ex, conn, services))


def _resolve(ex: Exchange, conn: Connection, services: Services) -> None:
    message = ex.parsed
    snapshot = ex.snapshot = index.read_snapshot(conn, message)
    for person in message.facts:
        if isinstance(person, Person):
            keys = index.person_keys(person)
            match = next((snapshot.by_key[k] for k in keys if k in snapshot.by_key), None)
            if match is not None:
                ex.known[person.id] = match
    # Most messages repeat what the index already holds: plan the changes now, and give the
    # writer nothing to do when there are none (it re-plans under its lock when there are).
    ex.teaches = not index.plan_learning(message, ex.partner, snapshot, ex.received_at.date()).empty
    if message.kind is MessageKind.CRISIS_EVENT:
        _resolve_children(ex, snapshot)
    else:
        resolver = workflows.RESOLVERS.get(message.kind)
        if resolver is None:
            ex.no_recipient_reason = f"{message.kind.value} messages update the index only"
        else:
            resolver(ex, conn, services)
    for watcher in workflows.WATCHERS:
        watcher(ex, conn, services)


def _resolve_children(ex: Exchange, snapshot: index.Snapshot) -> None:
    subject = ex.parsed.subject
    children = family.relatives(ex, snapshot, of=subject, want="children")
    ex.candidates.extend(
        family.candidates_in_role(snapshot, children, RoleKind.ALLOCATED_SOCIAL_WORKER)
    )
    if not ex.candidates:
        ex.no_recipient_reason = (
            "no child of this person is known to have an allocated social worker"
            if children
            else "no child of this person is known to the index"
        )


async def decide_all(ex: Exchange, services: Services) -> None:
    """Ask the policy engine about every candidate (default deny), then apply its conditions."""
    message = ex.parsed
    subject = message.fact(message.subject) if message.subject else None
    # Directives on record, then those arriving in this very message: a withdrawal counts from
    # the moment it arrives.
    on_record = ex.snapshot.consents_of(ex.known.get(message.subject or "")) if ex.snapshot else []
    arriving = [f for f in message.facts if isinstance(f, Consent) and f.subject == message.subject]
    for candidate in ex.candidates:
        connected = services.settings.partner_for_organisation(candidate.organisation)
        partner_id = connected.id if connected else None
        if message.purpose is None:
            # A disclosure is justified by its purpose (Caldicott 1): a message that names none
            # is refused for every recipient, and the refusal is recorded.
            refusal = Decision(
                Outcome.REFUSE,
                "purpose-missing",
                "The message names no purpose of use; nothing is disclosed without one.",
            )
            ex.routed.append(Routed(candidate, refusal, partner=partner_id))
            continue
        decision = decide(
            services.agreements,
            sender=message.provenance.organisation,
            recipient=candidate.organisation,
            kind=message.kind,
            purpose=message.purpose,
        )
        # The recipient's subscription under the flow (if it has one) narrows the permit.
        decision = check_subscription(decision, message.kind, message.facts)
        conditions = apply_conditions(
            decision,
            request=message.request,
            consents=[*on_record, *arriving],
            subject_is_child=_is_child(subject, ex.received_at),
            at=ex.received_at,
            s16la=services.settings.s16la_duty,
        )
        ex.routed.append(Routed(candidate, conditions.decision, conditions, partner=partner_id))
    for derived in ex.derived:
        ex.routed.append(_decide_derived(ex, derived, services))


def _decide_derived(ex: Exchange, derived: Derived, services: Services) -> Routed:
    """A gateway-made message is decided like a partner's: under the agreements, for its own
    sender organisation, kind and purpose, honouring the consents on record for its subject."""
    message, candidate = derived.message, derived.candidate
    connected = services.settings.partner_for_organisation(candidate.organisation)
    subject = message.fact(message.subject) if message.subject else None
    if message.purpose is None:
        raise RuntimeError("a gateway-made message always names its purpose")
    decision = decide(
        services.agreements,
        sender=message.provenance.organisation,
        recipient=candidate.organisation,
        kind=message.kind,
        purpose=message.purpose,
    )
    decision = check_subscription(decision, message.kind, message.facts)
    person_id = derived.known.get(message.subject or "")
    on_record = ex.snapshot.consents_of(person_id) if ex.snapshot else []
    # Directives arriving in the partner's message about the same person count at once.
    arriving = [
        f
        for f in ex.parsed.facts
        if isinstance(f, Consent) and person_id and ex.known.get(f.subject) == person_id
    ]
    conditions = apply_conditions(
        decision,
        request=None,
        consents=[*on_record, *arriving],
        subject_is_child=_is_child(subject, ex.received_at),
        at=ex.received_at,
        s16la=services.settings.s16la_duty,
    )
    return Routed(
        candidate,
        conditions.decision,
        conditions,
        partner=connected.id if connected else None,
        derived=derived,
    )


def _is_child(subject: object, at: datetime) -> bool | None:
    if not isinstance(subject, Person) or subject.birth_date is None:
        return None
    born = subject.birth_date
    eighteenth = (
        born.replace(year=born.year + 18)
        if (born.month, born.day) != (2, 29)
        else (born.replace(year=born.year + 18, day=28))
    )
    return at.date() < eighteenth


async def minimise_all(ex: Exchange, services: Services) -> None:
    """Keep only what each permitted flow allows; build the disclosure with its manifest."""
    for routed in ex.routed:
        message = routed.derived.message if routed.derived else ex.parsed
        known = routed.derived.known if routed.derived else ex.known
        decision = routed.decision
        if not decision.permitted or decision.flow is None or decision.agreement is None:
            continue
        partner = services.settings.partner_for_organisation(routed.candidate.organisation)
        if partner is None:
            routed.decision = replace(
                decision,
                outcome=Outcome.REFUSE,
                reason_code="recipient-not-connected",
                explanation=f"Organisation {routed.candidate.organisation} has no partner system "
                "configured to receive it.",
            )
            continue
        withhold = routed.conditions.withhold_classes if routed.conditions else frozenset()
        kept = minimise(message.facts, decision.flow, withhold_classes=withhold)
        context = recipient_context(routed.candidate, kept.facts, known, partner)
        if decision.purpose is None or decision.lawful_basis is None:
            raise RuntimeError("a permit always names its purpose and lawful basis")
        routed.disclosure = Disclosure(
            disclosure_id=new_id(),
            exchange_id=ex.exchange_id,
            kind=message.kind,
            sender_partner=_sender_partner(ex, routed, services),
            sender_organisation=message.provenance.organisation,
            recipient=Addressee(
                partner=partner.id,
                organisation=routed.candidate.organisation,
                worker_role=context.addressee_id,
            ),
            agreement_id=decision.agreement.id,
            agreement_version=decision.agreement.version,
            flow_id=decision.flow.id,
            purpose=decision.purpose,
            lawful_basis=decision.lawful_basis,
            subject=message.subject,
            about=context.about,
            facts=context.facts,
            disclosed=kept.disclosed,
            withheld=kept.withheld,
            obligations=decision.flow.obligations,
            created_at=ex.received_at,
        )


def _sender_partner(ex: Exchange, routed: Routed, services: Services) -> str:
    """The partner whose information a disclosure is: the exchange's sender, or for a
    gateway-made message the partner speaking for the organisation whose record it is from."""
    if routed.derived is None:
        return ex.partner.id
    owner = services.settings.partner_for_organisation(
        routed.derived.message.provenance.organisation
    )
    return owner.id if owner is not None else ex.partner.id


async def render_all(ex: Exchange, services: Services) -> None:
    """Recipient adapter: each disclosure into the recipient's own format."""
    for routed in ex.routed:
        if routed.disclosure is None:
            continue
        partner = services.settings.partner(routed.disclosure.recipient.partner)
        if partner is None:
            raise RuntimeError("minimise_all only addresses configured partners")
        try:
            routed.rendered = services.adapters[partner.format].render(routed.disclosure)
        except GatewayError as exc:
            # One recipient's format failing must not lose the exchange for the others: this
            # recipient is refused, with the adapter's reason (which names rules, not content).
            routed.disclosure = None
            routed.decision = replace(
                routed.decision,
                outcome=Outcome.REFUSE,
                reason_code="render-failed",
                explanation=f"The recipient's format ({partner.format}) cannot carry this "
                f"disclosure: {exc.detail}",
            )
            continue
        routed.outbox_id = new_id()


async def commit(ex: Exchange, services: Services) -> None:
    """One atomic commit: index updates, exchange record, outbox rows and every audit entry."""
    ex.summary = _summary(ex)
    writes = [_learn(ex)] if ex.teaches else []
    writes.extend(ex.writes)
    unit = UnitOfWork(events=lambda: _events(ex), writes=writes, rows=_rows(ex, services))
    ex.ledger_seqs = await services.committer.submit(unit)
    ex.summary["ledger_entries"] = len(ex.ledger_seqs)


STAGES: tuple[Stage, ...] = (
    parse,
    check_sender,
    resolve,
    decide_all,
    minimise_all,
    render_all,
    commit,
)


async def run_exchange(
    ex: Exchange, services: Services, stages: tuple[Stage, ...] = STAGES
) -> dict[str, object]:
    """Run every stage in order; return the 202 summary."""
    for stage in stages:
        await stage(ex, services)
    return ex.summary


# --- commit helpers ---------------------------------------------------------------------------


def _learn(ex: Exchange) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        # A fresh record each attempt: a batch that failed and is retried alone must not carry
        # person ids from the rolled-back attempt into its audit entries.
        ex.learnt = index.Learnt()
        index.learn(conn, ex.parsed, ex.partner, ex.learnt)

    return write


def _rows(ex: Exchange, services: Services) -> list[tuple[Table, dict[str, Any]]]:
    rows: list[tuple[Table, dict[str, Any]]] = [
        (
            exchanges,
            {
                "id": ex.exchange_id,
                "request_id": ex.request_id,
                "partner": ex.partner.id,
                "kind": ex.parsed.kind.value,
                "received_at": ex.received_at,
                "summary": orjson.dumps(ex.summary).decode(),
            },
        )
    ]
    keyring = services.settings.sealing.keyring
    for r in ex.routed:
        if r.disclosure is None or r.rendered is None or r.outbox_id is None:
            continue
        partner = r.disclosure.recipient.partner
        # SECURITY: the body is stored sealed (AES-256-GCM, bound to this row and recipient);
        # only the delivery worker opens it, and it is purged once delivered.
        sealed, key_id = keyring.seal(r.rendered.body, outbox_id=r.outbox_id, partner=partner)
        rows.append(
            (
                outbox,
                {
                    "id": r.outbox_id,
                    "exchange_id": ex.exchange_id,
                    "disclosure_id": r.disclosure.disclosure_id,
                    "partner": partner,
                    "request_id": ex.request_id,
                    "content_type": r.rendered.content_type,
                    "body": sealed,
                    "body_key_id": key_id,
                    "body_sha256": _sha256(r.rendered.body),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": ex.received_at,
                    "lease_until": None,
                    "last_error": None,
                    "created_at": ex.received_at,
                    "delivered_at": None,
                    # Deliveries to one recipient about one person go in the order received:
                    # keyed by the person the disclosure is about (the index's surrogate id of
                    # the child the recipient holds the record of, always indexed already).
                    "ordering_key": f"{partner}:{r.candidate.child_person_id}"
                    if r.candidate.child_person_id
                    else None,
                },
            )
        )
    return rows


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _person_ids(ex: Exchange, *extra: str) -> tuple[str, ...]:
    subject = ex.parsed.subject
    ids = set(extra)
    if subject is not None:
        ids.add(ex.learnt.person_ids.get(subject) or ex.known.get(subject) or "")
    return tuple(sorted(i for i in ids if i))


def _events(ex: Exchange) -> list[AuditEvent]:
    message = ex.parsed
    common: dict[str, Any] = {
        "at": ex.received_at,
        "request_id": ex.request_id,
        "exchange_id": ex.exchange_id,
        "partner": ex.partner.id,
    }
    events: list[AuditEvent] = [
        ExchangeReceived(
            **common,
            kind=message.kind.value,
            sender_organisation=message.provenance.organisation,
            source_message_id_sha256=_sha256(message.message_id.encode()),
            body_sha256=_sha256(ex.body),
            person_ids=_person_ids(ex),
            unmapped=tuple(u.element for u in message.unmapped),
        )
    ]
    learnt = ex.learnt
    if learnt.changed:
        events.append(
            IndexUpdated(
                **common,
                persons=learnt.persons,
                identifiers=learnt.identifiers,
                family_links=learnt.family_links,
                worker_roles=learnt.worker_roles,
                episodes=learnt.episodes,
                consents=learnt.consents,
            )
        )
    for routed in ex.routed:
        events.append(_decision_event(ex, routed, common))
    for build in ex.events:
        events.extend(build())
    if not any(r.derived is None for r in ex.routed):
        events.append(
            NoRecipient(
                **common,
                kind=message.kind.value,
                reason=ex.no_recipient_reason or "no recipient",
                person_ids=_person_ids(ex),
            )
        )
    return events


def _decision_event(ex: Exchange, routed: Routed, common: dict[str, Any]) -> DisclosureDecided:
    decision, disclosure, conditions = routed.decision, routed.disclosure, routed.conditions
    request = ex.parsed.request if routed.derived is None else None
    override = (
        request.override if request and conditions and conditions.decision.permitted else None
    )
    partner = disclosure.recipient.partner if disclosure else routed.partner
    return DisclosureDecided(
        **common,
        outcome="permit" if disclosure is not None else "refuse",
        reason_code=str(decision.reason_code),
        explanation=decision.explanation,
        kind=(routed.derived.message if routed.derived else ex.parsed).kind.value,
        recipient_partner=partner,
        recipient_organisation=routed.candidate.organisation,
        agreement_id=decision.agreement.id if decision.agreement else None,
        agreement_version=decision.agreement.version if decision.agreement else None,
        flow_id=decision.flow.id if decision.flow else None,
        purpose=decision.purpose.value if decision.purpose else None,
        lawful_basis=decision.lawful_basis.code if decision.lawful_basis else None,
        disclosure_id=disclosure.disclosure_id if disclosure else None,
        disclosed=disclosure.disclosed if disclosure else (),
        withheld=tuple(
            WithheldRef(element=w.element, reason_code=w.reason_code.value)
            for w in (disclosure.withheld if disclosure else ())
        ),
        losses=tuple(loss.element for loss in routed.rendered.losses) if routed.rendered else (),
        body_sha256=_sha256(routed.rendered.body) if routed.rendered else None,
        consent_ref=conditions.consent.id if conditions and conditions.consent else None,
        override_reason=override.reason_code.value if override else None,
        override_approver=override.approver if override else None,
        flagged_for_review=bool(conditions and conditions.flagged_for_review),
        s16la_judgement=conditions.s16la_judgement if conditions else None,
        person_ids=_person_ids(ex, _candidate_person(ex, routed.candidate)),
    )


def _candidate_person(ex: Exchange, candidate: Candidate) -> str:
    """The index id of the person a recipient holds the record of: known at resolve, or (for a
    person the message itself added) learnt in this commit."""
    if candidate.child_person_id or candidate.child_fact_id is None:
        return candidate.child_person_id
    return ex.learnt.person_ids.get(candidate.child_fact_id, "")


def _summary(ex: Exchange) -> dict[str, object]:
    """The 202 body: ids and outcomes per recipient; withheld elements by class, no content."""
    recipients = []
    for routed in ex.routed:
        if routed.derived is not None:
            # SECURITY: what the gateway derived for others (a think-family flag, say) is not
            # the sender's business: it is in the ledger, not in the sender's 202.
            continue
        entry: dict[str, object] = {
            "organisation": routed.candidate.organisation,
            "outcome": "permit" if routed.disclosure is not None else "refuse",
            "reason_code": str(routed.decision.reason_code),
        }
        if routed.disclosure is not None:
            entry["disclosure_id"] = routed.disclosure.disclosure_id
            entry["agreement"] = {
                "id": routed.disclosure.agreement_id,
                "version": routed.disclosure.agreement_version,
                "flow": routed.disclosure.flow_id,
            }
            entry["withheld"] = [
                {"element": w.element, "reason_code": w.reason_code.value}
                for w in routed.disclosure.withheld
            ]
        recipients.append(entry)
    summary: dict[str, object] = {
        "exchange_id": ex.exchange_id,
        "request_id": ex.request_id,
        "kind": ex.parsed.kind.value,
        "received_at": ex.received_at.isoformat(),
        "recipients": recipients,
    }
    if not recipients:
        summary["no_recipient"] = ex.no_recipient_reason
    return summary
