"""The directory kept current from partner messages.

A partner's message may name a worker in an *organisational* role: a WorkerRole with no
``subject`` (it is nobody's allocated worker) whose role is one the directory holds (front door,
safeguarding lead, link worker, team manager, out-of-hours, CP chair, AMHP). A FHIR
PractitionerRole coded ``safeguarding-lead-adults`` in a record update is one. The watcher adds or
updates that entry (keyed as a file's entry is: the worker's local id, else the team, else the
role), or removes it when the role's period has ended, through ``Exchange.writes``: it lands in
the exchange's own commit, with a ``directory.loaded`` ledger entry (``by: partner-message``,
``file_sha256`` = the message body's SHA-256, as ``exchange.received`` has it) naming the
organisation and how many entries changed.

SECURITY: only for an organisation the sending partner speaks for. A trust cannot name the
council's front door, nor the reverse: such a role is ignored, as the index ignores a worker role
for another organisation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, insert, select

from gateway.audit.events import AuditEvent, DirectoryLoaded
from gateway.directory import ORGANISATIONAL_ROLES, details_json, entry_key
from gateway.store.tables import directory_entries
from schemas.facts import Fact, Organisation, Worker, WorkerRole
from schemas.message import CanonicalMessage

if TYPE_CHECKING:
    from gateway.pipeline import Exchange
    from gateway.services import Services

BY = "partner-message"


@dataclass(frozen=True)
class Change:
    """One directory entry to write (``details``) or remove (``details`` None)."""

    organisation: str
    role: str
    key: str
    details: str | None


def organisation_code(message: CanonicalMessage, role: WorkerRole) -> str:
    """The ODS or LA code of the organisation a role is at (the sender's, if it names none)."""
    org = message.fact(role.organisation) if role.organisation else None
    if isinstance(org, Organisation):
        return org.ods_code or org.la_code or message.provenance.organisation
    return message.provenance.organisation


def _ended(role: WorkerRole, today: date) -> bool:
    end = role.period.end if role.period else None
    if end is None:
        return False
    return (end.date() if isinstance(end, datetime) else end) < today


def _stored_facts(message: CanonicalMessage, role: WorkerRole) -> tuple[Worker | None, str]:
    """The entry as stored: the role, its worker and organisation, with fixed local ids (message
    ids mean nothing once stored, and would make every message look like a change)."""
    worker = message.fact(role.worker) if role.worker else None
    org = message.fact(role.organisation) if role.organisation else None
    stored_worker = (
        worker.model_copy(update={"id": "worker"}) if isinstance(worker, Worker) else None
    )
    stored_org = (
        org.model_copy(update={"id": "organisation"}) if isinstance(org, Organisation) else None
    )
    stored_role = role.model_copy(
        update={
            "id": "role",
            "worker": "worker" if stored_worker else None,
            "organisation": "organisation" if stored_org else None,
            "period": None,
        }
    )
    facts: tuple[Fact, ...] = tuple(
        f for f in (stored_role, stored_worker, stored_org) if f is not None
    )
    return stored_worker, details_json(facts)


def plan(
    message: CanonicalMessage, organisations: tuple[str, ...], conn: Connection, today: date
) -> list[Change]:
    """The directory changes ``message`` asks for, from a partner speaking for
    ``organisations``: only those that differ from what is stored."""
    changes: dict[tuple[str, str, str], Change] = {}
    for role in message.facts:
        if not isinstance(role, WorkerRole) or role.subject is not None:
            continue
        if role.role not in ORGANISATIONAL_ROLES:
            continue
        code = organisation_code(message, role)
        # SECURITY: a partner may only be the source of entries for its own organisations.
        if code not in organisations:
            continue
        worker, details = _stored_facts(message, role)
        key = entry_key(role, worker)
        changes[(code, role.role.value, key)] = Change(
            code, role.role.value, key, None if _ended(role, today) else details
        )
    if not changes:
        return []
    stored = {
        (str(r.organisation), str(r.role), str(r.entry_key)): str(r.details)
        for r in conn.execute(
            select(
                directory_entries.c.organisation,
                directory_entries.c.role,
                directory_entries.c.entry_key,
                directory_entries.c.details,
            ).where(directory_entries.c.organisation.in_({c[0] for c in changes}))
        )
    }
    return [c for k, c in changes.items() if stored.get(k) != c.details]


def apply(conn: Connection, changes: list[Change], *, source: str, at: datetime) -> None:
    """Write ``changes`` (in the caller's transaction)."""
    for change in changes:
        conn.execute(
            delete(directory_entries).where(
                directory_entries.c.organisation == change.organisation,
                directory_entries.c.role == change.role,
                directory_entries.c.entry_key == change.key,
            )
        )
        if change.details is not None:
            conn.execute(
                insert(directory_entries).values(
                    organisation=change.organisation,
                    role=change.role,
                    entry_key=change.key,
                    source=source,
                    details=change.details,
                    updated_at=at,
                )
            )


def watch(ex: Exchange, conn: Connection, services: Services) -> None:
    """Plan directory updates from organisational roles a partner's message names."""
    changes = plan(ex.parsed, tuple(ex.partner.organisations), conn, ex.received_at.date())
    if not changes:
        return
    source, at = ex.partner.id, ex.received_at

    def write(conn: Connection) -> None:
        apply(conn, changes, source=source, at=at)

    def events() -> list[AuditEvent]:
        return [
            DirectoryLoaded(
                at=at,
                request_id=ex.request_id,
                exchange_id=ex.exchange_id,
                partner=ex.partner.id,
                file_sha256=hashlib.sha256(ex.body).hexdigest(),
                organisations=tuple(sorted({c.organisation for c in changes})),
                entries=len(changes),
                by=BY,
            )
        ]

    ex.writes.append(write)
    ex.events.append(events)
