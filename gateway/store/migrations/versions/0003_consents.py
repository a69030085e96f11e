"""Consent directives in the index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("source_partner", sa.String(64), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("details_sha256", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name="fk_consents_person_id_persons"),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
        sa.UniqueConstraint("person_id", "details_sha256", name="uq_consents_directive"),
    )
    op.create_index("ix_consents_person_id", "consents", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_consents_person_id", table_name="consents")
    op.drop_table("consents")
