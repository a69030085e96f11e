"""Tamper tests: random single tampers done directly in SQL, each named by `audit verify`.

A ledger of N entries is built through the real commit path (the group committer, as the gateway
commits; ``benchmarks/ledger_builder.py``) in SQLite and in PostgreSQL, with a signed checkpoint
every C entries, each also copied to a checkpoint directory. Then T times: one tamper in SQL, inside
a transaction on one connection; ``verify_ledger`` (what ``joinedup audit verify`` runs) on that same
connection must name the right first bad seq; the transaction is rolled back. The untouched ledger
must pass before, every tenth round, and after.

The tampers, each with the seq it must be named at:

* an entry edited (a field's value changed, still canonical JSON): its seq, whether the attacker
  leaves the hashes, recomputes the entry's hash, or rewrites the whole chain and head after it
  (the stored leaf disagrees); if the attacker also rewrites the stored tree nodes above it, the
  first checkpoint covering it no longer matches: named at the entry after the previous checkpoint;
* an entry re-encoded non-canonically (same content), chain and tree rewritten to match: its seq;
* an entry deleted; one inserted at the end (a valid chain link) or in the middle (later ones
  renumbered): its seq;
* two entries swapped: the first;
* the ledger truncated below a checkpoint: the first missing seq, whether the head is left alone or
  rewritten with the nodes, search rows and database checkpoints beyond the cut removed (the
  copies in the checkpoint directory catch that one);
* a stored tree node edited or deleted: the last entry it covers;
* a checkpoint row edited (its root_hash, or its note without re-signing, or re-signed by another
  key) or deleted (its copy then has no row): its tree size.

The limit, shown by the last test: a truncation after the last checkpoint copied out of reach, done
thoroughly, cannot be detected; the checkpoint interval bounds how much can go that way.

Sizes come from the environment: ``JOINEDUP_TAMPER_ENTRIES`` (N, default 3,000),
``JOINEDUP_TAMPER_COUNT`` (T per database, default 60), ``JOINEDUP_TAMPER_EVERY`` (C, default
N / 6), ``JOINEDUP_TAMPER_SEED``. The full size of issue 5 is
``JOINEDUP_TAMPER_ENTRIES=100000 JOINEDUP_TAMPER_COUNT=1000``.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from benchmarks.ledger_builder import Built, build_ledger
from gateway.audit import merkle
from gateway.audit.chain import GENESIS, chain_hash
from gateway.audit.checkpoints import checkpoint_text
from gateway.audit.events import IndexUpdated
from gateway.audit.proofs import b64
from gateway.audit.signing import Signer
from gateway.audit.verify import Verdict, verify_ledger
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.tables import (
    checkpoints,
    ledger,
    ledger_head,
    ledger_nodes,
    ledger_persons,
    ledger_search,
)
from tests.conftest import Database

ENTRIES = int(os.environ.get("JOINEDUP_TAMPER_ENTRIES", "3000"))
COUNT = int(os.environ.get("JOINEDUP_TAMPER_COUNT", "60"))
EVERY = int(os.environ.get("JOINEDUP_TAMPER_EVERY", str(max(1, ENTRIES // 6))))
SEED = int(os.environ.get("JOINEDUP_TAMPER_SEED", "20261130"))


@dataclass
class Ledger:
    """The built ledger under test."""

    engine: AsyncEngine
    built: Built
    directory: Path

    @property
    def size(self) -> int:
        return self.built.entries

    @property
    def cps(self) -> list[int]:
        return self.built.checkpoints

    async def verify(self, conn: AsyncConnection) -> Verdict:
        return await verify_ledger(
            conn,
            verifiers=[self.built.signer.verifier],
            checkpoint_dir=self.directory,
            origin=self.built.signer.name,
        )


Tamper = Callable[[AsyncConnection, random.Random, Ledger], Awaitable[tuple[int, str]]]


# -- helpers -------------------------------------------------------------------------------------


async def _entry(conn: AsyncConnection, seq: int) -> str:
    return str((await conn.execute(select(ledger.c.entry).where(ledger.c.seq == seq))).scalar_one())


async def _hash_before(conn: AsyncConnection, seq: int) -> str:
    if seq == 1:
        return GENESIS
    query = select(ledger.c.entry_hash).where(ledger.c.seq == seq - 1)
    return str((await conn.execute(query)).scalar_one())


def _edited(entry: str, rng: random.Random) -> str:
    """The entry with one field's value changed, still canonical."""
    document = orjson.loads(entry)
    key = rng.choice(sorted(k for k in document if k != "seq"))
    value = document[key]
    if isinstance(value, bool):
        document[key] = not value
    elif isinstance(value, int):
        document[key] = value + 1
    elif isinstance(value, str):
        document[key] = value[:-1] + ("0" if value[-1:] != "0" else "1")
    elif isinstance(value, list):
        document[key] = [*value, "added"]
    else:
        document[key] = "set"
    return bytes(rfc8785.dumps(document)).decode()


