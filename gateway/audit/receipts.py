"""Receipts: inclusion proofs of ledger entries against a signed checkpoint.

A receipt is, at its top level, exactly a proof document in the form of the C2SP /
transparency-dev inclusion vectors (``leafIdx``, ``treeSize``, ``root``, ``leafHash``, ``proof``,
hashes in base64) for the first of the entries asked about, plus ``seq``, ``exchangeId``, the
signed ``checkpoint`` note whose tree the proofs lead to, and ``entries``: one proof per entry.
``joinedup audit verify-receipt`` checks one with no server and no database.

Proofs are against the newest checkpoint, if it covers every entry asked about; otherwise there is
no receipt yet (None) and the caller may have one signed (``Checkpointer.on_demand``). Every proof
is verified before it is handed out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import merkle
from gateway.audit.checkpoints import newest_stored, parse_text
from gateway.audit.merkle import ProofError
from gateway.audit.proofs import b64
from gateway.audit.signing import NoteError, split_note
from gateway.audit.tree import TreeError, fetch_nodes_async, frontier_from, source
from gateway.store.tables import exchanges, ledger, ledger_search


class ReceiptError(RuntimeError):
    """The stored ledger disagrees with itself (an entry, node or checkpoint is missing or does
    not match): no receipt can be given. ``joinedup audit verify`` will say where."""


def _inclusion(index: int, size: int) -> Any:
    return lambda node: merkle.inclusion_proof(index, size, node)


async def receipt_for_seqs(conn: AsyncConnection, seqs: Sequence[int]) -> dict[str, Any] | None:
    """The receipt for these ledger entries, or None if no checkpoint covers them all yet.

    Raises ReceiptError if the stored entries, tree and checkpoint do not agree.
    """
    wanted = sorted(set(seqs))
    if not wanted or wanted[0] < 1:
        return None
    newest = await newest_stored(conn)
    if newest is None or newest[0] < wanted[-1]:
        return None
    size, note = newest[0], newest[1]
    try:
        _origin, noted_size, root = parse_text(split_note(note)[0])
    except NoteError as exc:
        raise ReceiptError(f"checkpoint {size} is malformed: {exc}") from None
    if noted_size != size:
        raise ReceiptError(f"checkpoint {size} states tree size {noted_size}")
    rows = await conn.execute(
        select(ledger.c.seq, ledger.c.entry).where(ledger.c.seq.in_(wanted)).order_by(ledger.c.seq)
    )
    entries = {int(seq): entry for seq, entry in rows}
    missing = [s for s in wanted if s not in entries]
    if missing:
        raise ReceiptError(f"ledger entry {missing[0]} is missing")
    keys = list(merkle.frontier_keys(size))
    for seq in wanted:
        keys += merkle.needed(_inclusion(seq - 1, size))
    nodes = await fetch_nodes_async(conn, keys)
    proofs: list[dict[str, Any]] = []
    try:
        if merkle.root_from_frontier(frontier_from(nodes, size)) != root:
            raise ReceiptError(f"the stored tree does not match checkpoint {size}")
        for seq in wanted:
            leaf = merkle.leaf_hash(entries[seq].encode())
            proof = merkle.inclusion_proof(seq - 1, size, source(nodes))
            merkle.verify_inclusion(seq - 1, size, leaf, proof, root)
            document = orjson.loads(entries[seq])
            proofs.append(
                {
                    "seq": seq,
                    "event": document.get("event") if isinstance(document, dict) else None,
                    "exchangeId": (
                        document.get("exchange_id") if isinstance(document, dict) else None
                    ),
                    "leafIdx": seq - 1,
                    "leafHash": b64(leaf),
                    "proof": [b64(p) for p in proof],
                }
            )
    except (TreeError, ProofError) as exc:
        raise ReceiptError(f"the stored tree does not prove the entries: {exc}") from None
    first = proofs[0]
    return {
        "exchangeId": first["exchangeId"],
        "seq": first["seq"],
        "leafIdx": first["leafIdx"],
        "treeSize": size,
        "root": b64(root),
        "leafHash": first["leafHash"],
        "proof": first["proof"],
        "checkpoint": note,
        "entries": [
            {k: p[k] for k in ("seq", "event", "leafIdx", "leafHash", "proof")} for p in proofs
        ],
    }


async def exchange_seqs(conn: AsyncConnection, exchange_id: str, partner: str) -> list[int]:
    """The ledger entries of an exchange ``partner`` sent; empty if unknown or someone else's."""
    owner = (
        await conn.execute(select(exchanges.c.partner).where(exchanges.c.id == exchange_id))
    ).scalar_one_or_none()
    if owner is None or owner != partner:
        return []
    rows = await conn.execute(
        select(ledger_search.c.seq)
        .where(ledger_search.c.exchange_id == exchange_id)
        .order_by(ledger_search.c.seq)
    )
    return [int(r[0]) for r in rows]
