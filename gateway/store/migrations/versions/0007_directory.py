"""The directory of organisations, teams, workers and roles (issue 7 item 1).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organisation", sa.String(16), nullable=False),
        sa.Column("role", sa.String(48), nullable=False),
        sa.Column("entry_key", sa.String(128), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_directory_entries"),
        sa.UniqueConstraint("organisation", "role", "entry_key", name="uq_directory_entries_key"),
    )
    op.create_index("ix_directory_entries_org_role", "directory_entries", ["organisation", "role"])


def downgrade() -> None:
    op.drop_index("ix_directory_entries_org_role", table_name="directory_entries")
    op.drop_table("directory_entries")
