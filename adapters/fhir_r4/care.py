"""EpisodeOfCare and its care manager to MentalHealthEpisode, Worker and WorkerRole facts.

``EpisodeOfCare.careManager`` (R4: Practitioner or PractitionerRole) is the care coordinator / key
worker. Contacts of the role (PractitionerRole.telecom, else the Practitioner's own) go on the
WorkerRole, the out-of-hours line separately; the Practitioner's contacts go on the Worker. The team
is the PractitionerRole's ``healthcareService`` display, else the episode's care team.
"""

from __future__ import annotations

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.organisations import organisation_id
from adapters.fhir_r4.people import read_person_name
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.telecom import read_telecom
from adapters.fhir_r4.walk import JsonObject, child_object, child_period, child_str, objects
from schemas.facts import (
    EpisodeStatus,
    MentalHealthEpisode,
    RoleKind,
    Worker,
    WorkerRole,
)

_STATUSES = {s.value: s for s in EpisodeStatus}


def read_episode(ctx: ReadContext, entry: Entry, subject_id: str) -> None:
    """Add the episode, and its care coordinator's Worker and WorkerRole, to the facts."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    status = child_str(resource, "status", path, issues, required=True)
    if status is not None and status not in _STATUSES:
        issues.add(f"{path}.status", "is not an EpisodeOfCare status", "code-invalid")
    managing = child_object(resource, "managingOrganization", path, issues)
    organisation = organisation_id(ctx, managing, f"{path}.managingOrganization")
    team = _team(ctx, resource, path)
    coordinator = None
    manager = child_object(resource, "careManager", path, issues)
    if manager is not None:
        coordinator = _care_coordinator(
            ctx,
            manager,
            f"{path}.careManager",
            episode=entry,
            subject_id=subject_id,
            episode_organisation=organisation,
            episode_team=team,
        )
    if status not in _STATUSES:
        return
    ctx.add(
        MentalHealthEpisode(
            id=f"mental-health-episode-{entry.index}",
            subject=subject_id,
            status=_STATUSES[status],
            period=child_period(resource, "period", path, issues),
            organisation=organisation,
            team=team,
            care_coordinator=coordinator,
            labels=read_security(resource, path, issues),
        )
    )


def _team(ctx: ReadContext, resource: JsonObject, path: str) -> str | None:
    """The first care team's name (from the CareTeam entry) or its display."""
    for team_path, reference in objects(resource, "team", path, ctx.issues):
        if "reference" in reference:
            target = ctx.bundle.resolve(reference, team_path, ctx.issues, ("CareTeam",))
            if target is not None:
                name = child_str(target.resource, "name", target.path, ctx.issues)
                if name is not None:
                    return name
        return child_str(reference, "display", team_path, ctx.issues)
    return None


def _care_coordinator(
    ctx: ReadContext,
    manager: JsonObject,
    path: str,
    *,
    episode: Entry,
    subject_id: str,
    episode_organisation: str | None,
    episode_team: str | None,
) -> str | None:
    """The WorkerRole id for the care manager reference at ``path``."""
    target = ctx.bundle.resolve(manager, path, ctx.issues, ("Practitioner", "PractitionerRole"))
    if target is None:
        return None
    role: Entry | None
    if target.type == "PractitionerRole":
        role = target
        reference = child_object(role.resource, "practitioner", role.path, ctx.issues)
        practitioner = (
            None
            if reference is None
            else ctx.bundle.resolve(
                reference, f"{role.path}.practitioner", ctx.issues, ("Practitioner",)
            )
        )
        if reference is None:
            ctx.issues.add(
                f"{role.path}.practitioner", "is required for a care coordinator", "required"
            )
    else:
        practitioner, role = target, _role_of(ctx, target)
    if practitioner is None:
        return None
    worker = _worker(ctx, practitioner)
    source = role or practitioner
    contacts = read_telecom(source.resource, source.path, ctx.issues, ctx.received_at)
    organisation, team, period = episode_organisation, episode_team, None
    if role is not None:
        organisation = (
            organisation_id(
                ctx,
                child_object(role.resource, "organization", role.path, ctx.issues),
                f"{role.path}.organization",
            )
            or episode_organisation
        )
        team = _service_name(ctx, role) or episode_team
        period = child_period(role.resource, "period", role.path, ctx.issues)
    return ctx.add(
        WorkerRole(
            id=f"worker-role-{episode.index}",
            role=RoleKind.CARE_COORDINATOR,
            worker=worker.id,
            organisation=organisation,
            subject=subject_id,
            team=team,
            telecom=tuple(c for c in contacts if not c.out_of_hours),
            out_of_hours=tuple(c for c in contacts if c.out_of_hours),
            period=period,
            labels=read_security(source.resource, source.path, ctx.issues),
        )
    )


def _role_of(ctx: ReadContext, practitioner: Entry) -> Entry | None:
    """The PractitionerRole in the Bundle for this Practitioner, if there is one."""
    for role in ctx.bundle.of_type("PractitionerRole"):
        reference = role.resource.get("practitioner")
        if isinstance(reference, dict):
            target = reference.get("reference")
            if isinstance(target, str) and ctx.bundle.lookup(target) is practitioner:
                return role
    return None


def _service_name(ctx: ReadContext, role: Entry) -> str | None:
    for service_path, service in objects(role.resource, "healthcareService", role.path, ctx.issues):
        return child_str(service, "display", service_path, ctx.issues)
    return None


def _worker(ctx: ReadContext, practitioner: Entry) -> Worker:
    """The Worker fact for a Practitioner entry (one fact however often it is referenced)."""
    known = ctx.workers.get(practitioner.index)
    if known is not None:
        return known
    resource, path = practitioner.resource, practitioner.path
    worker = Worker(
        id=f"worker-{practitioner.index}",
        name=read_person_name(resource, path, ctx.issues),
        telecom=read_telecom(resource, path, ctx.issues, ctx.received_at),
        labels=read_security(resource, path, ctx.issues),
    )
    ctx.add(worker)
    ctx.workers[practitioner.index] = worker
    return worker
