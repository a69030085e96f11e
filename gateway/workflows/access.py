"""Access notification: who at the trust looked up a child's protection status, and why.

``GET /api/v1/children/status?identifier=<system>|<value>&purpose=<purpose>`` answers, from the
index and under policy, the child protection information-sharing (CP-IS) dataset for a child: each
current plan's kind (child protection, looked after, unborn child protection, child in need) and
start date, the allocated social worker's contact and the council's out-of-hours contact; nothing
more (no category, no history, no referral). The caller names the person asking, in three headers
(``X-Accessing-User``, ``X-Accessing-Role``, ``X-Accessing-Organisation``), each required.

Each council holding the child's status decides for itself, as for any disclosure: a
``child-status`` flow from the council to the asker's organisation for the purpose named. For each
council that answers, the gateway then tells the child's allocated social worker's system who
looked and why: an ``access-notification`` message from the asker's organisation (the user's id,
role and organisation, when, the purpose; never what was seen), decided, minimised, rendered and
committed by the pipeline's stages in the **same commit** as the look-up's ``lookup.decided``
entries. A council whose agreement has no access-notification flow is not told (the refusal is
recorded); the look-up itself is still answered under that council's own child-status flow.

An unknown child, a child with no status the asker may see, and a refused look-up all get the
same 404, recorded. A request missing a header is a 400 naming it, recorded as refused. The ledger
holds the surrogate person id, codes and hashes, never the user's id: that goes only to the
council, in the notification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import Connection, select

from gateway import index
from gateway.appkeys import REQUEST_ID, SERVICES
from gateway.audit.events import ExchangeRefused, LookupDecided, WithheldRef
from gateway.auth import authenticate
from gateway.errors import Forbidden, GatewayError, InvalidInput, Issue, NotFound
from gateway.pipeline import Exchange, commit, decide_all, minimise_all, render_all
from gateway.policy.engine import Decision, decide_for_any
from gateway.policy.minimise import minimise
from gateway.recipients import Candidate
from gateway.responses import json_response
from gateway.routes.lookup import _identifier as lookup_identifier
from gateway.services import Services
from gateway.settings import PartnerSettings
from gateway.store.committer import UnitOfWork
from gateway.store.tables import social_care_episodes
from gateway.workflows import think_family
from schemas.facts import (
    Fact,
    Organisation,
    OrganisationKind,
    Person,
    Plan,
    RoleKind,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.labels import Purpose
from schemas.message import CanonicalMessage, MessageKind
from schemas.provenance import Provenance

ROUTE = "/api/v1/children/status"
USER_HEADER = "X-Accessing-User"
ROLE_HEADER = "X-Accessing-Role"
ORGANISATION_HEADER = "X-Accessing-Organisation"
# A user id as the trust's systems issue it (a smartcard UUID, an SDS user id, a staff number):
# letters, digits and . _ : - only, so that no name or free text can travel as one.
_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
LOOKUP_ROLE = "child-status"  # what lookup.decided entries of this door name as the role asked
_CHILD = "child"
_ACCESSOR = "accessing-user"


@dataclass(frozen=True, slots=True)
class Accessor:
    """Who is looking, as the asking system vouches."""

    user: str
    role: RoleKind
    organisation: str


@dataclass(frozen=True, slots=True)
class Held:
    """One council's current status for the child, as the index holds it."""

    organisation: str
    plans: tuple[Plan, ...]
    worker: index.IndexedRole | None


def _header(request: web.Request, name: str) -> str:
    value = request.headers.get(name, "").strip()
    if not value:
        raise InvalidInput(f"{name} is required", [Issue(name, "required", "required")])
    return value


