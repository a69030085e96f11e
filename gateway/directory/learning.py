"""The directory kept current from partner messages.

STUB (groundwork): to be built for issue 7 item 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from gateway.pipeline import Exchange
    from gateway.services import Services


def watch(ex: Exchange, conn: Connection, services: Services) -> None:
    """Plan directory updates from organisational roles a partner's message names (none yet)."""
