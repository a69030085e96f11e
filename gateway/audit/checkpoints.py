"""Signed checkpoints of the ledger's Merkle tree (C2SP tlog-checkpoint in a C2SP signed note).

A checkpoint's text is ``<origin>\\n<tree size>\\n<base64 root>\\n``, signed with the gateway's
Ed25519 key under the key name ``origin``. Each gateway process runs a :class:`Checkpointer`: it
signs a checkpoint when at least ``checkpoint_entries`` entries, or ``checkpoint_seconds`` with
new entries, have passed since the newest one. Before signing, it proves from the stored tree
that the new tree extends the previous checkpoint (the newest in the database and the newest in
``checkpoint_dir``) and verifies that proof; if it does not, it refuses and logs an alarm.

A checkpoint is stored in ``checkpoints`` keyed by tree size (two processes signing the same size
is fine: the first row stays) and, when ``checkpoint_dir`` is set, written there as
``<tree size>.checkpoint``: created exclusively (write-once) and flushed to disk. That directory
should be storage the gateway's database role cannot rewrite; ``joinedup audit verify`` checks the
ledger against it, which is what detects a rewritten or truncated ledger.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import structlog
from sqlalchemy import Connection, Insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit import merkle
from gateway.audit.merkle import ProofError
from gateway.audit.settings import LedgerSettings
from gateway.audit.signing import (
    NoteError,
    Signer,
    Verifier,
    load_signer,
    open_note,
    parse_verifier,
    write_new_key,
)
from gateway.audit.tree import TreeError, fetch_nodes_async, frontier_from, source
from gateway.errors import ConfigurationError
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.tables import checkpoints, ledger_head

log = structlog.get_logger(__name__)

DEFAULT_KEY_FILE = Path("var") / "ledger-signing-key.pem"
SUFFIX = ".checkpoint"
_FILE = re.compile(r"^([1-9][0-9]*)\.checkpoint$")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: its size, its root, and the signed note that states them."""

    tree_size: int
    root: bytes
    note: str
    origin: str = ""


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The note text of a checkpoint."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_text(text: str) -> tuple[str, int, bytes]:
    """Origin, tree size and root of a checkpoint's note text (NoteError naming the line)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint has at least three lines: origin, tree size, root hash")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        raise NoteError("checkpoint line 1 (origin) is empty")
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_text):
        raise NoteError("checkpoint line 2 (tree size) is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("checkpoint line 3 (root hash) is not valid base64") from None
    if len(root) != merkle.HASH_SIZE:
        raise NoteError("checkpoint line 3 (root hash) is not 32 bytes")
    if any(not line for line in lines[3:-1]):
        raise NoteError("a checkpoint's extension lines must not be empty")
    return origin, int(size_text), root


def open_checkpoint(
    note: str, verifiers: Iterable[Verifier], origin: str | None = None
) -> Checkpoint:
    """A checkpoint whose signature verified (NoteError naming the reason otherwise)."""
    opened = open_note(note, verifiers)
    found_origin, size, root = parse_text(opened.text)
    if origin is not None and found_origin != origin:
        raise NoteError("the checkpoint's origin is not this ledger's")
    return Checkpoint(size, root, note, found_origin)


# -- keys ---------------------------------------------------------------------------------------


def signer_for(settings: LedgerSettings, *, generate: bool = True) -> Signer:
    """The checkpoint signing key: ``signing_key_file``, or the demo key under ./var (generated
    once, mode 0600, when ``generate``). ConfigurationError if it cannot be read."""
    path = settings.signing_key_file
    if path is None:
        path = DEFAULT_KEY_FILE
        if generate and write_new_key(path):
            log.warning(
                "ledger_signing_key_generated",
                path=str(path.resolve()),
                note="a demo key; configure ledger.signing_key_file for real use",
            )
    try:
        return load_signer(path, settings.origin)
    except NoteError as exc:
        raise ConfigurationError(f"ledger.signing_key_file: {exc}") from None


def verifiers_for(settings: LedgerSettings, signer: Signer | None) -> list[Verifier]:
    """The keys whose checkpoint signatures are accepted: the signing key's and verifier_keys."""
    verifiers = [signer.verifier] if signer is not None else []
    for number, text in enumerate(settings.verifier_keys, 1):
        try:
            verifiers.append(parse_verifier(text))
        except NoteError as exc:
            raise ConfigurationError(f"ledger.verifier_keys[{number}]: {exc}") from None
    return verifiers


def configured_verifiers(settings: LedgerSettings) -> list[Verifier]:
    """Verifiers from configuration alone, for the CLI: the signing key's public key if its file
    (or the demo key) exists, and ``verifier_keys``. Never generates a key."""
    path = settings.signing_key_file or DEFAULT_KEY_FILE
    signer = signer_for(settings, generate=False) if path.exists() else None
    return verifiers_for(settings, signer)


# -- storage ------------------------------------------------------------------------------------