def accessor(request: web.Request, partner: PartnerSettings) -> Accessor:
    """The three headers, checked (400 naming the header; 403 for another organisation)."""
    user = _header(request, USER_HEADER)
    if not _USER_ID.match(user):
        raise InvalidInput(
            f"{USER_HEADER} is not a user id",
            [Issue(USER_HEADER, "1 to 64 letters, digits, '.', '_', ':' or '-'", "value")],
        )
    raw_role = _header(request, ROLE_HEADER)
    try:
        role = RoleKind(raw_role)
    except ValueError as exc:
        known = ", ".join(r.value for r in RoleKind)
        raise InvalidInput(
            f"{ROLE_HEADER} is not a known role",
            [Issue(ROLE_HEADER, f"must be one of: {known}", "code-invalid")],
        ) from exc
    organisation = _header(request, ORGANISATION_HEADER)
    if organisation not in partner.organisations:
        # SECURITY: a system vouches only for its own organisation's users.
        raise Forbidden(f"{ORGANISATION_HEADER} is not an organisation this partner speaks for")
    return Accessor(user, role, organisation)


def _purpose(request: web.Request) -> Purpose:
    raw = request.query.get("purpose")
    if not raw:
        raise InvalidInput("purpose is required", [Issue("purpose", "required", "required")])
    try:
        return Purpose(raw)
    except ValueError as exc:
        known = ", ".join(p.value for p in Purpose)
        raise InvalidInput(
            "unknown purpose", [Issue("purpose", f"must be one of: {known}", "code-invalid")]
        ) from exc


def _current(plan: Plan, today: date) -> bool:
    end = plan.period.end
    if end is None:
        return True
    return (end.date() if isinstance(end, datetime) else end) >= today


def _held(conn: Connection, person_id: str, today: date) -> list[Held]:
    """Each council's current plans and allocated worker for the child (two queries)."""
    workers = {
        r.organisation: r
        for r in index.roles_for(conn, [person_id], RoleKind.ALLOCATED_SOCIAL_WORKER.value)
    }
    plans: dict[str, list[Plan]] = {}
    rows = conn.execute(
        select(social_care_episodes.c.organisation, social_care_episodes.c.details).where(
            social_care_episodes.c.person_id == person_id
        )
    )
    for organisation, details in rows:
        episode = SocialCareEpisode.model_validate_json(str(details))
        if episode.closure_date is not None:
            continue
        # The CP-IS dataset: the plan's kind and dates, never its category.
        current = [
            p.model_copy(update={"category": None}) for p in episode.plans if _current(p, today)
        ]
        plans.setdefault(str(organisation), []).extend(current)
    return [
        Held(org, tuple(plans.get(org, ())), workers.get(org))
        for org in sorted(set(workers) | set(plans))
    ]


def _facts(held: Held) -> tuple[Fact, ...]:
    facts: list[Fact] = [Person(id=_CHILD)]
    if held.plans:
        facts.append(
            SocialCareEpisode(id="episode", subject=_CHILD, plans=held.plans, organisation=None)
        )
    if held.worker is not None:
        facts.extend(held.worker.facts)
    return tuple(facts)


def _answer(held: Held, kept: tuple[Fact, ...], decision: Decision) -> dict[str, Any]:
    plans = [
        {"kind": p.kind.value, "start": p.period.start.isoformat() if p.period.start else None}
        for f in kept
        if isinstance(f, SocialCareEpisode)
        for p in f.plans
    ]
    worker: dict[str, Any] | None = None
    out_of_hours: list[dict[str, Any]] = []
    for fact in kept:
        if isinstance(fact, WorkerRole):
            worker = (worker or {}) | {
                "role": fact.role.value,
                "team": fact.team,
                "telecom": [t.model_dump(mode="json") for t in fact.telecom],
            }
            out_of_hours.extend(t.model_dump(mode="json") for t in fact.out_of_hours)
        elif isinstance(fact, Worker) and fact.name is not None:
            worker = (worker or {}) | {"name": fact.name.model_dump(mode="json")}
        elif isinstance(fact, Organisation):
            out_of_hours.extend(t.model_dump(mode="json") for t in fact.telecom if t.out_of_hours)
    if decision.agreement is None or decision.flow is None:
        raise RuntimeError("a permit names its agreement and flow")
    return {
        "organisation": held.organisation,
        "plans": plans,
        "allocated_worker": worker,
        "out_of_hours": list({orjson.dumps(o): o for o in out_of_hours}.values()),
        "agreement": {
            "id": decision.agreement.id,
            "version": decision.agreement.version,
            "flow": decision.flow.id,
        },
        "purpose": decision.purpose.value if decision.purpose else None,
        "lawful_basis": decision.lawful_basis.code if decision.lawful_basis else None,
    }


