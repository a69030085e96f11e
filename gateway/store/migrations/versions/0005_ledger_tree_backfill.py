"""Backfill the Merkle tree and the audit search index for ledger entries written before 0004.

A ledger that already had entries when 0004 created ``ledger_nodes`` has no tree over them; the
committer extends the tree from its stored frontier, so it could not append to such a ledger. This
builds the tree (and the ``ledger_search`` and ``ledger_persons`` rows) for every entry beyond
the stored tree, from the entries exactly as stored. On a new or already-covered ledger it does
nothing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

from gateway.audit import merkle
from gateway.audit.tree import index_rows, load_frontier, node_rows
from gateway.store.tables import ledger, ledger_nodes, ledger_persons, ledger_search

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    conn = op.get_bind()
    leaves = conn.execute(
        sa.select(sa.func.count()).select_from(ledger_nodes).where(ledger_nodes.c.level == 0)
    ).scalar_one()
    indexed = conn.execute(sa.select(sa.func.max(ledger_search.c.seq))).scalar_one() or 0
    size = int(leaves)
    frontier = load_frontier(conn, size)
    after = min(size, int(indexed))
    while True:
        rows = conn.execute(
            sa.select(ledger.c.seq, ledger.c.entry)
            .where(ledger.c.seq > after)
            .order_by(ledger.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        fresh = [(seq, entry) for seq, entry in rows if seq > size]
        if fresh:
            if fresh[0][0] != size + 1:
                raise RuntimeError(f"ledger entry {size + 1} is missing: run joinedup audit verify")
            appended = merkle.append(
                size, frontier, [merkle.leaf_hash(entry.encode()) for _, entry in fresh]
            )
            conn.execute(sa.insert(ledger_nodes), node_rows(appended.nodes))
            size, frontier = appended.size, appended.frontier
        searches, persons = [], []
        for seq, entry in rows:
            if seq <= indexed:
                continue
            document = orjson.loads(entry)
            search, named = index_rows(seq, document.get)
            searches.append(search)
            persons.extend(named)
        if searches:
            conn.execute(sa.insert(ledger_search), searches)
        if persons:
            conn.execute(sa.insert(ledger_persons), persons)
        after = rows[-1][0]


def downgrade() -> None:
    # The rows belong to 0004's tables, which its own downgrade drops.
    pass
