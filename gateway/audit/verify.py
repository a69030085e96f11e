"""Verify the whole ledger: the chain, the Merkle tree and every checkpoint. Names the first bad
entry.

One pass over the entries in ``seq`` order, in batches, checks:

- **the chain**: no gap, each entry links to its predecessor's hash, is canonical RFC 8785 JSON
  carrying its own ``seq``, and hashes to its stored ``entry_hash``; the head row matches the
  last entry;
- **the tree**: the tree is recomputed from the entries (leaf = SHA-256(0x00 ‖ entry bytes)) and
  every node it completes must equal the row stored in ``ledger_nodes`` (a tampered or missing
  node is named by the last entry it covers); no stored node may lie beyond the last entry;
- **every checkpoint**, in the database and in ``checkpoint_dir``: the signed note verifies
  (signing key or configured verifier keys), states the size and root its row records, the
  directory copy agrees with the database's, its root equals the recomputed root at its size,
  and consecutive checkpoints are consistent (proofs from the stored nodes, verified);
- **truncation**: the ledger is not shorter than the newest checkpoint in either place.

A problem is reported at the first entry it concerns, in ledger order: an entry's own seq; a
node's last entry; for a checkpoint whose note or row is wrong, its tree size; for a checkpoint
whose root no longer matches the entries, the first entry after the previous good checkpoint
(the entries it vouched for that were rewritten lie between the two); for a truncation, the
first missing seq.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import rfc8785
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import merkle
from gateway.audit.chain import GENESIS, canonical_json, chain_hash
from gateway.audit.checkpoints import (
    SUFFIX,
    directory_sizes,
    parse_text,
    read_copy,
    stored_checkpoints,
)
from gateway.audit.merkle import ProofError
from gateway.audit.signing import NoteError, Verifier, open_note, split_note
from gateway.audit.tree import TreeError, fetch_nodes_async, source
from gateway.store.tables import ledger, ledger_head, ledger_nodes

BATCH = 5000


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a verification: intact, or the first bad sequence number and why."""

    intact: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None
    tree_size: int = 0  # the head's seq when verification started
    checkpoints: int = 0  # distinct checkpoint sizes checked against the tree
    signatures_checked: bool = False  # False when no verifier keys were given


@dataclass
class _Checkpoint:
    """What is known of the checkpoint at one tree size, from the database and the directory."""

    size: int
    places: list[str] = field(default_factory=list)  # where a copy was found
    roots: list[tuple[str, bytes]] = field(default_factory=list)  # (where, root stated)
    problem: str | None = None  # a note or row that is itself wrong


class _Found(Exception):  # control flow inside this module; never escapes it
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq
        self.reason = reason


def is_canonical(entry: str, document: Any) -> bool:
    """Is ``entry`` the RFC 8785 form of ``document``?"""
    try:
        return canonical_json(document) == entry.encode()
    except rfc8785.CanonicalizationError:
        return False


async def _rows(
    conn: AsyncConnection, batch: int
) -> AsyncIterator[list[tuple[int, str, str, str]]]:
    after = None
    while True:
        query = select(ledger.c.seq, ledger.c.entry, ledger.c.prev_hash, ledger.c.entry_hash)
        if after is not None:
            query = query.where(ledger.c.seq > after)
        result = await conn.execute(query.order_by(ledger.c.seq).limit(batch))
        rows = [(int(r[0]), r[1], r[2], r[3]) for r in result]
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _check_entry(seq: int, expected: int, entry: str, hashes: tuple[str, str, str]) -> None:
    """One entry's own checks; ``hashes`` = (its prev_hash, the running hash, its entry_hash)."""
    prev, running, stored = hashes
    if seq != expected:
        raise _Found(min(seq, expected), f"sequence gap or insertion: expected {expected}")
    if prev != running:
        raise _Found(seq, "prev_hash does not match the previous entry")
    try:
        document = orjson.loads(entry)
    except orjson.JSONDecodeError:
        raise _Found(seq, "entry is not valid JSON") from None
    if not isinstance(document, dict) or document.get("seq") != seq:
        raise _Found(seq, "entry's own seq does not match its position")
    if not is_canonical(entry, document):
        raise _Found(seq, "entry is not in canonical form (edited)")
    if chain_hash(running, entry.encode()) != stored:
        raise _Found(seq, "entry hash does not match its content")


