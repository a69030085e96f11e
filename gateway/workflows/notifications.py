"""Notifications about a child to the parents' care coordinators (plans, worker changes).

STUB (groundwork): to be built for issue 7 item 5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from gateway.pipeline import Exchange
    from gateway.services import Services


def resolve_child_notification(ex: Exchange, conn: Connection, services: Services) -> None:
    """Find the care coordinators of the child's parents."""
    ex.no_recipient_reason = f"{ex.parsed.kind.value} messages are not routed yet"
