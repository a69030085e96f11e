"""Initial schema: index, exchanges, outbox, ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_persons"),
    )
    op.create_table(
        "person_identifiers",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("source_partner", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name="fk_person_identifiers_person_id_persons"
        ),
        sa.PrimaryKeyConstraint("key", name="pk_person_identifiers"),
    )
    op.create_index(
        "ix_person_identifiers_person_id", "person_identifiers", ["person_id"], unique=False
    )
    op.create_table(
        "family_links",
        sa.Column("parent_id", sa.String(36), nullable=False),
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("source_partner", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["persons.id"], name="fk_family_links_parent_id_persons"
        ),
        sa.ForeignKeyConstraint(["child_id"], ["persons.id"], name="fk_family_links_child_id_persons"),
        sa.PrimaryKeyConstraint("parent_id", "child_id", name="pk_family_links"),
    )
    op.create_index("ix_family_links_child_id", "family_links", ["child_id"], unique=False)
    op.create_table(
        "worker_roles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(48), nullable=False),
        sa.Column("organisation", sa.String(16), nullable=False),
        sa.Column("source_partner", sa.String(64), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name="fk_worker_roles_person_id_persons"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_worker_roles"),
        sa.UniqueConstraint(
            "person_id", "role", "organisation", name="uq_worker_roles_subject_role"
        ),
    )
    op.create_table(
        "exchanges",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_exchanges"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("exchange_id", sa.String(36), nullable=False),
        sa.Column("disclosure_id", sa.String(36), nullable=False),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_exchange_id", "outbox", ["exchange_id"], unique=False)
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"], unique=False)
    op.create_table(
        "ledger",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_ledger"),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_head"),
    )
    # The single head row exists from the start, so concurrent writers only ever UPDATE it
    # (under FOR UPDATE) and can never race to create it.
    op.bulk_insert(
        sa.table(
            "ledger_head",
            sa.column("id", sa.Integer()),
            sa.column("seq", sa.BigInteger()),
            sa.column("entry_hash", sa.String()),
        ),
        [{"id": 1, "seq": 0, "entry_hash": "0" * 64}],
    )


def downgrade() -> None:
    for table in (
        "ledger_head",
        "ledger",
        "outbox",
        "exchanges",
        "worker_roles",
        "family_links",
        "person_identifiers",
        "persons",
    ):
        op.drop_table(table)
