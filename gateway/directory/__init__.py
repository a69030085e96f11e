"""The directory: who holds which role at each organisation, and how to reach them now.

Practitioners in the study did not know who the safeguarding lead, the link worker or the front
door was, nor how to reach the other agency out of hours. The directory holds organisational roles
(``directory_entries``): the front door (MASH), the safeguarding leads for adults and for children,
the link worker, team managers, the out-of-hours / emergency duty team. Workers allocated to one
person (a care coordinator, an allocated social worker) stay in the index (``worker_roles``).

Entries are stored as the same canonical facts the index keeps for a worker (the WorkerRole, then
its Worker and Organisation), so a workflow can address a directory entry exactly as it addresses
an allocated worker (:class:`gateway.index.IndexedRole`).
"""

from __future__ import annotations

from datetime import datetime

import orjson
from sqlalchemy import Connection, delete, insert, select

from gateway.index import IndexedRole
from gateway.store.tables import directory_entries
from schemas.facts import Fact, Organisation, RoleKind, Worker, WorkerRole

# Roles that belong to an organisation rather than to one person's case.
ORGANISATIONAL_ROLES = frozenset(
    {
        RoleKind.FRONT_DOOR,
        RoleKind.SAFEGUARDING_LEAD_ADULTS,
        RoleKind.SAFEGUARDING_LEAD_CHILDREN,
        RoleKind.LINK_WORKER,
        RoleKind.TEAM_MANAGER,
        RoleKind.OUT_OF_HOURS,
        RoleKind.IRO_OR_CP_CHAIR,
        RoleKind.AMHP,
    }
)


def entry_key(role: WorkerRole, worker: Worker | None) -> str:
    """What makes an entry one of its own within an organisation and role: the worker's local id,
    else the team or duty line's name, else the role itself (one entry for the role)."""
    if worker is not None and worker.local_id:
        return f"worker:{worker.local_id}"
    if role.team:
        return f"team:{role.team}"
    return f"role:{role.role.value}"


def details_json(facts: tuple[Fact, ...]) -> str:
    """The stored form of an entry: the WorkerRole first, then its Worker and Organisation."""
    return orjson.dumps([f.model_dump(mode="json") for f in facts]).decode()


def roles_for_organisation(
    conn: Connection, organisation: str, role: RoleKind
) -> list[IndexedRole]:
    """Everyone in ``role`` at ``organisation``, oldest entry first, as addressable roles.

    ``person_id`` is empty: a directory entry is nobody's allocated worker.
    """
    rows = conn.execute(
        select(
            directory_entries.c.role,
            directory_entries.c.organisation,
            directory_entries.c.source,
            directory_entries.c.updated_at,
            directory_entries.c.details,
        )
        .where(
            directory_entries.c.organisation == organisation,
            directory_entries.c.role == role.value,
        )
        .order_by(directory_entries.c.id)
    )
    return [
        IndexedRole(
            person_id="",
            role=str(r.role),
            organisation=str(r.organisation),
            partner=str(r.source),
            updated_at=r.updated_at,
            details=str(r.details),
        )
        for r in rows
    ]


def replace_entries(
    conn: Connection,
    organisation: str,
    entries: list[tuple[WorkerRole, Worker | None, Organisation | None]],
    *,
    source: str,
    at: datetime,
) -> int:
    """Replace every entry of ``organisation`` with ``entries`` (in the caller's transaction, so a
    load is all or nothing). Returns how many were written."""
    conn.execute(delete(directory_entries).where(directory_entries.c.organisation == organisation))
    rows = []
    for role, worker, org in entries:
        facts: tuple[Fact, ...] = tuple(f for f in (role, worker, org) if f is not None)
        rows.append(
            {
                "organisation": organisation,
                "role": role.role.value,
                "entry_key": entry_key(role, worker),
                "source": source,
                "details": details_json(facts),
                "updated_at": at,
            }
        )
    if rows:
        conn.execute(insert(directory_entries), rows)
    return len(rows)
