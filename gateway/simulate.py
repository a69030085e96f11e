"""Policy tools: ``joinedup policy simulate`` and ``joinedup policy dry-run``.

``simulate`` shows what a recipient would receive, without sharing anything.

Runs the real pipeline stages on a file (parse → check sender → resolve against the configured
index → decide → minimise → render) for one sending and one receiving partner, and stops before
commit: nothing is written, delivered or recorded (the group committer is never started, so a
commit could not happen by mistake). It answers the practitioner's question "what am I allowed
to share, and what exactly would they see?" before anyone shares.

``dry_run`` answers the IG officer's question "what would change if this agreement changed?":
every decision recorded in the ledger is decided again under the proposed agreements.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import select

from adapters.registry import default_adapters
from gateway.errors import InvalidInput
from gateway.pipeline import (
    Exchange,
    Routed,
    check_sender,
    decide_all,
    minimise_all,
    parse,
    render_all,
    resolve,
)
from gateway.policy.agreements import load_agreements
from gateway.policy.engine import Decision, Outcome, decide
from gateway.services import Services
from gateway.settings import PartnerSettings, Settings
from gateway.store.committer import GroupCommitter
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.reader import Reader
from gateway.store.tables import ledger
from schemas.labels import Purpose
from schemas.message import MessageKind


@dataclass(frozen=True, slots=True)
class Simulation:
    """The decision for the recipient, and the exact bytes it would receive (if permitted)."""

    decision: Decision
    body: bytes | None
    content_type: str | None
    note: str | None = None  # why nothing would be rendered although the flow permits it

    @property
    def permitted(self) -> bool:
        return self.decision.outcome is Outcome.PERMIT and self.body is not None


def _partner(settings: Settings, partner_id: str) -> PartnerSettings:
    partner = settings.partner(partner_id)
    if partner is None:
        raise InvalidInput(f"no partner {partner_id!r} is configured")
    return partner


async def simulate(
    body: bytes,
    *,
    sender: str,
    recipient: str,
    purpose: Purpose | None,
    settings: Settings,
) -> Simulation:
    """Decide and render for ``recipient`` what ``sender``'s message would disclose."""
    source, target = _partner(settings, sender), _partner(settings, recipient)
    adapters = default_adapters(validate_fhir_models=settings.validate_fhir_models)
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    writer = create_sync_engine_for(settings.database_url, schema=settings.database_schema)
    reader = Reader(
        create_sync_engine_for(settings.database_url, schema=settings.database_schema), 1
    )
    services = Services(
        settings,
        engine,
        GroupCommitter(writer),  # never started: a simulation cannot commit
        reader,
        load_agreements(settings.agreements_dir),
        adapters,
    )
    try:
        ex = Exchange(
            partner=source,
            adapter=adapters[source.format],
            body=body,
            request_id=str(uuid.uuid4()),
        )
        await parse(ex, services)
        if purpose is not None:
            ex.message = ex.parsed.model_copy(update={"purpose": purpose})
        await check_sender(ex, services)
        await resolve(ex, services)
        ex.candidates = [c for c in ex.candidates if c.organisation in target.organisations]
        await decide_all(ex, services)
        await minimise_all(ex, services)
        await render_all(ex, services)
        return _outcome(ex, services, target)
    finally:
        reader.close()
        writer.dispose()
        await engine.dispose()


def _outcome(ex: Exchange, services: Services, target: PartnerSettings) -> Simulation:
    routed: Routed | None = next(iter(ex.routed), None)
    if routed is not None:
        rendered = routed.rendered
        return Simulation(
            routed.decision,
            rendered.body if rendered else None,
            rendered.content_type if rendered else None,
        )
    # Nobody in the index to address at the recipient: decide all the same, and say so.
    message = ex.parsed
    decision = decide(
        services.agreements,
        sender=message.provenance.organisation,
        recipient=target.organisations[0],
        kind=message.kind,
        purpose=message.purpose,
    )
    note = ex.no_recipient_reason or "the recipient holds no one this message could be addressed to"
    return Simulation(decision, None, None, note=note)


@dataclass(frozen=True, slots=True)
class Change:
    """How one recorded decision would come out under other agreements."""

    exchange_id: str
    recipient: str
    kind: str
    before: str  # "permit via <agreement> v<n> <flow>" or "refuse (<reason>)"
    after: str
    newly_withheld: tuple[str, ...] = ()  # disclosed then, outside the new flow's elements


def _describe(
    outcome: str, reason: str, agreement: str | None, version: int | None, flow: str | None
) -> str:
    if outcome == "permit":
        return f"permit via {agreement} v{version} {flow}"
    return f"refuse ({reason})"


async def dry_run(settings: Settings, agreements_dir: Path) -> tuple[int, list[Change]]:
    """Re-decide every recorded disclosure decision under the agreements in ``agreements_dir``.

    Returns how many decisions were examined and those that would change. Only metadata the
    ledger holds is used (sender, recipient, kind, purpose, disclosed element paths): the gateway
    keeps no message content, so a change in what would be disclosed is reported as the recorded
    elements the new flow would no longer share.
    """
    agreements = load_agreements(agreements_dir)
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(ledger.c.entry).order_by(ledger.c.seq))
            entries = [orjson.loads(row[0]) for row in rows]
    finally:
        await engine.dispose()
    senders = {
        e["exchange_id"]: e["sender_organisation"]
        for e in entries
        if e.get("event") == "exchange.received"
    }
    decided = [e for e in entries if e.get("event") == "disclosure.decided"]
    changes = []
    for entry in decided:
        sender = senders.get(entry["exchange_id"])
        if sender is None:
            continue
        new = decide(
            agreements,
            sender=sender,
            recipient=entry["recipient_organisation"],
            kind=MessageKind(entry["kind"]),
            purpose=Purpose(entry["purpose"]) if entry.get("purpose") else None,
        )
        before = _describe(
            entry["outcome"],
            entry["reason_code"],
            entry.get("agreement_id"),
            entry.get("agreement_version"),
            entry.get("flow_id"),
        )
        after = _describe(
            new.outcome.value,
            str(new.reason_code),
            new.agreement.id if new.agreement else None,
            new.agreement.version if new.agreement else None,
            new.flow.id if new.flow else None,
        )
        withheld: tuple[str, ...] = ()
        if new.flow is not None and entry["outcome"] == "permit":
            allowed = new.flow.allowed_elements
            withheld = tuple(
                p
                for p in entry.get("disclosed", ())
                if p not in allowed and f"{p.split('.', 1)[0]}.*" not in allowed
            )
        if before != after or withheld:
            changes.append(
                Change(
                    entry["exchange_id"],
                    entry["recipient_organisation"],
                    entry["kind"],
                    before,
                    after,
                    withheld,
                )
            )
    return len(decided), changes
