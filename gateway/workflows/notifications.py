"""Notifications about a child to the care coordinators of the child's parents (issue 7 item 5).

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