async def _rewrite_chain(conn: AsyncConnection, start: int, size: int) -> None:
    """Recompute prev_hash and entry_hash from ``start`` to the end, and the head: what an
    attacker with write access does so that the chain verifies again."""
    running = await _hash_before(conn, start)
    rows = await conn.execute(
        select(ledger.c.seq, ledger.c.entry).where(ledger.c.seq >= start).order_by(ledger.c.seq)
    )
    changes = []
    for seq, entry in rows.all():
        new = chain_hash(running, entry.encode())
        changes.append({"b_seq": seq, "b_prev": running, "b_hash": new})
        running = new
    if changes:
        await conn.execute(
            update(ledger)
            .where(ledger.c.seq == bindparam("b_seq"))
            .values(prev_hash=bindparam("b_prev"), entry_hash=bindparam("b_hash")),
            changes,
        )
    last = changes[-1]["b_seq"] if changes else start - 1
    await conn.execute(update(ledger_head).values(seq=last, entry_hash=running))
    del size


async def _rewrite_tree_above(conn: AsyncConnection, seq: int, size: int) -> None:
    """Recompute the stored leaf of ``seq`` and every stored node above it from the entries."""
    index = seq - 1
    value = merkle.leaf_hash((await _entry(conn, seq)).encode())
    level = 0
    while ((index >> level) + 1) << level <= size:
        idx = index >> level
        await conn.execute(
            update(ledger_nodes)
            .where(ledger_nodes.c.level == level, ledger_nodes.c.idx == idx)
            .values(hash=value)
        )
        sibling = idx ^ 1
        if ((max(idx, sibling) + 1) << level) > size:
            break
        other = (
            await conn.execute(
                select(ledger_nodes.c.hash).where(
                    ledger_nodes.c.level == level, ledger_nodes.c.idx == sibling
                )
            )
        ).scalar_one()
        left, right = (value, bytes(other)) if idx % 2 == 0 else (bytes(other), value)
        value = merkle.node_hash(left, right)
        level += 1


def _previous_checkpoint(cps: list[int], seq: int) -> int:
    return max((c for c in cps if c < seq), default=0)


# -- the tampers ---------------------------------------------------------------------------------


async def edit_entry(conn: AsyncConnection, rng: random.Random, lg: Ledger) -> tuple[int, str]:
    seq = rng.randint(1, lg.size)
    await conn.execute(
        update(ledger)
        .where(ledger.c.seq == seq)
        .values(entry=_edited(await _entry(conn, seq), rng))
    )
    return seq, "edit a field"


async def edit_entry_rehashed(
    conn: AsyncConnection, rng: random.Random, lg: Ledger
) -> tuple[int, str]:
    seq = rng.randint(1, lg.size)
    edited = _edited(await _entry(conn, seq), rng)
    await conn.execute(
        update(ledger)
        .where(ledger.c.seq == seq)
        .values(entry=edited, entry_hash=chain_hash(await _hash_before(conn, seq), edited.encode()))
    )
    return seq, "edit a field, recompute its hash"


async def edit_entry_chain_rewritten(
    conn: AsyncConnection, rng: random.Random, lg: Ledger
) -> tuple[int, str]:
    seq = rng.randint(1, lg.size)
    edited = _edited(await _entry(conn, seq), rng)
    await conn.execute(update(ledger).where(ledger.c.seq == seq).values(entry=edited))
    await _rewrite_chain(conn, seq, lg.size)
    return seq, "edit a field, rewrite the chain and head"


