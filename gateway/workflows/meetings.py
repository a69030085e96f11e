"""Meeting invitations and replies between the agencies, and the conference's target date.

STUB (groundwork): to be built for issue 7 item 4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from gateway.pipeline import Exchange
    from gateway.services import Services


def resolve_invitation(ex: Exchange, conn: Connection, services: Services) -> None:
    """Find who a meeting invitation goes to."""
    ex.no_recipient_reason = "meeting invitations are not routed yet"


def resolve_reply(ex: Exchange, conn: Connection, services: Services) -> None:
    """Find the organiser a reply goes back to."""
    ex.no_recipient_reason = "meeting replies are not routed yet"
