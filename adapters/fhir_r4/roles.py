"""Practitioner, PractitionerRole and CareTeam to canonical Worker and WorkerRole facts.

* A Practitioner is a Worker: name, contacts, and the identifiers the canonical model has room for
  (Social Work England registration; a GMC, NMC, HCPC or GPhC number as the professional
  registration; the employer's own id in the local ``worker-local-id`` system).
* A PractitionerRole is a WorkerRole when it names a role the canonical model has: a coding in
  ``https://joined-up.org.uk/CodeSystem/worker-role`` (care coordinator, allocated social worker,
  safeguarding lead, AMHP, front door, out-of-hours ...). Without one (a GP's SNOMED role, say) it
  is reported as unmapped, not guessed. Its practitioner, organisation, team (the
  ``healthcareService`` display), period and contacts go on the WorkerRole; a contact marked with
  the local ``out-of-hours`` extension goes to ``out_of_hours``. A role with no practitioner is a
  team or a duty line.
* The person a WorkerRole is *for* (``WorkerRole.subject``: the child's allocated social worker)
  has no element on PractitionerRole: it comes from the CareTeam the role is a participant of
  (``CareTeam.subject``), or from the EpisodeOfCare it manages (``careManager``). A CareTeam
  participant's ``role`` (same code system) names the role in that team; a Practitioner or an
  Organization can be a participant too (a named worker without a PractitionerRole, or a team).
"""

from __future__ import annotations

import re

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.codes import (
    REGISTRATION_SYSTEMS,
    WORKER_LOCAL_ID_SYSTEM,
    WORKER_ROLE_SYSTEM,
    WORKER_ROLES,
)
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.organisations import organisation_for, organisation_id
from adapters.fhir_r4.people import person_reference, read_person_name
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.telecom import read_telecom
from adapters.fhir_r4.walk import (
    JsonObject,
    child_object,
    child_period,
    child_str,
    codings,
    objects,
)
from schemas.facts import Period, RoleKind, Worker, WorkerRole
from schemas.identifiers import SWE_REGISTRATION_SYSTEM, SweRegistration

_SWE = re.compile(r"^SW\d{1,8}$")
PRACTITIONER_ELEMENTS = elements({"identifier", "name", "telecom", "active"})
ROLE_ELEMENTS = elements(
    {"code", "practitioner", "organization", "healthcareService", "telecom", "period", "active"}
)
CARE_TEAM_ELEMENTS = elements({"subject", "name", "participant", "managingOrganization", "status"})
NO_ROLE = "names no role the canonical model carries (Joined-up worker-role codes)"


def worker_for(ctx: ReadContext, entry: Entry) -> Worker:
    """The Worker fact for a Practitioner entry (one fact however often it is referenced)."""
    known = ctx.workers.get(entry.index)
    if known is not None:
        return known
    resource, path = entry.resource, entry.path
    registration = professional = local_id = None
    for id_path, identifier in objects(resource, "identifier", path, ctx.issues):
        system = identifier.get("system")
        if system == SWE_REGISTRATION_SYSTEM and registration is None:
            value = child_str(identifier, "value", id_path, ctx.issues, required=True)
            if value is not None and _SWE.match(value) is None:
                ctx.issues.add(
                    f"{id_path}.value", "a Social Work England number is SW and digits", "value"
                )
            elif value is not None:
                registration = SweRegistration(value=value)
        elif system in REGISTRATION_SYSTEMS and professional is None:
            professional = _short(ctx, identifier, id_path)
            ctx.unmap(f"{id_path}.system", "the register of a professional registration")
        elif system == WORKER_LOCAL_ID_SYSTEM and local_id is None:
            local_id = _short(ctx, identifier, id_path)
        else:
            ctx.unmap(id_path, "an identifier system the gateway does not name workers by")
    worker = Worker(
        id=f"worker-{entry.index}",
        name=read_person_name(resource, path, ctx.issues),
        local_id=local_id,
        registration=registration,
        professional_registration=professional,
        telecom=read_telecom(resource, path, ctx.issues, ctx.received_at),
        labels=read_security(resource, path, ctx.issues),
    )
    report_unread(ctx, entry, PRACTITIONER_ELEMENTS)
    ctx.add(worker)
    ctx.workers[entry.index] = worker
    ctx.mapped.add(entry.index)
    return worker