def notification(
    who: Accessor, purpose: Purpose, at: datetime, request_id: str
) -> CanonicalMessage:
    """The access notification: the child (addressed by the council's own identifiers when
    disclosed), the user as a worker in a role at the organisation; the time is the message's."""
    facts: list[Fact] = [
        Person(id=_CHILD),
        Organisation(
            id=f"{_ACCESSOR}-organisation",
            kind=_kind_of(who.organisation),
            ods_code=who.organisation if not _is_la(who.organisation) else None,
            la_code=who.organisation if _is_la(who.organisation) else None,
        ),
        Worker(id=_ACCESSOR, local_id=who.user),
        WorkerRole(
            id=f"{_ACCESSOR}-role",
            role=who.role,
            worker=_ACCESSOR,
            organisation=f"{_ACCESSOR}-organisation",
        ),
    ]
    return CanonicalMessage(
        message_id=f"access-notification:{request_id}",
        kind=MessageKind.ACCESS_NOTIFICATION,
        subject=_CHILD,
        facts=tuple(facts),
        provenance=Provenance(
            organisation=who.organisation,
            system="joined-up",
            source_format=think_family.SOURCE_FORMAT,
            source_message_id=request_id,
            received_at=at,
        ),
        purpose=purpose,
        sent_at=at,
    )


def _is_la(code: str) -> bool:
    return code.isdigit() and len(code) == 3


def _kind_of(code: str) -> OrganisationKind:
    return OrganisationKind.LOCAL_AUTHORITY if _is_la(code) else OrganisationKind.NHS_TRUST


async def _refused(
    request: web.Request, services: Services, partner: PartnerSettings, exc: GatewayError
) -> None:
    """Record a refused request (no values: the header or element named, the error's class)."""
    issues = getattr(exc, "issues", None) or []
    event = ExchangeRefused(
        at=datetime.now(UTC),
        request_id=request[REQUEST_ID],
        partner=partner.id,
        route=ROUTE,
        status=exc.status,
        error=type(exc).__name__,
        kind=MessageKind.ACCESS_NOTIFICATION.value,
        elements=tuple(dict.fromkeys(i.element for i in issues))[:20],
    )
    await services.committer.submit(UnitOfWork(events=lambda: [event]))