def _completed_in(lo: int, hi: int) -> object:
    """WHERE clause: the stored nodes completed by leaves [lo, hi)."""
    clauses = []
    for level in range(hi.bit_length() + 1):
        first = -(-(lo + 1) >> level) - 1  # ceil((lo + 1) / 2^level) - 1
        last = (hi >> level) - 1
        if last >= first >= 0:
            clauses.append(
                and_(ledger_nodes.c.level == level, ledger_nodes.c.idx.between(first, last))
            )
    return or_(*clauses)


def _covers(level: int, idx: int) -> str:
    return f"seqs {(idx << level) + 1}-{(idx + 1) << level}"


async def _check_nodes(conn: AsyncConnection, lo: int, nodes: list[tuple[int, int, bytes]]) -> None:
    """Every node completed by the leaves from ``lo`` on must be stored, as computed."""
    if not nodes:
        return
    hi = max(((idx + 1) << level) for level, idx, _ in nodes)
    rows = await conn.execute(
        select(ledger_nodes.c.level, ledger_nodes.c.idx, ledger_nodes.c.hash).where(
            _completed_in(lo, hi)  # type: ignore[arg-type]
        )
    )
    stored = {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}
    # In ledger order: by the last entry each node covers, smallest subtree first.
    for level, idx, value in sorted(nodes, key=lambda n: (((n[1] + 1) << n[0]), n[0])):
        found = stored.get((level, idx))
        last = (idx + 1) << level
        if found is None:
            raise _Found(last, f"tree node (level {level}, {_covers(level, idx)}) is missing")
        if found != value:
            raise _Found(
                last,
                f"tree node (level {level}, {_covers(level, idx)}) does not match the entries",
            )


