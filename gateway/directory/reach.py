"""How to reach a worker or a role *now*: office contacts in working hours, else out of hours.

In working hours (``workflows.working_hours``, bank holidays excluded) the office contacts come
first. Out of hours the answer leads with the role's own out-of-hours contacts, else with the
organisation's ``out-of-hours`` directory entry (the emergency duty team), and says so: a
practitioner calling at 2 am must be given the duty line, not a desk phone nobody answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection

from gateway.directory import roles_for_organisation
from gateway.index import IndexedRole
from gateway.workcal import WorkingCalendar
from schemas.facts import ContactPoint, RoleKind, Worker, WorkerRole

Via = Literal["office", "out-of-hours", "organisation-out-of-hours", "office-closed"]


@dataclass(frozen=True)
class Reach:
    """The contacts to use now, and where they come from."""

    via: Via
    contacts: tuple[ContactPoint, ...]
    team: str | None = None  # the out-of-hours service's name, when it is the organisation's

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "via": self.via,
            "contacts": [c.model_dump(mode="json") for c in self.contacts],
        }
        if self.team:
            out["team"] = self.team
        return out


@dataclass(frozen=True)
class Now:
    """Whether the offices are open at a moment, and when they next open if not."""

    at: datetime
    in_hours: bool
    next_opening: datetime | None

    @classmethod
    def of(cls, calendar: WorkingCalendar, at: datetime) -> Now:
        in_hours = calendar.is_working_time(at)
        return cls(at, in_hours, None if in_hours else calendar.next_opening(at))

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.at.isoformat(), "in_hours": self.in_hours}
        if self.next_opening is not None:
            out["next_opening"] = self.next_opening.isoformat()
        return out


def _office(role: WorkerRole, worker: Worker | None) -> tuple[ContactPoint, ...]:
    contacts = list(role.telecom)
    if worker is not None:
        contacts.extend(c for c in worker.telecom if not c.out_of_hours and c not in contacts)
    return tuple(contacts)


def reach(
    role: WorkerRole,
    worker: Worker | None,
    *,
    in_hours: bool,
    out_of_hours_service: Sequence[IndexedRole] = (),
) -> Reach:
    """How to reach ``role`` (held by ``worker``, if a named worker) now.

    ``out_of_hours_service`` is the organisation's ``out-of-hours`` directory entries, used out of
    hours when the role has no out-of-hours contact of its own.
    """
    office = _office(role, worker)
    if in_hours and office:
        return Reach("office", office)
    own = role.out_of_hours or (role.telecom if role.role is RoleKind.OUT_OF_HOURS else ())
    if own:
        return Reach("out-of-hours", tuple(own))
    for entry in out_of_hours_service:
        service = entry.role_fact
        contacts = service.out_of_hours or service.telecom
        if contacts:
            return Reach("organisation-out-of-hours", tuple(contacts), team=service.team)
    # Nothing out of hours is known: the office contacts, said to be closed.
    return Reach("office" if in_hours else "office-closed", office)


def reach_for_facts(
    facts: Sequence[object], *, in_hours: bool, out_of_hours_service: Sequence[IndexedRole] = ()
) -> Reach | None:
    """:func:`reach` for a worker as a look-up holds it (its WorkerRole, then its Worker), after
    minimisation: a contact the flow withheld is not offered here either."""
    role = next((f for f in facts if isinstance(f, WorkerRole)), None)
    worker = next((f for f in facts if isinstance(f, Worker)), None)
    if role is None:
        return None
    return reach(role, worker, in_hours=in_hours, out_of_hours_service=out_of_hours_service)


def out_of_hours_services(
    conn: Connection, organisations: Iterable[str]
) -> dict[str, list[IndexedRole]]:
    """Each organisation's ``out-of-hours`` directory entries (its emergency duty team)."""
    return {
        code: roles_for_organisation(conn, code, RoleKind.OUT_OF_HOURS)
        for code in sorted(set(organisations))
    }