async def child_status(request: web.Request) -> web.Response:
    """Answer a child's protection status under policy, and tell the council who looked."""
    services = request.app[SERVICES]
    partner = authenticate(request, services.settings)
    try:
        who = accessor(request, partner)
        identifier = lookup_identifier(request)
        purpose = _purpose(request)
    except (InvalidInput, Forbidden) as exc:
        await _refused(request, services, partner, exc)
        raise
    at = services.clock()
    request_id = request[REQUEST_ID]
    common: dict[str, Any] = {"at": at, "request_id": request_id, "partner": partner.id}

    def read(
        conn: Connection,
    ) -> tuple[str | None, list[Held], list[str], dict[str, index.IndexedRole]]:
        person_id = index.find_person(conn, [identifier.key])
        if person_id is None:
            return None, [], [], {}
        keys = index.identifiers_of(conn, [person_id])[person_id]
        held = _held(conn, person_id, at.date())
        # The notification goes to the allocated worker, or the front door where none is.
        contacts = {
            h.organisation: h.worker
            or think_family.council_contact(conn, h.organisation, person_id)
            for h in held
        }
        return person_id, held, keys, contacts

    person_id, held, keys, contacts = await services.reader.run(read)
    events: list[LookupDecided] = []
    answers: list[dict[str, Any]] = []
    withheld: list[dict[str, str]] = []
    candidates: list[Candidate] = []
    for status in held:
        decision = decide_for_any(
            services.agreements,
            sender=status.organisation,
            recipients=partner.organisations,
            kind=MessageKind.CHILD_STATUS,
            purpose=purpose,
        )
        if not decision.permitted or decision.flow is None or decision.agreement is None:
            events.append(
                LookupDecided(
                    **common,
                    outcome="refuse",
                    reason_code=str(decision.reason_code),
                    role=LOOKUP_ROLE,
                    person_ids=(person_id or "",),
                )
            )
            continue
        kept = minimise(_facts(status), decision.flow)
        answers.append(_answer(status, kept.facts, decision))
        withheld.extend(
            {"element": w.element, "reason_code": w.reason_code.value, "reason": w.reason}
            for w in kept.withheld
        )
        events.append(
            LookupDecided(
                **common,
                outcome="permit",
                reason_code="flow-permits",
                role=LOOKUP_ROLE,
                person_ids=(person_id or "",),
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
        candidates.append(
            Candidate(
                organisation=status.organisation,
                child_person_id=person_id or "",
                child_identifier_keys=tuple(keys),
                addressee=contacts[status.organisation],
            )
        )
    if person_id is None or not held:
        events.append(
            LookupDecided(
                **common,
                outcome="not-found",
                reason_code="unknown-person" if person_id is None else "no-status-held",
                role=LOOKUP_ROLE,
                person_ids=(person_id,) if person_id else (),
            )
        )
    if not answers:
        await services.committer.submit(UnitOfWork(events=lambda: list(events)))
        # SECURITY: unknown, no status and not allowed look the same to the caller.
        raise NotFound("no child protection status that you may see is known for this child")
    notified = await _notify(
        services,
        partner=partner,
        who=who,
        purpose=purpose,
        at=at,
        request_id=request_id,
        person_id=person_id or "",
        candidates=candidates,
        lookup_events=events,
        query=request.query_string.encode(),
    )
    return json_response({"statuses": answers, "withheld": withheld, "notified": notified})


async def _notify(
    services: Services,
    *,
    partner: PartnerSettings,
    who: Accessor,
    purpose: Purpose,
    at: datetime,
    request_id: str,
    person_id: str,
    candidates: list[Candidate],
    lookup_events: list[LookupDecided],
    query: bytes,
) -> list[str]:
    """The access notification to each answering council, decided, minimised, rendered and
    committed with the look-up's audit entries in one unit; the organisations told."""
    ex = Exchange(
        partner=partner,
        adapter=services.adapters[partner.format],
        body=query,
        request_id=request_id,
        received_at=at,
    )
    ex.message = notification(who, purpose, at, request_id)
    ex.known = {_CHILD: person_id}
    ex.teaches = False
    ex.candidates = candidates
    ex.events.append(lambda: list(lookup_events))
    for stage in (decide_all, minimise_all, render_all, commit):
        await stage(ex, services)
    return [r.candidate.organisation for r in ex.routed if r.disclosure is not None]


def add_routes(app: web.Application) -> None:
    """Register the child status door."""
    app.router.add_get(ROUTE, child_status)


# -- the OpenAPI document's part (gateway/openapi.py adds it) ------------------------------------

_COMPONENT = "#/components/schemas/"
_CONTACT_REF = {"$ref": f"{_COMPONENT}ContactPoint"}
OPENAPI_EXAMPLE: dict[str, Any] = {
    "statuses": [
        {
            "organisation": "999",
            "plans": [{"kind": "child-protection", "start": "2025-01-20"}],
            "allocated_worker": {
                "role": "allocated-social-worker",
                "team": "Northtown Child Protection Team",
                "telecom": [{"system": "phone", "value": "01632 960555", "out_of_hours": False}],
                "name": {"given": ["Priya"], "family": "Shah"},
            },
            "out_of_hours": [{"system": "phone", "value": "01632 960800", "out_of_hours": True}],
            "agreement": {
                "id": "demo-trust-council",
                "version": 1,
                "flow": "child-protection-status",
            },
            "purpose": "safeguarding-child",
            "lawful_basis": "art6(1)(e)",
        }
    ],
    "withheld": [],
    "notified": ["999"],
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "ChildStatus": {
        "type": "object",
        "description": (
            "The CP-IS dataset for the child from each council that may answer you: current plans "
            "(kind and start date), the allocated social worker's contact and out-of-hours "
            "contacts; 'notified' lists the councils told that you looked"
        ),
        "required": ["statuses", "withheld", "notified"],
        "properties": {
            "statuses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["organisation", "plans", "out_of_hours", "agreement"],
                    "properties": {
                        "organisation": {"type": "string"},
                        "plans": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["kind"],
                                "properties": {
                                    "kind": {"type": "string"},
                                    "start": {"type": ["string", "null"], "format": "date"},
                                },
                            },
                        },
                        "allocated_worker": {
                            "type": ["object", "null"],
                            "properties": {
                                "role": {"type": "string"},
                                "team": {"type": ["string", "null"]},
                                "name": {"type": "object"},
                                "telecom": {"type": "array", "items": _CONTACT_REF},
                            },
                        },
                        "out_of_hours": {"type": "array", "items": _CONTACT_REF},
                        "agreement": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string"},
                                "version": {"type": "integer"},
                                "flow": {"type": "string"},
                            },
                        },
                        "purpose": {"type": ["string", "null"]},
                        "lawful_basis": {"type": ["string", "null"]},
                    },
                },
            },
            "withheld": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "element": {"type": "string"},
                        "reason_code": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                },
            },
            "notified": {"type": "array", "items": {"type": "string"}},
        },
    }
}


