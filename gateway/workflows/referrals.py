"""Referral to the council's front door, acknowledgements back, escalation when none comes.

STUB (groundwork): to be built for issue 7 item 3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from gateway.pipeline import Exchange
    from gateway.services import Services


def resolve_referral(ex: Exchange, conn: Connection, services: Services) -> None:
    """Find the front door a referral goes to."""
    ex.no_recipient_reason = "referrals are not routed yet"


def resolve_referral_status(ex: Exchange, conn: Connection, services: Services) -> None:
    """Find the referrer an acknowledgement goes back to."""
    ex.no_recipient_reason = "referral acknowledgements are not routed yet"
