"""Escalation: a referral not acknowledged in time is brought to both safeguarding leads.

A referral the gateway carried to a council's front door must be acknowledged (``received``, or
any later status) within ``workflows.referral_ack_working_hours`` *working* hours of reaching the
gateway (``gateway.workcal``: office hours, weekends and bank holidays do not count). When the
deadline passes without one, ``escalate_overdue`` makes a ``referral-escalation`` notice, once per
referral, for:

- the council's safeguarding lead for children (at the front door's council), from the referrer's
  organisation: the referral's reference and referrer, that it was sent and not acknowledged;
- the referrer organisation's safeguarding leads (adults, and children where the directory has
  one), from the council: the same.

Leads come from the directory (``gateway.directory``); where it names none, the organisation
itself is addressed in the lead's role. Each notice is decided, minimised, rendered and committed
by the pipeline's own stages under the agreements (``demo-referral-escalation.yaml`` in the demo),
with a ``referral.escalated`` entry and the referral marked escalated in the same unit. The notice
carries no concerns: its one free text is the gateway's own line saying which referral was sent
when, and that no acknowledgement came by the deadline (a ``Risk`` of category
``referral-not-acknowledged``, whose period starts when the referral was sent).

The app runs ``escalate_overdue`` every ``workflows.escalation_interval`` seconds
(``escalation_ctx``); ``joinedup workflows escalate [--now ISO]`` runs it once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy import Connection, Row, select, update

from adapters.registry import default_adapters
from gateway import index
from gateway.appkeys import DELIVERY, SERVICES
from gateway.audit.events import AuditEvent, ReferralEscalated
from gateway.errors import Conflict, GatewayError
from gateway.index import IndexedRole, identifier_from_key
from gateway.pipeline import Derived, Exchange, commit, decide_all, minimise_all, render_all
from gateway.policy.agreements import load_agreements
from gateway.recipients import Candidate
from gateway.services import Services
from gateway.settings import PartnerSettings, Settings, load_settings
from gateway.store.committer import GroupCommitter
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.reader import Reader
from gateway.store.tables import referrals
from gateway.workflows.referrals import directory_roles
from schemas.facts import (
    Fact,
    Period,
    Person,
    Referral,
    ReferralStatus,
    Risk,
    RoleKind,
)
from schemas.identifiers import LaChildId, PersonIdentifier
from schemas.labels import Purpose
from schemas.message import CanonicalMessage, MessageKind
from schemas.provenance import Provenance

log = structlog.get_logger(__name__)

CATEGORY = "referral-not-acknowledged"
TRUST_LEADS = (RoleKind.SAFEGUARDING_LEAD_ADULTS, RoleKind.SAFEGUARDING_LEAD_CHILDREN)
COUNCIL_LEADS = (RoleKind.SAFEGUARDING_LEAD_CHILDREN,)


def _overdue_query(now: datetime) -> Any:
    return (
        select(referrals)
        .where(
            referrals.c.escalated_at.is_(None),
            referrals.c.acknowledged_at.is_(None),
            referrals.c.ack_deadline <= now,
        )
        .order_by(referrals.c.ack_deadline, referrals.c.id)
    )


async def escalate_overdue(services: Services, now: datetime) -> int:
    """Escalate every referral whose acknowledgement deadline has passed by ``now``; return how
    many were escalated (each once: a referral acknowledged or escalated meanwhile is left)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    async with services.engine.connect() as conn:
        rows = (await conn.execute(_overdue_query(now))).all()
    escalated = 0
    for row in rows:
        try:
            await _escalate(services, row, now)
        except Conflict:
            log.info("referral_escalation_skipped", referral_id=row.id)
            continue
        escalated += 1
        log.info("referral_escalated", referral_id=row.id)
    return escalated


def _referrer_partner(services: Services, row: Row[Any]) -> PartnerSettings:
    configured = services.settings.partner(str(row.referrer_partner))
    if configured is not None:
        return configured
    found = services.settings.partner_for_organisation(str(row.referrer_organisation))
    if found is not None:
        return found
    # The referrer's partner is no longer configured: the notices still go where they can.
    return PartnerSettings(
        id=str(row.referrer_partner),
        name="(no longer configured)",
        organisations=(str(row.referrer_organisation),),
        format="fhir-r4",
    )


def _national(keys: list[str], la_code: str | None) -> tuple[PersonIdentifier, ...]:
    """NHS numbers and UPNs (national), and an LA child id only for its own council."""
    found: list[PersonIdentifier] = []
    for key in keys:
        identifier = identifier_from_key(key)
        if isinstance(identifier, LaChildId) and identifier.la_code != la_code:
            continue
        found.append(identifier)
    return tuple(found)


