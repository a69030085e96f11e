"""The directory door: "who is the front door / safeguarding lead / link worker at organisation X,
and how do I reach them now?"

``GET /api/v1/directory/organisations/{code}/roles?role=<role>`` answers from the directory
(``directory_entries``) under policy:

- **Default deny**: a partner may read an organisation's directory only if one data-sharing
  agreement has both the organisation and one the partner speaks for as parties (or if the
  organisation is its own). An organisation outside its agreements gets the same 404 as an unknown
  one, or one with nobody in that role (no existence oracle).
- **Now**: using the working calendar (``workflows.working_hours``, bank holidays) and the
  gateway's clock, each entry leads with the contacts to use now (``reach_now``); out of hours
  they are the role's own out-of-hours contacts, else the organisation's ``out-of-hours`` entry
  (the emergency duty team), and the answer says ``"in_hours": false``.
- Every look-up is audited (``lookup.decided``, ``role`` = the role asked for), answered or not.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from sqlalchemy import Connection, select

from gateway.appkeys import REQUEST_ID, SERVICES
from gateway.audit.events import LookupDecided
from gateway.auth import authenticate
from gateway.directory import ORGANISATIONAL_ROLES, roles_for_organisation
from gateway.directory.reach import Now, reach
from gateway.errors import InvalidInput, Issue, NotFound
from gateway.index import IndexedRole
from gateway.policy.engine import AgreementSet
from gateway.responses import json_response
from gateway.settings import PartnerSettings
from gateway.store.committer import UnitOfWork
from gateway.store.tables import directory_entries
from gateway.workcal import WorkingCalendar
from schemas.agreement import Agreement
from schemas.facts import Organisation, RoleKind, Worker, WorkerRole
from schemas.message import MessageKind

ROUTE = "/api/v1/directory/organisations/{code}/roles"
_CODE = re.compile(r"^(?:\d{3}|[A-Z][A-Z0-9]{2,9})$")
NOT_FOUND = "nobody in that role that you may see is known for this organisation"

# What an answer carries (the ledger entry lists these as disclosed).
DISCLOSED = (
    "organisation.name",
    "organisation.telecom",
    "worker-role.role",
    "worker-role.team",
    "worker-role.telecom",
    "worker-role.out_of_hours",
    "worker.name",
    "worker.local_id",
    "worker.registration",
    "worker.professional_registration",
    "worker.telecom",
)


def _code(request: web.Request) -> str:
    raw = request.match_info["code"]
    if not _CODE.match(raw):
        raise InvalidInput(
            "code is not an organisation code",
            [Issue("code", "must be a DfE LA code (three digits) or an ODS code", "value")],
        )
    return raw


def _role(request: web.Request) -> RoleKind:
    raw = request.query.get("role")
    known = ", ".join(sorted(r.value for r in ORGANISATIONAL_ROLES))
    if not raw:
        raise InvalidInput("role is required", [Issue("role", f"one of: {known}", "required")])
    try:
        role = RoleKind(raw)
    except ValueError:
        role = None
    if role is None or role not in ORGANISATIONAL_ROLES:
        # SECURITY: the reason lists the roles; it never repeats what was sent.
        reason = (
            f"is held for one person: ask GET /api/v1/workers; the directory holds: {known}"
            if role is not None
            else f"must be one of: {known}"
        )
        raise InvalidInput("unknown role", [Issue("role", reason, "code-invalid")])
    return role


def agreement_between(
    agreements: AgreementSet, partner: PartnerSettings, organisation: str
) -> Agreement | None:
    """An agreement that has ``organisation`` and an organisation ``partner`` speaks for as
    parties (None if there is none). One with a ``worker-contact`` flow from the organisation to
    the partner's is preferred (contacts are what the directory gives), so the ledger names the
    agreement under which contacts are shared; otherwise the first in file order."""
    asking = set(partner.organisations) - {organisation}
    both = [
        a
        for a in agreements
        if organisation in {p.code for p in a.parties} and asking & {p.code for p in a.parties}
    ]
    for agreement in both:
        for flow in agreement.flows:
            if (
                flow.from_ == organisation
                and flow.to in asking
                and MessageKind.WORKER_CONTACT in flow.message_kinds
            ):
                return agreement
    return both[0] if both else None


def _entry_json(held: IndexedRole, ooh: list[IndexedRole], now: Now) -> dict[str, Any]:
    role: WorkerRole | None = None
    worker: Worker | None = None
    for fact in held.facts:
        if isinstance(fact, WorkerRole):
            role = fact
        elif isinstance(fact, Worker):
            worker = fact
    if role is None:
        raise TypeError("a directory entry starts with its WorkerRole")
    # Leads with how to reach them now.
    entry: dict[str, Any] = {
        "reach_now": reach(role, worker, in_hours=now.in_hours, out_of_hours_service=ooh).as_json(),
        "role": role.role.value,
    }
    if role.team:
        entry["team"] = role.team
    if worker is not None:
        if worker.name is not None:
            entry["name"] = worker.name.model_dump(mode="json")
        if worker.local_id:
            entry["worker_id"] = worker.local_id
        if worker.registration is not None:
            entry["registration"] = worker.registration.value
        if worker.professional_registration:
            entry["professional_registration"] = worker.professional_registration
    office = [c.model_dump(mode="json") for c in role.telecom]
    if worker is not None:
        office.extend(c.model_dump(mode="json") for c in worker.telecom if c not in role.telecom)
    entry["telecom"] = office
    entry["out_of_hours"] = [c.model_dump(mode="json") for c in role.out_of_hours]
    entry["source"] = "file" if held.partner == "file" else "partner"
    entry["updated_at"] = held.updated_at.isoformat()
    return entry


def _organisation_json(code: str, held: list[IndexedRole]) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code}
    for entry in held:
        org = next((f for f in entry.facts if isinstance(f, Organisation)), None)
        if org is not None:
            out["kind"] = org.kind.value
            if org.name:
                out["name"] = org.name
            out["telecom"] = [c.model_dump(mode="json") for c in org.telecom]
            break
    return out


async def organisation_roles(request: web.Request) -> web.Response:
    """Who holds ``role`` at organisation ``code``, and how to reach them now, under policy."""
    services = request.app[SERVICES]
    # SECURITY: authentication first: a stranger learns nothing, not even which codes are valid.
    partner = authenticate(request, services.settings)
    code = _code(request)
    role = _role(request)
    at = services.clock()
    now = Now.of(WorkingCalendar(services.settings.workflows.working_hours), at)
    common: dict[str, Any] = {"at": at, "request_id": request[REQUEST_ID], "partner": partner.id}
    own = code in partner.organisations
    agreement = None if own else agreement_between(services.agreements, partner, code)

    if not own and agreement is None:
        # SECURITY: recorded as a refusal; answered exactly as an unknown organisation is.
        event = LookupDecided(
            **common, outcome="refuse", reason_code="no-agreement", role=role.value
        )
        await services.committer.submit(UnitOfWork(events=lambda: [event]))
        raise NotFound(NOT_FOUND)

    def read(conn: Connection) -> tuple[bool, list[IndexedRole], list[IndexedRole]]:
        any_entry = select(directory_entries.c.id).where(directory_entries.c.organisation == code)
        known = conn.execute(any_entry.limit(1)).first() is not None
        held = roles_for_organisation(conn, code, role)
        ooh = [] if now.in_hours else roles_for_organisation(conn, code, RoleKind.OUT_OF_HOURS)
        return known, held, ooh

    known, held, ooh = await services.reader.run(read)
    if not held:
        event = LookupDecided(
            **common,
            outcome="not-found",
            reason_code="no-entry-in-role" if known else "unknown-organisation",
            role=role.value,
        )
        await services.committer.submit(UnitOfWork(events=lambda: [event]))
        raise NotFound(NOT_FOUND)
    event = LookupDecided(
        **common,
        outcome="permit",
        reason_code="own-organisation" if own else "agreement-parties",
        role=role.value,
        agreement_id=agreement.id if agreement else None,
        agreement_version=agreement.version if agreement else None,
        disclosed=DISCLOSED,
    )
    await services.committer.submit(UnitOfWork(events=lambda: [event]))
    body: dict[str, Any] = {
        "organisation": _organisation_json(code, held),
        "role": role.value,
        **now.as_json(),
        "entries": [_entry_json(h, ooh, now) for h in held],
    }
    if agreement is not None:
        body["agreement"] = {"id": agreement.id, "version": agreement.version}
    return json_response(body)


def add_routes(app: web.Application) -> None:
    """Register the directory door."""
    app.router.add_get(ROUTE, organisation_roles)