def _short(ctx: ReadContext, identifier: JsonObject, path: str) -> str | None:
    value = child_str(identifier, "value", path, ctx.issues, required=True)
    if value is not None and len(value) > 64:
        ctx.issues.add(f"{path}.value", "is too long for an identifier", "too-long")
        return None
    return value


def role_code(ctx: ReadContext, parent: JsonObject, key: str, path: str) -> RoleKind | None:
    """The RoleKind coded in ``parent[key]`` (a CodeableConcept list) in the worker-role system."""
    for concept_path, concept in objects(parent, key, path, ctx.issues):
        for coding_path, system, code, _ in codings(concept, concept_path, ctx.issues):
            if system != WORKER_ROLE_SYSTEM:
                continue
            if code not in WORKER_ROLES:
                ctx.issues.add(f"{coding_path}.code", "is not a worker role", "code-invalid")
                return None
            return WORKER_ROLES[code]
    return None


def role_for(
    ctx: ReadContext,
    entry: Entry,
    *,
    subject: str | None = None,
    kind: RoleKind | None = None,
    fact_id: str | None = None,
    organisation: str | None = None,
    team: str | None = None,
    period: Period | None = None,
) -> str | None:
    """The WorkerRole id for a PractitionerRole entry, for ``subject``; None with the reason
    reported when it names no canonical role. ``kind`` (the role in a care team or episode) wins
    over the PractitionerRole's own code; the other keywords fill what the role leaves out."""
    key = (entry.index, subject)
    if key in ctx.roles:
        return ctx.roles[key]
    resource, path = entry.resource, entry.path
    first = entry.index not in ctx.mapped
    ctx.mapped.add(entry.index)
    if first:
        report_unread(ctx, entry, ROLE_ELEMENTS)
    own = role_code(ctx, resource, "code", path)
    worker = None
    practitioner = ctx.follow_child(resource, "practitioner", path, ("Practitioner",))
    if practitioner is not None:
        worker = worker_for(ctx, practitioner).id
    organisation = (
        organisation_id(
            ctx, child_object(resource, "organization", path, ctx.issues), f"{path}.organization"
        )
        or organisation
    )
    contacts = read_telecom(resource, path, ctx.issues, ctx.received_at)
    team = service_name(ctx, entry) or team
    period = child_period(resource, "period", path, ctx.issues) or period
    role = kind or own
    if role is None:
        if first:
            ctx.unmap(path, f"not a worker role: {NO_ROLE}")
        return None
    fact = WorkerRole(
        id=fact_id or f"worker-role-{entry.index}" + ("" if subject is None else f"-for-{subject}"),
        role=role,
        worker=worker,
        organisation=organisation,
        subject=subject,
        team=team,
        telecom=tuple(c for c in contacts if not c.out_of_hours),
        out_of_hours=tuple(c for c in contacts if c.out_of_hours),
        period=period,
        labels=read_security(resource, path, ctx.issues),
    )
    ctx.roles[key] = ctx.add(fact)
    return fact.id


def any_role_for(
    ctx: ReadContext, entry: Entry, subject: str | None = None, kind: RoleKind | None = None
) -> str | None:
    """The WorkerRole a PractitionerRole already became (for ``subject`` if it became several),
    else a new one without a subject: a reference from a meeting or a referral names the role,
    not whom it is for."""
    known = ctx.roles.get((entry.index, subject))
    if known is None:
        known = next((v for (i, _), v in ctx.roles.items() if i == entry.index and v), None)
    return known or role_for(ctx, entry, kind=kind)