def _facts(
    row: Row[Any], keys: dict[str, list[str]], la_code: str | None, deadline_text: str
) -> tuple[tuple[Fact, ...], dict[str, str]]:
    """The notice's facts (for one recipient side) and which fact is which indexed person."""
    subject_id = str(row.subject_person_id or row.child_person_id or "")
    child_id = str(row.child_person_id or "")
    known = {"subject": subject_id} if subject_id else {}
    facts: list[Fact] = [
        Person(id="subject", identifiers=_national(keys.get(subject_id, []), la_code))
    ]
    household: tuple[str, ...] = ()
    if child_id and child_id != subject_id:
        facts.append(Person(id="child", identifiers=_national(keys.get(child_id, []), la_code)))
        known["child"] = child_id
        household = ("child",)
    stored = IndexedRole("", "", "", "", row.status_at, str(row.referrer_role))
    role = stored.role_fact
    facts.extend(stored.facts)
    facts.append(
        Risk(
            id="escalation",
            subject="child" if household else "subject",
            summary=deadline_text,
            category=CATEGORY,
            period=Period(start=row.sent_at),
        )
    )
    facts.append(
        Referral(
            id="referral",
            subject="subject",
            household=household,
            concerns="",  # SECURITY: an escalation never carries the referral's concerns
            risks=("escalation",),
            referrer=role.id,
            status=ReferralStatus(row.status),
            reference=str(row.reference),
        )
    )
    return tuple(facts), known


def _message(
    row: Row[Any], sender: str, facts: tuple[Fact, ...], at: datetime, partner: str
) -> CanonicalMessage:
    message_id = f"referral-escalation-{row.id}"
    return CanonicalMessage(
        message_id=message_id,
        kind=MessageKind.REFERRAL_ESCALATION,
        subject="subject",
        facts=facts,
        provenance=Provenance(
            organisation=sender,
            system=partner,
            source_format="gateway",
            source_message_id=message_id,
            received_at=at,
        ),
        purpose=Purpose.REFERRAL,
        sent_at=at,
    )


def _summary_line(row: Row[Any], hours: float) -> str:
    sent = row.sent_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    deadline = row.ack_deadline.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Referral {row.reference} was sent to the council's front door on {sent} and no "
        f"acknowledgement had come by its deadline, {deadline} ({hours:g} working hours). "
        "Please check it has been received and is being acted on."
    )


def _read(
    conn: Connection, row: Row[Any], at: datetime
) -> tuple[dict[str, list[str]], list[IndexedRole], list[IndexedRole], index.Snapshot]:
    people = [str(p) for p in (row.subject_person_id, row.child_person_id) if p]
    keys = index.identifiers_of(conn, people) if people else {}
    council = directory_roles(conn, str(row.front_door_organisation), COUNCIL_LEADS, at)
    trust = directory_roles(conn, str(row.referrer_organisation), TRUST_LEADS, at)
    probe = CanonicalMessage(
        message_id="probe",
        kind=MessageKind.REFERRAL_ESCALATION,
        subject="p0",
        facts=tuple(
            Person(id=f"p{i}", identifiers=tuple(identifier_from_key(k) for k in keys[p]))
            for i, p in enumerate(people)
        )
        or (Person(id="p0"),),
        provenance=Provenance(
            organisation=str(row.referrer_organisation),
            system="gateway",
            source_format="gateway",
            source_message_id="probe",
            received_at=at,
        ),
    )
    return keys, council, trust, index.read_snapshot(conn, probe)


async def _escalate(services: Services, row: Row[Any], now: datetime) -> None:
    settings = services.settings
    referrer_org, council_org = str(row.referrer_organisation), str(row.front_door_organisation)
    keys, council_leads, trust_leads, snapshot = await services.reader.run(
        lambda conn: _read(conn, row, now)
    )
    line = _summary_line(row, settings.workflows.referral_ack_working_hours)
    partner = _referrer_partner(services, row)
    child_id = str(row.child_person_id or "")

    # To the council's lead: the referrer's referral, from the referrer's organisation.
    to_council, known = _facts(row, keys, council_org, line)
    message = _message(row, referrer_org, to_council, now, partner.id)
    adapter = services.adapters.get(partner.format) or next(iter(services.adapters.values()))
    ex = Exchange(
        partner=partner,
        adapter=adapter,
        body=message.model_dump_json().encode(),
        request_id=str(uuid.uuid4()),
        received_at=now,
        message=message,
        known=dict(known),
        snapshot=snapshot,
        teaches=False,
    )
    for lead in council_leads:
        ex.candidates.append(Candidate(council_org, child_id, tuple(keys.get(child_id, [])), lead))
    # To the referrer's own leads: that the council has not acknowledged it, from the council.
    to_trust, trust_known = _facts(row, keys, None, line)
    council_partner = settings.partner_for_organisation(council_org)
    trust_message = _message(
        row, council_org, to_trust, now, council_partner.id if council_partner else "gateway"
    )
    for lead in trust_leads:
        ex.derived.append(
            Derived(
                trust_message,
                Candidate(referrer_org, child_id, tuple(keys.get(child_id, [])), lead),
                dict(trust_known),
            )
        )
    for stage in (decide_all, minimise_all, render_all):
        await stage(ex, services)
    ex.writes.append(_mark_escalated(str(row.id), now))
    ex.events.append(_event(ex, row, now))
    await commit(ex, services)


