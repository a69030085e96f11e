"""The ledger's Merkle tree nodes, signed checkpoints, and the audit search index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_ledger_nodes"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name="pk_checkpoints"),
    )
    op.create_table(
        "ledger_search",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(48), nullable=False),
        sa.Column("exchange_id", sa.String(36), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("partner", sa.String(64), nullable=True),
        sa.Column("recipient_partner", sa.String(64), nullable=True),
        sa.Column("agreement_id", sa.String(128), nullable=True),
        sa.Column("purpose", sa.String(64), nullable=True),
        sa.Column("lawful_basis", sa.String(128), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("override_reason", sa.String(64), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_ledger_search"),
    )
    op.create_index("ix_ledger_search_at", "ledger_search", ["at"], unique=False)
    op.create_index("ix_ledger_search_exchange_id", "ledger_search", ["exchange_id"], unique=False)
    op.create_index(
        "ix_ledger_search_event_flagged", "ledger_search", ["event", "flagged"], unique=False
    )
    op.create_index("ix_ledger_search_partner", "ledger_search", ["partner"], unique=False)
    op.create_table(
        "ledger_persons",
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("person_id", "seq", name="pk_ledger_persons"),
    )


def downgrade() -> None:
    op.drop_table("ledger_persons")
    op.drop_index("ix_ledger_search_partner", table_name="ledger_search")
    op.drop_index("ix_ledger_search_event_flagged", table_name="ledger_search")
    op.drop_index("ix_ledger_search_exchange_id", table_name="ledger_search")
    op.drop_index("ix_ledger_search_at", table_name="ledger_search")
    op.drop_table("ledger_search")
    op.drop_table("checkpoints")
    op.drop_table("ledger_nodes")
