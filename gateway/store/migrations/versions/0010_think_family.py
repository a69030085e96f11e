"""Think-family flags already raised, so each is raised once (issue 7 item 2).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # groundwork: the think_family workflow's tables are added here


def downgrade() -> None:
    pass