async def stored_checkpoints(conn: AsyncConnection) -> list[tuple[int, str, str]]:
    """Every checkpoint row (tree size, root hex, note), oldest first."""
    rows = await conn.execute(
        select(checkpoints.c.tree_size, checkpoints.c.root_hash, checkpoints.c.note).order_by(
            checkpoints.c.tree_size
        )
    )
    return [(int(r[0]), r[1], r[2]) for r in rows]


async def newest_stored(conn: AsyncConnection) -> tuple[int, str, datetime] | None:
    """The newest checkpoint row: tree size, note, when it was signed."""
    row = (
        await conn.execute(
            select(checkpoints.c.tree_size, checkpoints.c.note, checkpoints.c.created_at)
            .order_by(checkpoints.c.tree_size.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (int(row[0]), row[1], row[2])


def directory_sizes(directory: Path) -> list[int]:
    """The tree sizes of the checkpoint copies in ``directory``, ascending."""
    if not directory.is_dir():
        return []
    sizes = []
    for name in os.listdir(directory):
        match = _FILE.match(name)
        if match:
            sizes.append(int(match.group(1)))
    return sorted(sizes)


def read_copy(directory: Path, size: int) -> str:
    """The note text of the copy of checkpoint ``size`` (OSError / UnicodeError if unreadable)."""
    return (directory / f"{size}{SUFFIX}").read_bytes().decode("utf-8")


def write_copy(directory: Path, size: int, note: str) -> bool:
    """Write checkpoint ``size`` to ``directory`` once (O_EXCL), flushed; False if it was there.

    An existing copy with other content is a ValueError (two different tree heads for one size).
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{size}{SUFFIX}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        existing = path.read_bytes().decode("utf-8", errors="replace")
        if existing != note and _text_of(existing) != _text_of(note):
            raise ValueError(f"{path.name} already holds a different tree head") from None
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(note.encode())
        handle.flush()
        os.fsync(handle.fileno())
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return True


def _text_of(note: str) -> str:
    """A note's text without its signatures (the last blank line separates them)."""
    return note[: note.rfind("\n\n") + 1]


def _insert_statement(dialect: str, checkpoint: Checkpoint) -> Insert:
    values = {
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root.hex(),
        "note": checkpoint.note,
        "created_at": datetime.now(UTC),
    }
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # Another process may have signed this size already: the first row stays.
    return insert(checkpoints).values(**values).on_conflict_do_nothing(index_elements=["tree_size"])


async def _store(
    engine: AsyncEngine, committer: GroupCommitter | None, checkpoint: Checkpoint
) -> None:
    """Insert the checkpoint row: with the committer's next batch when there is one (no write
    transaction of its own to queue behind or hold up the ledger's), else on its own."""
    if committer is not None:

        def write(conn: Connection) -> None:
            conn.execute(_insert_statement(conn.dialect.name, checkpoint))

        await committer.submit(UnitOfWork(events=list, writes=[write]))
        return
    async with engine.connect() as raw:
        conn = await raw.execution_options(write=True)
        async with conn.begin():
            await conn.execute(_insert_statement(conn.dialect.name, checkpoint))


# -- signing ------------------------------------------------------------------------------------


class CheckpointRefused(RuntimeError):
    """The tree does not extend a previous checkpoint: nothing was signed (an alarm)."""


async def _tree_size(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(ledger_head.c.seq))).scalar_one())


async def _previous(
    conn: AsyncConnection, verifiers: Sequence[Verifier], origin: str, directory: Path | None
) -> list[Checkpoint]:
    """The checkpoints a new one must extend: the newest stored and the newest copied out."""
    found: list[Checkpoint] = []
    newest = await newest_stored(conn)
    notes: list[tuple[str, str]] = []
    if newest is not None:
        notes.append((f"the checkpoint at tree size {newest[0]}", newest[1]))
    if directory is not None:
        sizes = await asyncio.to_thread(directory_sizes, directory)
        if sizes and (newest is None or sizes[-1] != newest[0]):
            try:
                text = await asyncio.to_thread(read_copy, directory, sizes[-1])
            except (OSError, UnicodeError) as exc:
                _alarm(f"checkpoint_dir copy {sizes[-1]}{SUFFIX} is unreadable: {exc}")
            notes.append((f"checkpoint_dir copy {sizes[-1]}{SUFFIX}", text))
    for label, note in notes:
        try:
            found.append(open_checkpoint(note, verifiers, origin))
        except NoteError as exc:
            _alarm(f"{label} does not verify: {exc}")
    return found


async def sign_checkpoint(
    engine: AsyncEngine,
    signer: Signer,
    verifiers: Sequence[Verifier],
    directory: Path | None = None,
    *,
    committer: GroupCommitter | None = None,
) -> Checkpoint | None:
    """Sign a checkpoint of the ledger as it is now, if it has grown since the newest one.

    Returns the new checkpoint, or None when there is nothing new. Raises CheckpointRefused (and
    logs an alarm) if the tree does not extend the previous checkpoints. With ``committer`` the
    row is written in the committer's next transaction.
    """
    origin = signer.name
    async with engine.connect() as conn:
        size = await _tree_size(conn)
        previous = await _previous(conn, verifiers, origin, directory)
        if size == 0 or any(p.tree_size >= size for p in previous):
            longer = [p.tree_size for p in previous if p.tree_size > size]
            if longer:
                _alarm(f"the ledger ({size} entries) is shorter than checkpoint {max(longer)}")
            return None
        keys = list(merkle.frontier_keys(size))
        for p in previous:
            keys += merkle.needed(_consistency(p.tree_size, size))
        nodes = await fetch_nodes_async(conn, keys)
        await conn.rollback()
    try:
        root = merkle.root_from_frontier(frontier_from(nodes, size))
        for p in previous:
            proof = merkle.consistency_proof(p.tree_size, size, source(nodes))
            merkle.verify_consistency(p.tree_size, size, proof, p.root, root)
    except (TreeError, ProofError) as exc:
        _alarm(f"the tree at size {size} does not extend the previous checkpoint: {exc}")
    checkpoint = Checkpoint(size, root, signer.sign(checkpoint_text(origin, size, root)), origin)
    await _store(engine, committer, checkpoint)
    if directory is not None:
        try:
            await asyncio.to_thread(write_copy, directory, size, checkpoint.note)
        except (OSError, ValueError) as exc:
            log.error("checkpoint_copy_failed", tree_size=size, error=str(exc))
    log.info("checkpoint_signed", tree_size=size)
    return checkpoint


def _consistency(size1: int, size2: int) -> Callable[[merkle.NodeSource], list[bytes]]:
    return lambda node: merkle.consistency_proof(size1, size2, node)


def _alarm(reason: str) -> NoReturn:
    log.critical("checkpoint_refused", alarm=True, reason=reason)
    raise CheckpointRefused(reason)


# -- the background task ------------------------------------------------------------------------


class TooSoon(RuntimeError):
    """An on-demand checkpoint was signed less than a second ago in this process."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("a checkpoint was signed on demand less than a second ago")
        self.retry_after = retry_after


class Checkpointer:
    """Signs checkpoints for one gateway process: by entry count, by time, and on demand."""

    ON_DEMAND_INTERVAL = 1.0

    def __init__(
        self,
        engine: AsyncEngine,
        settings: LedgerSettings,
        signer: Signer,
        verifiers: Sequence[Verifier],
        committer: GroupCommitter | None = None,
    ) -> None:
        self._engine = engine
        self._committer = committer
        self._settings = settings
        self.signer = signer
        self.verifiers = list(verifiers)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._signed_size = 0  # the newest checkpoint this process knows of
        self._last_on_demand = -1e9
        self._started = time.monotonic()
        self.signed = 0
        self.refused = 0

    @property
    def poll(self) -> float:
        return min(1.0, self._settings.checkpoint_seconds)

    def committed(self, tree_size: int) -> None:
        """The committer's hook: wake the task once enough entries have been added."""
        if tree_size - self._signed_size >= self._settings.checkpoint_entries:
            self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="checkpointer")

    async def stop(self) -> None:
        """Finish the current round, sign a last checkpoint if there are new entries, stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll)
            self._wake.clear()
            try:
                await self.tick(force=self._stopping)
            except CheckpointRefused:
                self.refused += 1  # logged as an alarm where raised
            except Exception as exc:  # noqa: BLE001 - keep running; the next round retries
                log.error("checkpoint_failed", error=type(exc).__name__)
            if self._stopping:
                return

    async def tick(self, *, force: bool = False) -> Checkpoint | None:
        """Sign if due: enough new entries, or enough time with new ones (or ``force``)."""
        async with self._lock:
            async with self._engine.connect() as conn:
                size = await _tree_size(conn)
                newest = await newest_stored(conn)
            last_size = newest[0] if newest is not None else 0
            self._signed_size = max(self._signed_size, last_size)
            if size <= last_size:
                return None
            # Time since the newest checkpoint, wherever it was signed; with none yet, since this
            # process started.
            if newest is not None:
                age = (datetime.now(UTC) - newest[2]).total_seconds()
            else:
                age = time.monotonic() - self._started
            due = (
                force
                or size - last_size >= self._settings.checkpoint_entries
                or age >= self._settings.checkpoint_seconds
            )
            if not due:
                return None
            return await self._sign()

    async def _sign(self) -> Checkpoint | None:
        checkpoint = await sign_checkpoint(
            self._engine,
            self.signer,
            self.verifiers,
            self._settings.checkpoint_dir,
            committer=self._committer,
        )
        if checkpoint is not None:
            self.signed += 1
            self._signed_size = max(self._signed_size, checkpoint.tree_size)
        return checkpoint

    async def on_demand(self, size: int) -> None:
        """Make sure a checkpoint covers ``size`` entries, signing one now if need be — at most
        one a second in this process (TooSoon otherwise)."""
        async with self._lock:
            async with self._engine.connect() as conn:
                newest = await newest_stored(conn)
            if newest is not None and newest[0] >= size:
                return
            wait = self._last_on_demand + self.ON_DEMAND_INTERVAL - time.monotonic()
            if wait > 0:
                raise TooSoon(wait)
            self._last_on_demand = time.monotonic()
            await self._sign()