def practitioner_role(
    ctx: ReadContext,
    practitioner: Entry,
    *,
    kind: RoleKind,
    fact_id: str,
    subject: str | None,
    organisation: str | None = None,
    team: str | None = None,
    period: Period | None = None,
    contacts_from_practitioner: bool = False,
) -> str:
    """A WorkerRole for a Practitioner named in a role without a PractitionerRole."""
    key = (-1 - practitioner.index, subject)
    if key in ctx.roles:
        return ctx.roles[key]
    worker = worker_for(ctx, practitioner)
    contacts = worker.telecom if contacts_from_practitioner else ()
    fact = WorkerRole(
        id=fact_id,
        role=kind,
        worker=worker.id,
        organisation=organisation,
        subject=subject,
        team=team,
        telecom=tuple(c for c in contacts if not c.out_of_hours),
        out_of_hours=tuple(c for c in contacts if c.out_of_hours),
        period=period,
        labels=worker.labels,
    )
    ctx.roles[key] = ctx.add(fact)
    return fact.id


def role_of(ctx: ReadContext, practitioner: Entry) -> Entry | None:
    """The PractitionerRole in the input for this Practitioner, if there is one."""
    for role in ctx.bundle.of_type("PractitionerRole"):
        reference = role.resource.get("practitioner")
        if isinstance(reference, dict):
            target = reference.get("reference")
            if isinstance(target, str) and ctx.bundle.lookup(target) is practitioner:
                return role
    return None


def service_name(ctx: ReadContext, role: Entry) -> str | None:
    """The team: the first ``healthcareService`` display of a PractitionerRole."""
    for service_path, service in objects(role.resource, "healthcareService", role.path, ctx.issues):
        return child_str(service, "display", service_path, ctx.issues)
    return None


def read_care_team(ctx: ReadContext, entry: Entry) -> None:
    """A CareTeam: a WorkerRole, for the team's subject, per participant that is a worker."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    ctx.mapped.add(entry.index)
    report_unread(ctx, entry, CARE_TEAM_ELEMENTS)
    if "participant" not in resource:
        return  # a team named by an episode, say: nothing to map of its own
    subject = person_reference(ctx, resource, "subject", path, required=False)
    name = child_str(resource, "name", path, issues)
    managing = None
    for org_path, reference in objects(resource, "managingOrganization", path, issues):
        managing = managing or organisation_id(ctx, reference, org_path)
    before = len(ctx.facts)
    for i, (here, participant) in enumerate(objects(resource, "participant", path, issues)):
        fact_id = f"worker-role-{entry.index}-{i}"
        _participant(
            ctx,
            fact_id=fact_id,
            here=here,
            participant=participant,
            subject=subject,
            name=name,
            managing=managing,
        )
    if not any(isinstance(f, WorkerRole) for f in ctx.facts[before:]):
        ctx.unmap(path, "no participant of this care team is a worker role the message holds")


def _participant(
    ctx: ReadContext,
    *,
    fact_id: str,
    here: str,
    participant: JsonObject,
    subject: str | None,
    name: str | None,
    managing: str | None,
) -> None:
    issues = ctx.issues
    kind = role_code(ctx, participant, "role", here)
    on_behalf = organisation_id(
        ctx, child_object(participant, "onBehalfOf", here, issues), f"{here}.onBehalfOf"
    )
    period = child_period(participant, "period", here, issues)
    member = child_object(participant, "member", here, issues)
    if member is None:
        ctx.unmap(here, "names no member")
        return
    target = ctx.follow(member, f"{here}.member", None, required=False)
    if target is None:
        return
    organisation = on_behalf or managing
    if target.type == "PractitionerRole":
        role_for(
            ctx,
            target,
            subject=subject,
            kind=kind,
            fact_id=fact_id,
            organisation=organisation,
            team=name,
            period=period,
        )
    elif target.type in ("Practitioner", "Organization"):
        if kind is None:
            ctx.unmap(f"{here}.role", NO_ROLE)
            return
        if target.type == "Practitioner":
            practitioner_role(
                ctx,
                target,
                kind=kind,
                fact_id=fact_id,
                subject=subject,
                organisation=organisation,
                team=name,
                period=period,
            )
        else:
            org = organisation_for(ctx, target)
            ctx.add(
                WorkerRole(
                    id=fact_id,
                    role=kind,
                    organisation=org.id,
                    subject=subject,
                    team=name,
                    period=period,
                )
            )
    else:
        ctx.unmap(f"{here}.member", "only workers and teams become worker roles")
