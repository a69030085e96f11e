"""Think-family flags already raised, so each is raised once (issue 7 item 2).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "think_family_flags",
        sa.Column("parent_id", sa.String(36), nullable=False),
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("recipient_organisation", sa.String(16), nullable=False),
        sa.Column("worker_sha256", sa.String(64), nullable=False),
        sa.Column("exchange_id", sa.String(36), nullable=False),
        sa.Column("disclosure_id", sa.String(36), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "parent_id", "child_id", "recipient_organisation", name="pk_think_family_flags"
        ),
    )


def downgrade() -> None:
    op.drop_table("think_family_flags")
