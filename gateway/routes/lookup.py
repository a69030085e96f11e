"""The look-up door: "who is the allocated social worker / care coordinator for this person?"

``GET /api/v1/workers?identifier=<system>|<value>&role=<role>`` answers from the index, under
policy: each organisation holding such a role must have an agreement flow of kind
``worker-contact`` to the asking partner's organisation. The answer is minimised like any
disclosure and every look-up is audited, answered or not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import Connection

from gateway import index
from gateway.appkeys import REQUEST_ID, SERVICES
from gateway.audit.events import LookupDecided, WithheldRef
from gateway.auth import authenticate
from gateway.errors import InvalidInput, Issue, NotFound
from gateway.policy.engine import decide
from gateway.policy.minimise import minimise
from gateway.responses import json_response
from gateway.store.committer import UnitOfWork
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


async def workers(request: web.Request) -> web.Response:
    """Answer a worker look-up under policy."""
    services = request.app[SERVICES]
    partner = authenticate(request, services.settings)
    identifier = _identifier(request)
    role = _role(request)
    now = datetime.now(UTC)
    common = {"at": now, "request_id": request[REQUEST_ID], "partner": partner.id}

    def read(conn: Connection) -> tuple[str | None, list[index.IndexedRole]]:
        person_id = index.find_person(conn, [identifier.key])
        return person_id, index.roles_for(conn, [person_id], role.value) if person_id else []

    person_id, found = await services.reader.run(read)

    events: list[LookupDecided] = []
    answers: list[dict[str, Any]] = []
    withheld: list[dict[str, str]] = []
    for held in found:
        decisions = [
            decide(
                services.agreements,
                sender=held.organisation,
                recipient=org,
                kind=MessageKind.WORKER_CONTACT,
                purpose=None,
            )
            for org in partner.organisations
        ]
        decision = next((d for d in decisions if d.permitted), decisions[0])
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
    if not found:
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
    return json_response({"role": role.value, "workers": answers, "withheld": withheld})


def add_routes(app: web.Application) -> None:
    """Register the look-up door."""
    app.router.add_get("/api/v1/workers", workers)
