"""Notifications about a child to the care coordinators of the child's parents (issue 7 item 5),
and consent directives to every other organisation working with the person or their family.

A child protection plan started or ended (``cp-plan-started``, ``cp-plan-ended``) and a change of
allocated worker (``allocated-worker-changed``) go to the care coordinator of each of the child's
parents: the parents the message links to the child and those the index links
(``gateway.workflows.family``). The parent's crisis events go the other way, to each child's
allocated social worker, routed by the pipeline itself (``gateway.pipeline._resolve_children``).

Each candidate is decided under the agreements like any other (flow ``child-protection-status`` in
the example agreement); a recipient whose flow carries a **subscription** that leaves this event out
(``gateway.policy.engine.check_subscription``) is refused with ``not-subscribed``, recorded in the
ledger like every other decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

from gateway.recipients import Candidate
from gateway.workflows import family
from schemas.facts import RoleKind

if TYPE_CHECKING:
    from gateway.pipeline import Exchange
    from gateway.services import Services


def resolve_child_notification(ex: Exchange, conn: Connection, services: Services) -> None:
    """Find the care coordinators of the child's parents."""
    snapshot = ex.snapshot
    if snapshot is None:
        raise RuntimeError("resolve reads the snapshot first")
    message = ex.parsed
    parents = family.relatives(ex, snapshot, of=message.subject, want="parents")
    ex.candidates.extend(
        family.candidates_in_role(
            snapshot,
            parents,
            RoleKind.CARE_COORDINATOR,
            not_from=message.provenance.organisation,
        )
    )
    if not ex.candidates:
        ex.no_recipient_reason = (
            "no parent of this child is known to have a care coordinator"
            if parents
            else "no parent of this child is known to the index"
        )


def resolve_consent_directive(ex: Exchange, conn: Connection, services: Services) -> None:
    """A consent directive goes to every other organisation working with the person or their
    family, so that it honours the directive too: the person's own workers elsewhere (a care
    coordinator, an allocated social worker), the allocated social workers of the person's
    children and the care coordinators of the person's parents. Each is decided under the
    agreements (``consent-directives-to-council`` and ``-to-trust`` in the example)."""
    snapshot = ex.snapshot
    if snapshot is None:
        raise RuntimeError("resolve reads the snapshot first")
    message = ex.parsed
    sender = message.provenance.organisation
    person = ex.known.get(message.subject or "")
    found: list[Candidate] = []
    if person is not None:
        for role in (RoleKind.CARE_COORDINATOR, RoleKind.ALLOCATED_SOCIAL_WORKER):
            found.extend(family.candidates_in_role(snapshot, [person], role, not_from=sender))
    children = family.relatives(ex, snapshot, of=message.subject, want="children")
    found.extend(
        family.candidates_in_role(
            snapshot, children, RoleKind.ALLOCATED_SOCIAL_WORKER, not_from=sender
        )
    )
    parents = family.relatives(ex, snapshot, of=message.subject, want="parents")
    found.extend(
        family.candidates_in_role(snapshot, parents, RoleKind.CARE_COORDINATOR, not_from=sender)
    )
    # One directive per organisation: the first worker found there is its addressee.
    seen: set[str] = set()
    for candidate in found:
        if candidate.organisation not in seen:
            seen.add(candidate.organisation)
            ex.candidates.append(candidate)
    if not ex.candidates:
        ex.no_recipient_reason = (
            "no other organisation is known to work with this person or their family"
        )
