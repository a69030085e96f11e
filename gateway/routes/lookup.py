"""The look-up door: "who is the allocated social worker / care coordinator for this person?"

``GET /api/v1/workers?identifier=<system>|<value>&role=<role>`` answers from the index, under
policy, in two steps:

1. **The person must be one the asker's agreements cover**: the index must know them through the
   asking partner's own records (a worker role or social-care episode its organisation holds, or
   an identifier, family link or consent it supplied), or they must be the parent or child of
   someone it knows that way. A partner cannot ask about the people of
   another agency with whom it has nothing to do, even where a flow exists.
2. Each organisation holding such a role must have an agreement flow of kind ``worker-contact`` to
   the asking partner's organisation ("under a flow to the asker").

The answer is minimised like any disclosure, and every look-up is audited, answered or not. A
person outside the asker's reach gets the same 404 as an unknown one (no existence oracle).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import Connection, or_, select, union_all

from gateway import index
from gateway.appkeys import REQUEST_ID, SERVICES
from gateway.audit.events import LookupDecided, WithheldRef
from gateway.auth import authenticate
from gateway.directory import reach
from gateway.errors import InvalidInput, Issue, NotFound
from gateway.policy.engine import decide_for_any
from gateway.policy.minimise import minimise
from gateway.responses import json_response
from gateway.settings import PartnerSettings
from gateway.store.committer import UnitOfWork
from gateway.store.tables import (
    consents,
    family_links,
    person_identifiers,
    social_care_episodes,
    worker_roles,
)
from gateway.workcal import WorkingCalendar
from schemas.facts import Organisation, RoleKind, Worker, WorkerRole
from schemas.identifiers import PersonIdentifier, identifier_from_token
from schemas.message import MessageKind


def _identifier(request: web.Request) -> PersonIdentifier:
    token = request.query.get("identifier")
    if not token:
        raise InvalidInput("identifier is required", [Issue("identifier", "required", "required")])
    system, sep, value = token.partition("|")
    if not sep:
        raise InvalidInput(
            "identifier must be <system>|<value>", [Issue("identifier", "must be <system>|<value>")]
        )
    try:
        return identifier_from_token(system, value)
    except ValidationError as exc:
        # SECURITY: the reason names the rule broken, never the value supplied.
        reason = "; ".join(str(e["msg"]) for e in exc.errors(include_input=False))
        raise InvalidInput(
            "identifier is not valid", [Issue("identifier", reason, "value")]
        ) from exc
    except ValueError as exc:
        raise InvalidInput(
            "identifier is not valid", [Issue("identifier", str(exc), "value")]
        ) from exc


def _role(request: web.Request) -> RoleKind:
    raw = request.query.get("role", RoleKind.ALLOCATED_SOCIAL_WORKER.value)
    try:
        return RoleKind(raw)
    except ValueError as exc:
        known = ", ".join(r.value for r in RoleKind)
        raise InvalidInput(
            "unknown role", [Issue("role", f"must be one of: {known}", "code-invalid")]
        ) from exc


def _contact(facts: tuple[Any, ...]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for fact in facts:
        if isinstance(fact, WorkerRole):
            entry["role"] = fact.role.value
            if fact.team:
                entry["team"] = fact.team
            entry["telecom"] = [t.model_dump(mode="json") for t in fact.telecom]
            entry["out_of_hours"] = [t.model_dump(mode="json") for t in fact.out_of_hours]
        elif isinstance(fact, Worker):
            if fact.name is not None:
                entry["name"] = fact.name.model_dump(mode="json")
            if fact.telecom:
                entry.setdefault("telecom", []).extend(
                    t.model_dump(mode="json") for t in fact.telecom
                )
        elif isinstance(fact, Organisation):
            entry["organisation_name"] = fact.name
    return entry


def _relatives(conn: Connection, person_id: str) -> list[str]:
    """The person's parents and children in the index."""
    query = union_all(
        select(family_links.c.child_id).where(family_links.c.parent_id == person_id),
        select(family_links.c.parent_id).where(family_links.c.child_id == person_id),
    )
    return [str(row[0]) for row in conn.execute(query)]


def covered(conn: Connection, person_id: str, partner: PartnerSettings) -> bool:
    """Whether the index knows the person, or a parent or child of theirs, through the partner's
    own records (one query after the family links)."""
    people = [person_id, *_relatives(conn, person_id)]
    orgs = list(partner.organisations)
    own = partner.id
    query = union_all(
        select(worker_roles.c.person_id).where(
            worker_roles.c.person_id.in_(people),
            or_(worker_roles.c.organisation.in_(orgs), worker_roles.c.source_partner == own),
        ),
        select(social_care_episodes.c.person_id).where(
            social_care_episodes.c.person_id.in_(people),
            or_(
                social_care_episodes.c.organisation.in_(orgs),
                social_care_episodes.c.source_partner == own,
            ),
        ),
        select(person_identifiers.c.person_id).where(
            person_identifiers.c.person_id.in_(people),
            person_identifiers.c.source_partner == own,
        ),
        select(consents.c.person_id).where(
            consents.c.person_id.in_(people), consents.c.source_partner == own
        ),
        select(family_links.c.child_id).where(
            or_(family_links.c.parent_id.in_(people), family_links.c.child_id.in_(people)),
            family_links.c.source_partner == own,
        ),
    ).limit(1)
    return conn.execute(query).first() is not None


