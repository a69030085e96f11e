"""Social care episodes in the index (CIN census import, CSC child records).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "social_care_episodes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("organisation", sa.String(16), nullable=False),
        sa.Column("referral_date", sa.String(10), nullable=False),
        sa.Column("source_partner", sa.String(64), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name="fk_social_care_episodes_person_id_persons"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_social_care_episodes"),
        sa.UniqueConstraint(
            "person_id", "organisation", "referral_date", name="uq_social_care_episodes_key"
        ),
    )


def downgrade() -> None:
    op.drop_table("social_care_episodes")