def _header_parameter(name: str, description: str, schema: dict[str, Any], example: str) -> Any:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": schema,
        "example": example,
    }


def openapi_paths(
    errors: Any, conventions: list[dict[str, str]], answer_headers: dict[str, Any]
) -> dict[str, Any]:
    """The child status door, built with the document's own error and convention helpers."""
    return {
        ROUTE: {
            "get": {
                "summary": "A child's protection status (CP-IS dataset); the child's social "
                "worker is told who looked and why",
                "description": (
                    "Answered from the index under each council's child-status flow to your "
                    "organisation for the purpose you name. The council holding the status is "
                    "sent an access notification (the user's id, role and organisation, the time "
                    "and purpose; never what was seen) in the same commit as the look-up's audit "
                    "entry. The user's id goes to the council only, never to the ledger."
                ),
                "operationId": "childStatus",
                "parameters": [
                    {
                        "name": "identifier",
                        "in": "query",
                        "required": True,
                        "description": (
                            "<system>|<value>: an NHS number, an LA child id "
                            "(<LA code>/<child id>) or a UPN"
                        ),
                        "schema": {"type": "string", "minLength": 1},
                        "example": "https://fhir.nhs.uk/Id/nhs-number|9000000017",
                    },
                    {
                        "name": "purpose",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "enum": [p.value for p in Purpose]},
                        "example": Purpose.SAFEGUARDING_CHILD.value,
                    },
                    _header_parameter(
                        USER_HEADER,
                        "the id of the user looking (a smartcard or staff id): letters, "
                        "digits and . _ : - only, 1 to 64",
                        {"type": "string", "pattern": _USER_ID.pattern},
                        "uid-555123456789",
                    ),
                    _header_parameter(
                        ROLE_HEADER,
                        "the user's role",
                        {"type": "string", "enum": [r.value for r in RoleKind]},
                        RoleKind.AMHP.value,
                    ),
                    _header_parameter(
                        ORGANISATION_HEADER,
                        "the user's organisation (an ODS or LA code your partner speaks for)",
                        {"type": "string", "minLength": 1},
                        "RX9",
                    ),
                    *conventions,
                ],
                "responses": {
                    "200": {
                        "description": "the status you may see, and the councils told you looked",
                        "headers": answer_headers,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"{_COMPONENT}ChildStatus"},
                                "example": OPENAPI_EXAMPLE,
                            }
                        },
                    }
                }
                | errors(
                    (400, 401, 403, 404, 405, 429, 503),
                    s404="the child is unknown, has no status, or has one you may not see: the "
                    "same answer for each, so a refusal reveals nothing",
                ),
            }
        }
    }
