"""Verify the whole ledger: sequence, links, hashes and head. Names the first bad entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import rfc8785
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.chain import GENESIS, chain_hash
from gateway.store.tables import ledger, ledger_head


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a verification: intact, or the first bad sequence number and why."""

    intact: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None


async def _rows(
    conn: AsyncConnection, batch: int = 5000
) -> AsyncIterator[tuple[int, str, str, str]]:
    after = None
    while True:
        query = select(ledger.c.seq, ledger.c.entry, ledger.c.prev_hash, ledger.c.entry_hash)
        if after is not None:
            query = query.where(ledger.c.seq > after)
        result = await conn.execute(query.order_by(ledger.c.seq).limit(batch))
        rows = result.all()
        if not rows:
            return
        for row in rows:
            yield (row[0], row[1], row[2], row[3])
        after = rows[-1][0]


async def verify_ledger(conn: AsyncConnection) -> Verdict:
    """Walk the ledger in order and check every link; stop at the first bad entry."""
    expected_seq = 1
    running = GENESIS
    count = 0
    async for seq, entry, prev_hash, entry_hash in _rows(conn):
        if seq != expected_seq:
            bad = min(seq, expected_seq)
            return Verdict(False, count, bad, f"sequence gap or insertion: expected {expected_seq}")
        if prev_hash != running:
            return Verdict(False, count, seq, "prev_hash does not match the previous entry")
        try:
            document = orjson.loads(entry)
        except orjson.JSONDecodeError:
            return Verdict(False, count, seq, "entry is not valid JSON")
        if not isinstance(document, dict) or document.get("seq") != seq:
            return Verdict(False, count, seq, "entry's own seq does not match its position")
        if bytes(rfc8785.dumps(document)).decode() != entry:
            return Verdict(False, count, seq, "entry is not in canonical form (edited)")
        if chain_hash(running, entry.encode()) != entry_hash:
            return Verdict(False, count, seq, "entry hash does not match its content")
        running = entry_hash
        expected_seq += 1
        count += 1
    head = (await conn.execute(select(ledger_head.c.seq, ledger_head.c.entry_hash))).first()
    head_seq, head_hash = (0, GENESIS) if head is None else (head[0], head[1])
    if head_seq != count or head_hash != running:
        bad = min(head_seq, count) + 1
        return Verdict(False, count, bad, "ledger head does not match the last entry (truncated?)")
    return Verdict(True, count)
