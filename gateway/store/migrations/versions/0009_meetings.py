"""Meetings between the agencies and their replies (issue 7 item 4).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # groundwork: the meetings workflow's tables are added here


def downgrade() -> None:
    pass