async def edit_entry_chain_and_tree_rewritten(
    conn: AsyncConnection, rng: random.Random, lg: Ledger
) -> tuple[int, str]:
    seq = rng.randint(1, lg.cps[-1])  # covered by a checkpoint: beyond the last, see the limit
    edited = _edited(await _entry(conn, seq), rng)
    await conn.execute(update(ledger).where(ledger.c.seq == seq).values(entry=edited))
    await _rewrite_chain(conn, seq, lg.size)
    await _rewrite_tree_above(conn, seq, lg.size)
    return _previous_checkpoint(lg.cps, seq) + 1, "edit a field, rewrite chain, head and tree"


async def reencode_entry(conn: AsyncConnection, rng: random.Random, lg: Ledger) -> tuple[int, str]:
    seq = rng.randint(1, lg.size)
    document = orjson.loads(await _entry(conn, seq))
    loose = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()  # same content, spaced
    await conn.execute(update(ledger).where(ledger.c.seq == seq).values(entry=loose))
    await _rewrite_chain(conn, seq, lg.size)
    await _rewrite_tree_above(conn, seq, lg.size)
    return seq, "re-encode non-canonically, rewrite chain, head and tree"


async def delete_entry(conn: AsyncConnection, rng: random.Random, lg: Ledger) -> tuple[int, str]:
    seq = rng.randint(1, lg.size)
    await conn.execute(delete(ledger).where(ledger.c.seq == seq))
    return seq, "delete an entry"


def _new_entry(seq: int) -> str:
    return bytes(
        rfc8785.dumps(
            {"event": "index.updated", "at": "2026-11-30T00:00:00Z", "persons": 1, "seq": seq}
        )
    ).decode()


async def insert_entry_at_end(
    conn: AsyncConnection, rng: random.Random, lg: Ledger
) -> tuple[int, str]:
    seq = lg.size + 1
    entry = _new_entry(seq)
    prev = await _hash_before(conn, seq)
    new = chain_hash(prev, entry.encode())
    await conn.execute(insert(ledger).values(seq=seq, entry=entry, prev_hash=prev, entry_hash=new))
    if rng.random() < 0.5:
        await conn.execute(update(ledger_head).values(seq=seq, entry_hash=new))
    return seq, "insert an entry at the end (valid chain link)"


async def insert_entry_in_middle(
    conn: AsyncConnection, rng: random.Random, lg: Ledger
) -> tuple[int, str]:
    seq = rng.randint(1, lg.size)
    # Renumber seq.. one up, in two steps so that no step collides with a key still in place.
    await conn.execute(update(ledger).where(ledger.c.seq >= seq).values(seq=-(ledger.c.seq + 1)))
    await conn.execute(update(ledger).where(ledger.c.seq < 0).values(seq=-ledger.c.seq))
    entry = _new_entry(seq)
    prev = await _hash_before(conn, seq)
    await conn.execute(
        insert(ledger).values(
            seq=seq, entry=entry, prev_hash=prev, entry_hash=chain_hash(prev, entry.encode())
        )
    )
    return seq, "insert an entry in the middle"


async def swap_entries(conn: AsyncConnection, rng: random.Random, lg: Ledger) -> tuple[int, str]:
    first = rng.randint(1, lg.size - 1)
    second = first + 1 if rng.random() < 0.5 else rng.randint(first + 1, lg.size)
    rows = {
        r.seq: r
        for r in await conn.execute(select(ledger).where(ledger.c.seq.in_([first, second])))
    }
    for seq, source in ((first, rows[second]), (second, rows[first])):
        await conn.execute(
            update(ledger)
            .where(ledger.c.seq == seq)
            .values(entry=source.entry, prev_hash=source.prev_hash, entry_hash=source.entry_hash)
        )
    return first, "swap two entries"


async def truncate(conn: AsyncConnection, rng: random.Random, lg: Ledger) -> tuple[int, str]:
    cut = rng.randint(0, rng.choice(lg.cps) - 1)
    await conn.execute(delete(ledger).where(ledger.c.seq > cut))
    return cut + 1, "truncate below a checkpoint"


