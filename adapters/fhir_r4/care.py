"""EpisodeOfCare and its care manager to MentalHealthEpisode, Worker and WorkerRole facts.

``EpisodeOfCare.careManager`` (R4: Practitioner or PractitionerRole) is the care coordinator / key
worker, for the episode's patient. Contacts of the role (PractitionerRole.telecom, else the
Practitioner's own) go on the WorkerRole, the out-of-hours line separately; the Practitioner's
contacts go on the Worker. The team is the PractitionerRole's ``healthcareService`` display, else
the episode's care team (the CareTeam's name, or the reference's display).
"""

from __future__ import annotations

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.organisations import organisation_id
from adapters.fhir_r4.people import person_reference
from adapters.fhir_r4.roles import practitioner_role, role_for, role_of
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.walk import JsonObject, child_object, child_period, child_str, objects
from schemas.facts import EpisodeStatus, MentalHealthEpisode, RoleKind

_STATUSES = {s.value: s for s in EpisodeStatus}
ELEMENTS = elements({"status", "patient", "managingOrganization", "period", "careManager", "team"})


def read_episode(ctx: ReadContext, entry: Entry) -> None:
    """Add the episode, and its care coordinator's Worker and WorkerRole, to the facts."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    ctx.mapped.add(entry.index)
    report_unread(ctx, entry, ELEMENTS)
    subject = person_reference(ctx, resource, "patient", path)
    status = child_str(resource, "status", path, issues, required=True)
    if status is not None and status not in _STATUSES:
        issues.add(f"{path}.status", "is not an EpisodeOfCare status", "code-invalid")
    managing = child_object(resource, "managingOrganization", path, issues)
    organisation = organisation_id(ctx, managing, f"{path}.managingOrganization")
    team = _team(ctx, resource, path)
    coordinator = None
    manager = child_object(resource, "careManager", path, issues)
    if manager is not None and subject is not None:
        coordinator = _care_coordinator(
            ctx,
            manager,
            f"{path}.careManager",
            episode=entry,
            subject_id=subject,
            episode_organisation=organisation,
            episode_team=team,
        )
    if status not in _STATUSES or subject is None:
        return
    ctx.add(
        MentalHealthEpisode(
            id=f"mental-health-episode-{entry.index}",
            subject=subject,
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
            target = ctx.follow(reference, team_path, ("CareTeam",), required=False)
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
    target = ctx.follow(manager, path, ("Practitioner", "PractitionerRole"), required=False)
    if target is None:
        return None
    fact_id = f"worker-role-{episode.index}"
    role = target if target.type == "PractitionerRole" else role_of(ctx, target)
    if role is None:
        return practitioner_role(
            ctx,
            target,
            kind=RoleKind.CARE_COORDINATOR,
            fact_id=fact_id,
            subject=subject_id,
            organisation=episode_organisation,
            team=episode_team,
            contacts_from_practitioner=True,
        )
    if "practitioner" not in role.resource:
        ctx.issues.add(
            f"{role.path}.practitioner", "is required for a care coordinator", "required"
        )
        return None
    return role_for(
        ctx,
        role,
        subject=subject_id,
        kind=RoleKind.CARE_COORDINATOR,
        fact_id=fact_id,
        organisation=episode_organisation,
        team=episode_team,
    )
