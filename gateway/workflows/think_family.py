"""Think family: a parent in adult mental health with a child open to children's social care.

STUB (groundwork): to be built for issue 7 item 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from gateway.pipeline import Exchange
    from gateway.services import Services


def watch(ex: Exchange, conn: Connection, services: Services) -> None:
    """Add think-family flags for links this exchange makes known (none yet)."""
