"""Referrals to the front door and their acknowledgements and escalations (issue 7 item 3).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("exchange_id", sa.String(36), nullable=False),
        sa.Column("reference", sa.String(255), nullable=False),
        sa.Column("referrer_organisation", sa.String(16), nullable=False),
        sa.Column("referrer_partner", sa.String(64), nullable=False),
        sa.Column("referrer_role", sa.Text(), nullable=False),
        sa.Column("front_door_organisation", sa.String(16), nullable=False),
        sa.Column("subject_person_id", sa.String(36), nullable=True),
        sa.Column("child_person_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("ack_deadline", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("status_at", UTCDateTime(), nullable=False),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_referrals"),
        sa.ForeignKeyConstraint(
            ["subject_person_id"],
            ["persons.id"],
            name="fk_referrals_subject_person_id_persons",
        ),
        sa.ForeignKeyConstraint(
            ["child_person_id"], ["persons.id"], name="fk_referrals_child_person_id_persons"
        ),
        sa.UniqueConstraint(
            "front_door_organisation",
            "reference",
            "referrer_organisation",
            name="uq_referrals_reference",
        ),
    )
    op.create_index(
        "ix_referrals_due", "referrals", ["escalated_at", "acknowledged_at", "ack_deadline"]
    )


def downgrade() -> None:
    op.drop_index("ix_referrals_due", table_name="referrals")
    op.drop_table("referrals")