def _mark_escalated(referral_id: str, at: datetime) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        current = conn.execute(
            select(referrals.c.acknowledged_at, referrals.c.escalated_at).where(
                referrals.c.id == referral_id
            )
        ).one()
        # Acknowledged or escalated (by another process) since it was found overdue: nothing of
        # this escalation is applied.
        if current.acknowledged_at is not None or current.escalated_at is not None:
            raise Conflict("the referral was acknowledged or escalated meanwhile")
        conn.execute(update(referrals).where(referrals.c.id == referral_id).values(escalated_at=at))

    return write


def _event(ex: Exchange, row: Row[Any], at: datetime) -> Callable[[], list[AuditEvent]]:
    people = tuple(sorted({str(p) for p in (row.subject_person_id, row.child_person_id) if p}))

    def build() -> list[AuditEvent]:
        return [
            ReferralEscalated(
                at=at,
                request_id=ex.request_id,
                exchange_id=ex.exchange_id,
                partner=ex.partner.id,
                referral_id=str(row.id),
                referrer_organisation=str(row.referrer_organisation),
                front_door_organisation=str(row.front_door_organisation),
                sent_at=row.sent_at,
                deadline=row.ack_deadline,
                person_ids=people,
            )
        ]

    return build


async def escalation_ctx(app: web.Application) -> AsyncIterator[None]:
    """The escalation timer: every ``workflows.escalation_interval`` seconds (0: off, for a
    deployment that runs ``joinedup workflows escalate`` from cron instead)."""
    services = app[SERVICES]
    interval = services.settings.workflows.escalation_interval
    if interval <= 0:
        yield
        return

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                if await escalate_overdue(services, services.clock()):
                    app[DELIVERY].wake()
            except GatewayError as exc:  # the ledger was unavailable: try again next time
                log.warning("referral_escalation_failed", error=type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - the timer must outlive one bad round
                log.error("referral_escalation_failed", error=type(exc).__name__)

    task = asyncio.create_task(loop(), name="referral-escalation")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- joinedup workflows escalate ---------------------------------------------------------------


async def _run_once(settings: Settings, now: datetime | None) -> int:
    """Escalate once against the configured database (migrated), outside the server."""
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    writer = create_sync_engine_for(settings.database_url, schema=settings.database_schema)
    reader = Reader(
        create_sync_engine_for(settings.database_url, schema=settings.database_schema), 1
    )
    committer = GroupCommitter(writer, max_batch=settings.commit_max_batch)
    await committer.start()
    try:
        services = Services(
            settings,
            engine,
            committer,
            reader,
            load_agreements(settings.agreements_dir),
            default_adapters(validate_fhir_models=settings.validate_fhir_models),
        )
        return await escalate_overdue(services, now or services.clock())
    finally:
        await committer.stop()
        reader.close()
        writer.dispose()
        await engine.dispose()


def _escalate_command(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    now = None
    if args.now is not None:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            now = None
        if now is None or now.tzinfo is None:
            print(
                "error: --now is an ISO 8601 time with a UTC offset "
                "(e.g. 2026-03-16T16:00:00+00:00)",
                file=sys.stderr,
            )
            return 2
    try:
        count = asyncio.run(_run_once(settings, now))
    except GatewayError as exc:  # the ledger could not be written: nothing of it was committed
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    print(f"{count} referral(s) escalated")
    return 0


def register(commands: Any) -> None:
    """Add ``joinedup workflows escalate`` to the top-level subcommands."""
    workflows = commands.add_parser("workflows", help="safeguarding workflow tasks").add_subparsers(
        dest="workflows", required=True
    )
    escalate = workflows.add_parser(
        "escalate",
        help="tell both safeguarding leads about every referral not acknowledged by its "
        "deadline (once each); the server does this every workflows.escalation_interval seconds",
    )
    escalate.add_argument(
        "--now", help="the time to check deadlines against (ISO 8601 with offset; default: now)"
    )
    escalate.add_argument("--config", type=Path, help="YAML settings file")
    escalate.set_defaults(run=_escalate_command)