async def truncate_thoroughly(
    conn: AsyncConnection, rng: random.Random, lg: Ledger
) -> tuple[int, str]:
    cut = rng.randint(0, rng.choice(lg.cps) - 1)
    await conn.execute(delete(ledger).where(ledger.c.seq > cut))
    head = await _hash_before(conn, cut + 1)
    await conn.execute(update(ledger_head).values(seq=cut, entry_hash=head))
    # Every node that covers an entry beyond the cut: (idx + 1) << level > cut.
    for level in range(lg.size.bit_length() + 1):
        await conn.execute(
            delete(ledger_nodes).where(
                ledger_nodes.c.level == level, ledger_nodes.c.idx >= (cut >> level)
            )
        )
    await conn.execute(delete(ledger_search).where(ledger_search.c.seq > cut))
    await conn.execute(delete(ledger_persons).where(ledger_persons.c.seq > cut))
    await conn.execute(delete(checkpoints).where(checkpoints.c.tree_size > cut))
    return cut + 1, "truncate below a checkpoint; head, nodes and checkpoint rows rewritten"


def _random_node(rng: random.Random, lg: Ledger) -> tuple[int, int]:
    level = rng.randint(0, lg.size.bit_length() - 1)
    return level, rng.randrange(lg.size >> level)


async def edit_node(conn: AsyncConnection, rng: random.Random, lg: Ledger) -> tuple[int, str]:
    level, idx = _random_node(rng, lg)
    await conn.execute(
        update(ledger_nodes)
        .where(ledger_nodes.c.level == level, ledger_nodes.c.idx == idx)
        .values(hash=rng.randbytes(32))
    )
    return (idx + 1) << level, f"edit a tree node (level {level})"


async def delete_node(conn: AsyncConnection, rng: random.Random, lg: Ledger) -> tuple[int, str]:
    level, idx = _random_node(rng, lg)
    await conn.execute(
        delete(ledger_nodes).where(ledger_nodes.c.level == level, ledger_nodes.c.idx == idx)
    )
    return (idx + 1) << level, f"delete a tree node (level {level})"


async def edit_checkpoint_root(
    conn: AsyncConnection, rng: random.Random, lg: Ledger
) -> tuple[int, str]:
    size = rng.choice(lg.cps)
    await conn.execute(
        update(checkpoints)
        .where(checkpoints.c.tree_size == size)
        .values(root_hash=rng.randbytes(32).hex())
    )
    return size, "edit a checkpoint's root_hash"


async def edit_checkpoint_note(
    conn: AsyncConnection, rng: random.Random, lg: Ledger
) -> tuple[int, str]:
    size = rng.choice(lg.cps)
    query = select(checkpoints.c.note).where(checkpoints.c.tree_size == size)
    note = str((await conn.execute(query)).scalar_one())
    text, signatures = note.split("\n\n", 1)
    origin, tree_size, root = text.split("\n")
    forged = merkle.node_hash(rng.randbytes(32), rng.randbytes(32))
    if rng.random() < 0.5:
        text = f"{origin}\n{tree_size}\n{b64(forged)}"
    else:
        text = f"{origin}\n{int(tree_size) + 1}\n{root}"
    await conn.execute(
        update(checkpoints)
        .where(checkpoints.c.tree_size == size)
        .values(note=f"{text}\n\n{signatures}", root_hash=forged.hex())
    )
    return size, "edit a checkpoint's note without re-signing"


async def resign_checkpoint(
    conn: AsyncConnection, rng: random.Random, lg: Ledger
) -> tuple[int, str]:
    size = rng.choice(lg.cps)
    impostor = Signer(lg.built.signer.name, Ed25519PrivateKey.generate())
    root = rng.randbytes(32)
    await conn.execute(
        update(checkpoints)
        .where(checkpoints.c.tree_size == size)
        .values(
            note=impostor.sign(checkpoint_text(impostor.name, size, root)), root_hash=root.hex()
        )
    )
    return size, "replace a checkpoint with one signed by another key"


async def delete_checkpoint(
    conn: AsyncConnection, rng: random.Random, lg: Ledger
) -> tuple[int, str]:
    size = rng.choice(lg.cps)
    await conn.execute(delete(checkpoints).where(checkpoints.c.tree_size == size))
    return size, "delete a checkpoint row"


TAMPERS: tuple[Tamper, ...] = (
    edit_entry,
    edit_entry_rehashed,
    edit_entry_chain_rewritten,
    edit_entry_chain_and_tree_rewritten,
    reencode_entry,
    delete_entry,
    insert_entry_at_end,
    insert_entry_in_middle,
    swap_entries,
    truncate,
    truncate_thoroughly,
    edit_node,
    delete_node,
    edit_checkpoint_root,
    edit_checkpoint_note,
    resign_checkpoint,
    delete_checkpoint,
)


# -- the tests -----------------------------------------------------------------------------------


