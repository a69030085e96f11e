"""Meetings between the agencies and their replies (issue 7 item 4).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meetings",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organiser_organisation", sa.String(16), nullable=False),
        sa.Column("organiser_partner", sa.String(64), nullable=False),
        sa.Column("organiser_role", sa.String(48), nullable=False),
        sa.Column("reference", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=True),
        sa.Column("start_date", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject_person_id", sa.String(36), nullable=False),
        sa.Column("invited", sa.Text(), nullable=False),
        sa.Column("target_date", sa.String(10), nullable=True),
        sa.Column("after_target", sa.Boolean(), nullable=True),
        sa.Column("replies", sa.Text(), nullable=False),
        sa.Column("exchange_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_person_id"],
            ["persons.id"],
            name="fk_meetings_subject_person_id_persons",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_meetings"),
        sa.UniqueConstraint("organiser_organisation", "reference", name="uq_meetings_reference"),
    )
    op.create_index("ix_meetings_reference", "meetings", ["reference"], unique=False)
    op.create_index(
        "ix_meetings_subject_person_id", "meetings", ["subject_person_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_meetings_subject_person_id", table_name="meetings")
    op.drop_index("ix_meetings_reference", table_name="meetings")
    op.drop_table("meetings")