async def workers(request: web.Request) -> web.Response:
    """Answer a worker look-up under policy."""
    services = request.app[SERVICES]
    partner = authenticate(request, services.settings)
    identifier = _identifier(request)
    role = _role(request)
    now = datetime.now(UTC)
    common = {"at": now, "request_id": request[REQUEST_ID], "partner": partner.id}

    def read(conn: Connection) -> tuple[str | None, bool, list[index.IndexedRole]]:
        person_id = index.find_person(conn, [identifier.key])
        if person_id is None:
            return None, False, []
        if not covered(conn, person_id, partner):
            return person_id, False, []
        return person_id, True, index.roles_for(conn, [person_id], role.value)

    person_id, in_reach, found = await services.reader.run(read)
    # How to reach each worker now (issue 7, the directory): office contacts in working hours,
    # else out-of-hours ones, else the organisation's own out-of-hours entry.
    reach_at = reach.Now.of(
        WorkingCalendar(services.settings.workflows.working_hours), services.clock()
    )
    duty = (
        await services.reader.run(
            lambda conn: reach.out_of_hours_services(conn, (h.organisation for h in found))
        )
        if found and not reach_at.in_hours
        else {}
    )

    events: list[LookupDecided] = []
    answers: list[dict[str, Any]] = []
    withheld: list[dict[str, str]] = []
    for held in found:
        decision = decide_for_any(
            services.agreements,
            sender=held.organisation,
            recipients=partner.organisations,
            kind=MessageKind.WORKER_CONTACT,
            purpose=None,
        )
        if not decision.permitted or decision.flow is None or decision.agreement is None:
            events.append(
                LookupDecided(
                    **common,
                    outcome="refuse",
                    reason_code=str(decision.reason_code),
                    role=role.value,
                    person_ids=(held.person_id,),
                )
            )
            continue
        kept = minimise(held.facts, decision.flow)
        answer = _contact(kept.facts)
        reach_now = reach.reach_for_facts(
            kept.facts,
            in_hours=reach_at.in_hours,
            out_of_hours_service=duty.get(held.organisation, ()),
        )
        if reach_now is not None:
            answer["reach_now"] = reach_now.as_json()
        answer.update(
            organisation=held.organisation,
            updated_at=held.updated_at.isoformat(),
            agreement={
                "id": decision.agreement.id,
                "version": decision.agreement.version,
                "flow": decision.flow.id,
            },
            purpose=decision.purpose.value if decision.purpose else None,
            lawful_basis=decision.lawful_basis.code if decision.lawful_basis else None,
        )
        answers.append(answer)
        withheld.extend(
            {"element": w.element, "reason_code": w.reason_code.value, "reason": w.reason}
            for w in kept.withheld
        )
        events.append(
            LookupDecided(
                **common,
                outcome="permit",
                reason_code="flow-permits",
                role=role.value,
                person_ids=(held.person_id,),
                agreement_id=decision.agreement.id,
                agreement_version=decision.agreement.version,
                purpose=decision.purpose.value if decision.purpose else None,
                lawful_basis=decision.lawful_basis.code if decision.lawful_basis else None,
                disclosed=kept.disclosed,
                withheld=tuple(
                    WithheldRef(element=w.element, reason_code=w.reason_code.value)
                    for w in kept.withheld
                ),
            )
        )
    if person_id is not None and not in_reach:
        # SECURITY: recorded as a refusal; answered exactly as an unknown person is.
        events.append(
            LookupDecided(
                **common,
                outcome="refuse",
                reason_code="subject-not-covered",
                role=role.value,
                person_ids=(person_id,),
            )
        )
    elif not found:
        events.append(
            LookupDecided(
                **common,
                outcome="not-found",
                reason_code="unknown-person" if person_id is None else "no-worker-in-role",
                role=role.value,
                person_ids=(person_id,) if person_id else (),
            )
        )
    await services.committer.submit(UnitOfWork(events=lambda: list(events)))
    if not answers:
        # SECURITY: "unknown", "no worker" and "not allowed" look the same to the caller, so a
        # refused look-up does not reveal that the person is known to another agency.
        raise NotFound("no worker in that role that you may see is known for this person")
    return json_response(
        {"role": role.value, **reach_at.as_json(), "workers": answers, "withheld": withheld}
    )


def add_routes(app: web.Application) -> None:
    """Register the look-up door."""
    app.router.add_get("/api/v1/workers", workers)