@pytest.fixture
async def built(database: Database, tmp_path: Path) -> Ledger:
    directory = tmp_path / "checkpoints"
    result = await build_ledger(
        database.url, database.schema, ENTRIES, every=EVERY, directory=directory
    )
    return Ledger(create_engine(database.url, schema=database.schema), result, directory)


async def _untouched(lg: Ledger) -> None:
    async with lg.engine.connect() as conn:
        verdict = await lg.verify(conn)
    assert (True, lg.size, len(lg.cps)) == (verdict.intact, verdict.entries, verdict.checkpoints)


async def test_every_random_single_tamper_is_named(
    built: Ledger, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """T random tampers of every kind, each undone by rollback: each detected, at the right seq;
    the untouched ledger passes throughout."""
    lg = built
    try:
        await _untouched(lg)
        rng = random.Random(f"{SEED}-{database.backend}")  # noqa: S311 - reproducible, not secret
        kinds: list[Tamper] = []
        failures: list[str] = []
        counts: Counter[str] = Counter()
        started = time.perf_counter()
        for round_ in range(COUNT):
            if not kinds:
                kinds = list(TAMPERS)
                rng.shuffle(kinds)
            tamper = kinds.pop()
            async with lg.engine.connect() as conn:
                transaction = await conn.begin()
                try:
                    expected, what = await tamper(conn, rng, lg)
                    verdict = await lg.verify(conn)
                finally:
                    await transaction.rollback()
            counts[tamper.__name__] += 1
            if verdict.intact or verdict.first_bad_seq != expected:
                failures.append(
                    f"round {round_}: {what}: expected seq {expected}, got "
                    f"{verdict.first_bad_seq} ({verdict.reason})"
                )
            if round_ % 10 == 9:
                await _untouched(lg)
        elapsed = time.perf_counter() - started
        await _untouched(lg)
        with capsys.disabled():
            print(
                f"\n{database.backend}: {COUNT} tampers on {lg.size} entries, checkpoint every "
                f"{EVERY}: {len(failures)} missed, {elapsed:.1f} s; {dict(sorted(counts.items()))}"
            )
        assert [] == failures
    finally:
        await lg.engine.dispose()


async def test_the_limit_a_thorough_truncation_after_the_last_checkpoint(
    database: Database, tmp_path: Path
) -> None:
    """Documented limit: entries after the last checkpoint copied out of reach can be cut, with
    the head and nodes rewritten, and nothing can tell. Only entries after the last checkpoint:
    the interval bounds the loss. One entry more and it is caught."""
    directory = tmp_path / "checkpoints"
    small = await build_ledger(database.url, database.schema, 300, every=100, directory=directory)
    lg = Ledger(create_engine(database.url, schema=database.schema), small, directory)
    try:
        # A few entries after the last checkpoint, through the real commit path.
        writer = create_sync_engine_for(database.url, schema=database.schema)
        committer = GroupCommitter(writer)
        await committer.start()
        event = IndexUpdated(
            at=datetime.now(UTC), persons=1, identifiers=0, family_links=0, worker_roles=0
        )
        for _ in range(5):
            await committer.submit(UnitOfWork(events=lambda: [event]))
        await committer.stop()
        writer.dispose()
        last, size = lg.cps[-1], lg.size + 5
        for cut, caught in ((last, False), (last - 1, True)):
            async with lg.engine.connect() as conn:
                transaction = await conn.begin()
                try:
                    await conn.execute(delete(ledger).where(ledger.c.seq > cut))
                    head = await _hash_before(conn, cut + 1)
                    await conn.execute(update(ledger_head).values(seq=cut, entry_hash=head))
                    for level in range(size.bit_length() + 1):
                        await conn.execute(
                            delete(ledger_nodes).where(
                                ledger_nodes.c.level == level,
                                ledger_nodes.c.idx >= (cut >> level),
                            )
                        )
                    await conn.execute(delete(checkpoints).where(checkpoints.c.tree_size > cut))
                    remaining = (
                        await conn.execute(select(func.count()).select_from(ledger))
                    ).scalar_one()
                    verdict = await lg.verify(conn)
                finally:
                    await transaction.rollback()
            assert cut == remaining
            assert (not caught, cut + 1 if caught else None) == (
                verdict.intact,
                verdict.first_bad_seq,
            )
    finally:
        await lg.engine.dispose()
