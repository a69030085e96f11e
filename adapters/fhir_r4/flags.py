"""Flag to canonical Risk, or to a social care plan.

A Flag is one of two things (the decision, documented in docs/mappings/fhir-r4.md):

* **a plan flag**, when ``Flag.code`` has a coding in the local ``plan-kind`` code system (the
  CP-IS plan types: child protection, looked after, unborn child protection, and child in need):
  the plan of a SocialCareEpisode for the flag's subject, with ``Flag.period`` as the plan's
  period, the author Organization as the responsible council, and an ``abuse-category`` coding
  (NEG, PHY, SAB, EMO, MUL) as the plan's category. This is what the gateway itself renders for the
  council's CP plan started / ended and child status messages, so they read back. Plan flags with
  the same subject and author form one episode; the allocated worker is the allocated social
  worker WorkerRole for the same child, where the message has exactly one;
* otherwise **a risk**: a worded summary (``code.text``, else the first coding's display: a risk
  without words is refused, since a label is never the point), its category (the first
  category's text, else its first coding's display or code) and period.

A flag entered in error is not mapped; nor is an inactive one with no end date, since when it ended
cannot be known. Either is reported as unmapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.codes import (
    ABUSE_CATEGORIES,
    ABUSE_CATEGORY_SYSTEM,
    PLAN_KIND_SYSTEM,
    PLAN_KINDS,
)
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.organisations import organisation_id
from adapters.fhir_r4.people import person_reference
from adapters.fhir_r4.security import merge, read_security
from adapters.fhir_r4.walk import (
    JsonObject,
    child_object,
    child_period,
    child_str,
    codings,
    objects,
)
from schemas.facts import (
    AbuseCategory,
    Period,
    Plan,
    PlanKind,
    Risk,
    RoleKind,
    SocialCareEpisode,
    WorkerRole,
)
from schemas.labels import SecurityLabels

ELEMENTS = elements({"status", "category", "code", "subject", "period", "author"})
MAX_SUMMARY = 4000


@dataclass(slots=True)
class _Episode:
    first: int
    subject: str
    organisation: str | None
    plans: list[Plan] = field(default_factory=list)
    labels: SecurityLabels = field(default_factory=SecurityLabels)


@dataclass(slots=True)
class Flags:
    """Plan flags read so far, grouped into episodes by (subject, organisation)."""

    episodes: dict[tuple[str, str | None], _Episode] = field(default_factory=dict)


def read_flag(ctx: ReadContext, entry: Entry, flags: Flags) -> None:
    """A Flag entry: a Risk, or a plan added to its episode in ``flags``."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    ctx.mapped.add(entry.index)
    status = child_str(resource, "status", path, issues, required=True)
    if status == "entered-in-error":
        ctx.unmap(path, "a flag entered in error is not a risk or a plan")
        return
    period = child_period(resource, "period", path, issues)
    if status == "inactive" and (period is None or period.end is None):
        ctx.unmap(path, "an inactive flag with no end date: when it ended is not known")
        return
    report_unread(ctx, entry, ELEMENTS)
    code = child_object(resource, "code", path, issues, required=True)
    plan_kind, category = _plan(ctx, code, f"{path}.code") if code is not None else (None, None)
    subject = person_reference(ctx, resource, "subject", path)
    labels = read_security(resource, path, issues)
    if plan_kind is not None:
        author = child_object(resource, "author", path, issues)
        organisation = organisation_id(ctx, author, f"{path}.author")
        if subject is None:
            return
        episode = flags.episodes.setdefault(
            (subject, organisation), _Episode(entry.index, subject, organisation)
        )
        episode.plans.append(Plan(kind=plan_kind, period=period or Period(), category=category))
        episode.labels = merge(episode.labels, labels)
        return
    if "author" in resource:
        ctx.unmap(f"{path}.author", "a risk does not record who raised it")
    summary = _summary(ctx, code, f"{path}.code") if code is not None else None
    if summary is None or subject is None:
        return
    ctx.risks[entry.index] = ctx.add(
        Risk(
            id=f"risk-{entry.index}",
            subject=subject,
            summary=summary,
            category=_category(ctx, resource, path),
            period=period,
            labels=labels,
        )
    )


def _plan(
    ctx: ReadContext, code: JsonObject, path: str
) -> tuple[PlanKind | None, AbuseCategory | None]:
    kind = category = None
    for coding_path, system, value, _ in codings(code, path, ctx.issues):
        if system == PLAN_KIND_SYSTEM:
            if value not in PLAN_KINDS:
                ctx.issues.add(f"{coding_path}.code", "is not a plan kind", "code-invalid")
            elif kind is None:
                kind = PLAN_KINDS[value]
        elif system == ABUSE_CATEGORY_SYSTEM:
            if value not in ABUSE_CATEGORIES:
                ctx.issues.add(f"{coding_path}.code", "is not a category of abuse", "code-invalid")
            elif category is None:
                category = ABUSE_CATEGORIES[value]
    if category is not None and kind is None:
        ctx.issues.add(path, "a category of abuse belongs to a plan: give its plan kind", "invalid")
    return kind, category


def _summary(ctx: ReadContext, code: JsonObject, path: str) -> str | None:
    summary = child_str(code, "text", path, ctx.issues)
    if summary is None:
        summary = next(
            (display for _, _, _, display in codings(code, path, ctx.issues) if display), None
        )
    if summary is None:
        ctx.issues.add(
            f"{path}.text",
            "is required: a risk is shared in words (code.text, or a coding's display)",
            "required",
        )
        return None
    if len(summary) > MAX_SUMMARY:
        ctx.issues.add(f"{path}.text", f"is longer than {MAX_SUMMARY} characters", "too-long")
        return None
    return summary


def _category(ctx: ReadContext, resource: JsonObject, path: str) -> str | None:
    for concept_path, concept in objects(resource, "category", path, ctx.issues):
        text = child_str(concept, "text", concept_path, ctx.issues)
        if text is not None:
            return text
        for _, _, code, display in codings(concept, concept_path, ctx.issues):
            if display or code:
                return display or code
    return None


def add_episodes(ctx: ReadContext, flags: Flags) -> None:
    """One SocialCareEpisode per (child, council) from the plan flags read."""
    for episode in flags.episodes.values():
        allocated = [
            f.id
            for f in ctx.facts
            if isinstance(f, WorkerRole)
            and f.subject == episode.subject
            and f.role is RoleKind.ALLOCATED_SOCIAL_WORKER
        ]
        ctx.add(
            SocialCareEpisode(
                id=f"social-care-episode-{episode.first}",
                subject=episode.subject,
                organisation=episode.organisation,
                plans=tuple(episode.plans),
                allocated_worker=allocated[0] if len(allocated) == 1 else None,
                labels=episode.labels,
            )
        )
