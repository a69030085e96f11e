"""Partner API: the client-assertion replay register, idempotency keys, outbox ordering and
sealed bodies.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("ordering_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("body_key_id", sa.String(64), nullable=True))
    op.create_index(
        "ix_outbox_ordering", "outbox", ["partner", "ordering_key", "created_at"], unique=False
    )
    op.create_table(
        "oauth_jtis",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("jti", sa.String(255), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name="pk_oauth_jtis"),
    )
    op.create_index("ix_oauth_jtis_expires_at", "oauth_jtis", ["expires_at"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.Text(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("partner", "key", name="pk_idempotency_keys"),
    )
    op.create_index(
        "ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_oauth_jtis_expires_at", table_name="oauth_jtis")
    op.drop_table("oauth_jtis")
    op.drop_index("ix_outbox_ordering", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("body_key_id")
        batch.drop_column("ordering_key")