async def _nodes_beyond(conn: AsyncConnection, size: int) -> tuple[int, int] | None:
    """A stored node covering any leaf at or beyond ``size``, if there is one."""
    top = max(size.bit_length(), 1) + 1
    clauses = [
        and_(ledger_nodes.c.level == level, ledger_nodes.c.idx >= (size >> level))
        for level in range(top)
    ]
    clauses.append(ledger_nodes.c.level >= top)
    row = (
        await conn.execute(
            select(ledger_nodes.c.level, ledger_nodes.c.idx).where(or_(*clauses)).limit(1)
        )
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def _root_of(
    note: str, verifiers: Sequence[Verifier] | None, origin: str | None
) -> tuple[int, bytes]:
    """The size and root a checkpoint note states, its signature verified (if keys are given)."""
    text = open_note(note, verifiers).text if verifiers is not None else split_note(note)[0]
    found_origin, size, root = parse_text(text)
    if origin is not None and found_origin != origin:
        raise NoteError("its origin is not this ledger's")
    return size, root


def _database_mark(
    cp: _Checkpoint,
    root_hex: str,
    note: str,
    verifiers: Sequence[Verifier] | None,
    origin: str | None,
) -> None:
    """Check the checkpoint row at ``cp.size``: note signed, and stating the row's size and root."""
    size = cp.size
    cp.places.append("the database")
    try:
        noted, root = _root_of(note, verifiers, origin)
    except NoteError as exc:
        cp.problem = f"checkpoint {size} in the database: {exc}"
        return
    if noted != size:
        cp.problem = f"checkpoint {size} in the database states tree size {noted}"
    elif root.hex() != root_hex:
        cp.problem = f"checkpoint {size} in the database: its root_hash is not its note's root"
    else:
        cp.roots.append(("the database", root))


async def _directory_mark(
    cp: _Checkpoint,
    directory: Path,
    db_note: str | None,
    verifiers: Sequence[Verifier] | None,
    origin: str | None,
) -> None:
    """Check the copy of checkpoint ``cp.size`` in ``directory`` against its signature and the
    database's copy. A problem found here does not hide one already found in the database."""
    size, name = cp.size, f"{cp.size}{SUFFIX}"
    cp.places.append("checkpoint_dir")
    problem: str | None = None
    try:
        note = await asyncio.to_thread(read_copy, directory, size)
        noted, root = _root_of(note, verifiers, origin)
    except (OSError, UnicodeError) as exc:
        problem = f"checkpoint_dir copy {name} is unreadable: {exc}"
    except NoteError as exc:
        problem = f"checkpoint_dir copy {name}: {exc}"
    else:
        if noted != size:
            problem = f"checkpoint_dir copy {name} states tree size {noted}"
        elif db_note is None:
            problem = f"checkpoint {size} is in checkpoint_dir but not in the database"
        elif split_note(db_note)[0] != split_note(note)[0]:
            problem = f"checkpoint_dir copy {name} differs from the database's"
        cp.roots.append(("checkpoint_dir", root))
    cp.problem = cp.problem or problem


async def _load_checkpoints(
    conn: AsyncConnection,
    verifiers: Sequence[Verifier] | None,
    directory: Path | None,
    origin: str | None,
) -> dict[int, _Checkpoint]:
    """Every checkpoint, from the database and the directory, each checked on its own."""
    found: dict[int, _Checkpoint] = {}
    db_notes: dict[int, str] = {}
    for size, root_hex, note in await stored_checkpoints(conn):
        db_notes[size] = note
        _database_mark(found.setdefault(size, _Checkpoint(size)), root_hex, note, verifiers, origin)
    if directory is not None:
        for size in await asyncio.to_thread(directory_sizes, directory):
            cp = found.setdefault(size, _Checkpoint(size))
            await _directory_mark(cp, directory, db_notes.get(size), verifiers, origin)
    return found


def _consistency(size1: int, size2: int) -> Callable[[merkle.NodeSource], list[bytes]]:
    return lambda node: merkle.consistency_proof(size1, size2, node)


async def _check_consistency(
    conn: AsyncConnection, pairs: list[tuple[int, bytes, int, bytes]]
) -> None:
    """Consecutive checkpoints: a consistency proof from the stored nodes, verified."""
    keys: list[merkle.NodeKey] = []
    for size1, _r1, size2, _r2 in pairs:
        keys += merkle.needed(_consistency(size1, size2))
    nodes = await fetch_nodes_async(conn, keys)
    for size1, root1, size2, root2 in pairs:
        try:
            proof = merkle.consistency_proof(size1, size2, source(nodes))
            merkle.verify_consistency(size1, size2, proof, root1, root2)
        except (TreeError, ProofError) as exc:
            raise _Found(
                size1 + 1, f"checkpoints {size1} and {size2} are not consistent: {exc}"
            ) from None


class _Walk:
    """One verification pass: the state carried from batch to batch."""

    def __init__(self, conn: AsyncConnection, marks: dict[int, _Checkpoint]) -> None:
        self.conn = conn
        self.marks = marks
        self.pending = sorted(marks)  # checkpoint sizes still ahead of the stream
        self.checked: list[tuple[int, bytes]] = []  # (size, root) of good checkpoints, in order
        self.running = GENESIS
        self.count = 0  # entries taken into the tree
        self.streamed = 0  # entries whose own checks passed
        self.frontier: list[bytes] = []

    async def batch(self, rows: list[tuple[int, str, str, str]]) -> None:
        """Check a batch of entries, then the tree and checkpoints they reach, in ledger order."""
        lo, leaves = self.count, list[bytes]()
        problem: _Found | None = None
        for seq, entry, prev_hash, entry_hash in rows:
            try:
                _check_entry(
                    seq, lo + len(leaves) + 1, entry, (prev_hash, self.running, entry_hash)
                )
            except _Found as found:
                problem = found
                break
            leaves.append(merkle.leaf_hash(entry.encode()))
            self.running = entry_hash
            self.streamed += 1
        size, start = lo, 0
        while self.pending and self.pending[0] <= lo + len(leaves):
            mark = self.marks[self.pending.pop(0)]
            size = await self._grow(size, leaves[start : mark.size - lo])
            start = mark.size - lo
            self._check_mark(mark)
        await self._grow(size, leaves[start:])
        self.count += len(leaves)
        if problem is not None:
            raise problem

    async def _grow(self, size: int, leaves: list[bytes]) -> int:
        appended = merkle.append(size, self.frontier, leaves)
        await _check_nodes(self.conn, size, appended.nodes)
        self.frontier = appended.frontier
        return appended.size

    def _check_mark(self, mark: _Checkpoint) -> None:
        if mark.problem is not None:
            raise _Found(mark.size, mark.problem)
        root = merkle.root_from_frontier(self.frontier)
        after = self.checked[-1][0] if self.checked else 0
        for where, stated in mark.roots:
            if stated != root:
                raise _Found(
                    after + 1,
                    f"the entries no longer match checkpoint {mark.size} (signed root, {where}): "
                    f"an entry in seqs {after + 1}-{mark.size} was rewritten",
                )
        if mark.roots:
            self.checked.append((mark.size, root))

    async def finish(self, head_seq: int, head_hash: str) -> None:
        """After the last entry: the head, truncation, stray nodes, checkpoint consistency."""
        count = self.count
        if head_seq != count or head_hash != self.running:
            bad = min(head_seq, count) + 1
            raise _Found(bad, "ledger head does not match the last entry (truncated?)")
        if self.pending:
            newest = self.marks[self.pending[-1]]
            raise _Found(
                count + 1,
                f"the ledger has {count} entries but checkpoint {newest.size} (in "
                f"{' and '.join(newest.places)}) covers {newest.size}: entries "
                f"{count + 1}-{newest.size} are missing (truncated)",
            )
        beyond = await _nodes_beyond(self.conn, count)
        if beyond is not None:
            raise _Found(
                count + 1,
                f"a stored tree node (level {beyond[0]}, {_covers(*beyond)}) lies beyond the "
                f"last entry {count} (entries removed?)",
            )
        pairs = [(a, ra, b, rb) for (a, ra), (b, rb) in itertools.pairwise(self.checked)]
        await _check_consistency(self.conn, pairs)


async def verify_ledger(
    conn: AsyncConnection,
    *,
    verifiers: Sequence[Verifier] | None = None,
    checkpoint_dir: Path | None = None,
    origin: str | None = None,
    batch: int = BATCH,
) -> Verdict:
    """Check the chain, the tree and every checkpoint; stop at the first bad entry.

    ``verifiers``: the keys whose checkpoint signatures count (None: signatures are not checked,
    only the roots). ``checkpoint_dir``: the copies kept out of the database's reach.

    Every read is from one snapshot, so entries committed while it runs are not taken for
    tampering: on PostgreSQL the connection is put in REPEATABLE READ (when it has not begun a
    transaction yet); on SQLite one transaction already reads one snapshot.
    """
    if conn.dialect.name == "postgresql" and not conn.in_transaction():
        await conn.execution_options(isolation_level="REPEATABLE READ")
    head = (await conn.execute(select(ledger_head.c.seq, ledger_head.c.entry_hash))).first()
    head_seq, head_hash = (0, GENESIS) if head is None else (int(head[0]), head[1])
    walk = _Walk(conn, await _load_checkpoints(conn, verifiers, checkpoint_dir, origin))
    signed = verifiers is not None
    try:
        async for rows in _rows(conn, batch):
            await walk.batch(rows)
        await walk.finish(head_seq, head_hash)
    except _Found as found:
        entries = min(walk.streamed, found.seq - 1)
        return Verdict(False, entries, found.seq, found.reason, head_seq, len(walk.checked), signed)
    return Verdict(True, walk.count, None, None, head_seq, len(walk.checked), signed)
