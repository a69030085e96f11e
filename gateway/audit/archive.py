"""Daily archives of the ledger, each chained to the one before, and their verifier.

One file per UTC day, ``joinedup-audit-YYYY-MM-DD.jsonl.gz``: gzip (no timestamp or name in its
header, so the same content makes the same bytes) of UTF-8 JSON lines. The first line is
``{"manifest": {...}}``; every further line is one ledger row exactly as stored:
``{"entry": "<canonical JSON>", "entry_hash": "...", "prev_hash": "...", "seq": N}``.

The manifest (``ARCHIVE_FORMAT``):

=================  =============================================================================
``day``            the UTC day, ``YYYY-MM-DD``
``first_seq``      the first entry's seq, or null for a day without entries
``last_seq``       the last entry's seq, or null for a day without entries
``count``          how many entries the file holds
``after_seq``      the seq this file continues from: the previous archive's last (0 at the start)
``after_hash``     that entry's hash (64 zeros at the start): the first entry's ``prev_hash``
``last_hash``      the last entry's hash (``after_hash`` when there is none)
``previous``       ``{"file", "sha256"}`` of the previous day's archive (null for the first day)
``checkpoint``     the newest signed checkpoint whose tree covers ``last_seq``, if any
                   (``tree_size``, ``root_hash``, ``note``, ``created_at``)
``created_at``     when the archive was written
=================  =============================================================================

A day's file holds a contiguous run of seqs: everything after the previous day's archive up to
the last entry stamped before the next midnight (UTC). Entries are stamped when their event
happened and committed a moment later, so one stamped a few milliseconds either side of midnight
may sit in the neighbouring day's file; none is ever in two files or in none. A day with no
entries still gets a file (``count`` 0), so the chain of files has no holes. The chain starts on
the day of the ledger's first entry.

Verification needs no server and no database: each file's own chain (seq continuity, every
``prev_hash`` link, canonical JSON, every ``entry_hash``, the manifest's counts and hashes), then
each file against the one before it (consecutive days, the previous file's SHA-256 and name,
``after_seq``/``after_hash`` against its ``last_seq``/``last_hash``). Given the archives from the
ledger's first day, it also rebuilds the RFC 9162 Merkle tree over the entries and checks that
each recorded checkpoint's root is the one the entries give. An edit anywhere in a file changes
its SHA-256, which the next day's manifest records. The limit is the newest file: rewritten
whole (entries and hashes recomputed), it is caught only by a checkpoint that covers it, and a
checkpoint is only as good as its signature: give the ledger's verifier keys (``--key``) to
check it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import hashlib
import os
import re
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import rfc8785
from sqlalchemy import Connection, func, select

from gateway.audit import merkle
from gateway.audit.chain import GENESIS, chain_hash
from gateway.audit.checkpoints import open_checkpoint
from gateway.audit.signing import NoteError, Verifier
from gateway.store.tables import checkpoints, ledger, ledger_search

ARCHIVE_FORMAT = "joinedup-audit-archive/1"
_NAME = re.compile(r"^joinedup-audit-(\d{4}-\d{2}-\d{2})\.jsonl\.gz$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
BATCH = 5000


def archive_name(day: date) -> str:
    """The file name of ``day``'s archive."""
    return f"joinedup-audit-{day.isoformat()}.jsonl.gz"


def _now() -> datetime:
    return datetime.now(UTC)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants at which ``day`` begins and ends."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


class ArchiveRefused(Exception):
    """The archive was not written; the message says why (exit 2)."""


class LedgerBroken(Exception):
    """The ledger range to archive is not intact (exit 1); nothing was written."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"the ledger is not intact at seq {seq}: {reason}")
        self.seq = seq
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Written:
    """An archive written: where, and its manifest."""

    path: Path
    manifest: dict[str, Any]
    sha256: str


# --- checking rows: shared by the writer and the verifier ---------------------------------------


@dataclass
class _Walk:
    """A walk along the chain from ``after_seq``/``after_hash``, one row at a time."""

    expected_seq: int
    running: str
    count: int = 0
    first_seq: int | None = None

    def step(self, seq: object, entry: object, prev_hash: object, entry_hash: object) -> None:
        """Check one row; raise LedgerBroken naming the seq and the reason."""
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise LedgerBroken(self.expected_seq, "a row has no seq")
        if seq != self.expected_seq:
            raise LedgerBroken(
                min(seq, self.expected_seq),
                f"sequence gap, insertion or reordering: expected seq {self.expected_seq}, "
                f"found {seq}",
            )
        if not isinstance(entry, str) or not isinstance(entry_hash, str):
            raise LedgerBroken(seq, "the row's entry or entry_hash is missing")
        if prev_hash != self.running:
            raise LedgerBroken(seq, "prev_hash does not match the previous entry's hash")
        try:
            document = orjson.loads(entry)
        except orjson.JSONDecodeError:
            raise LedgerBroken(seq, "the entry is not valid JSON") from None
        if not isinstance(document, dict) or document.get("seq") != seq:
            raise LedgerBroken(seq, "the entry's own seq does not match its position")
        if bytes(rfc8785.dumps(document)).decode() != entry:
            raise LedgerBroken(seq, "the entry is not in canonical form (edited)")
        if chain_hash(self.running, entry.encode()) != entry_hash:
            raise LedgerBroken(seq, "entry_hash does not match the entry")
        if self.first_seq is None:
            self.first_seq = seq
        self.running = entry_hash
        self.expected_seq += 1
        self.count += 1

    @property
    def last_seq(self) -> int:
        return self.expected_seq - 1


def _row_line(seq: int, entry: str, prev_hash: str, entry_hash: str) -> bytes:
    row = {"entry": entry, "entry_hash": entry_hash, "prev_hash": prev_hash, "seq": seq}
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS) + b"\n"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- writing ----------------------------------------------------------------------------------


def _ledger_rows(conn: Connection, after: int, last: int) -> Iterator[tuple[int, str, str, str]]:
    while after < last:
        result = conn.execute(
            select(ledger.c.seq, ledger.c.entry, ledger.c.prev_hash, ledger.c.entry_hash)
            .where(ledger.c.seq > after, ledger.c.seq <= last)
            .order_by(ledger.c.seq)
            .limit(BATCH)
        )
        rows = result.all()
        if not rows:
            return
        for row in rows:
            yield (row[0], row[1], row[2], row[3])
        after = rows[-1][0]


def _previous(conn: Connection, day: date, out_dir: Path) -> tuple[int, str, dict[str, str] | None]:
    """Where the day's archive continues from: (after_seq, after_hash, previous file link)."""
    first = (
        conn.execute(select(ledger_search.c.at).order_by(ledger_search.c.seq).limit(1))
    ).first()
    if first is None:
        raise ArchiveRefused("the ledger has no entries yet: there is nothing to archive")
    first_day = first[0].astimezone(UTC).date()
    if day < first_day:
        raise ArchiveRefused(
            f"the ledger begins on {first_day.isoformat()}; its archives start on that day"
        )
    if day == first_day:
        return 0, GENESIS, None
    before = day - timedelta(days=1)
    path = out_dir / archive_name(before)
    if not path.is_file():
        raise ArchiveRefused(
            f"archive {before.isoformat()} first: {archive_name(before)} is not in {out_dir} "
            "(each day's archive chains to the previous day's)"
        )
    try:
        previous = read_archive(path)
    except ArchiveUnreadable as exc:
        raise ArchiveRefused(f"the previous archive {path.name} is unreadable: {exc}") from None
    broken = check_archive(previous)
    if broken is not None:
        raise ArchiveRefused(
            f"the previous archive {path.name} is not intact (seq {broken.seq}: {broken.reason})"
        )
    manifest = previous.manifest
    after_seq, after_hash = int(manifest["after_seq"]), str(manifest["last_hash"])
    if manifest["last_seq"] is not None:
        after_seq = int(manifest["last_seq"])
    if after_seq > 0:
        row = (conn.execute(select(ledger.c.entry_hash).where(ledger.c.seq == after_seq))).first()
        if row is None or row[0] != after_hash:
            raise LedgerBroken(
                after_seq, f"the ledger's entry differs from the one archived in {path.name}"
            )
    return after_seq, after_hash, {"file": path.name, "sha256": _sha256_file(path)}


def _checkpoint(conn: Connection, last_seq: int) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(
                checkpoints.c.tree_size,
                checkpoints.c.root_hash,
                checkpoints.c.note,
                checkpoints.c.created_at,
            )
            .order_by(checkpoints.c.tree_size.desc())
            .limit(1)
        )
    ).first()
    if row is None or row[0] < last_seq:
        return None
    return {
        "tree_size": row[0],
        "root_hash": row[1],
        "note": row[2],
        "created_at": row[3].isoformat().replace("+00:00", "Z"),
    }


def write_archive(
    conn: Connection, day: date, out_dir: Path, *, now: datetime | None = None
) -> Written:
    """Write ``day``'s archive into ``out_dir``. Refuses (ArchiveRefused) a day that has not ended,
    an existing file, or a missing previous day; raises LedgerBroken if the range is not intact.
    """
    now = now or _now()
    _, end = day_bounds(day)
    if now < end:
        raise ArchiveRefused(f"{day.isoformat()} has not ended yet (UTC): archive it tomorrow")
    if not out_dir.is_dir():
        raise ArchiveRefused(f"{out_dir} is not a directory")
    target = out_dir / archive_name(day)
    if target.exists():
        raise ArchiveRefused(f"{target} already exists: archives are never overwritten")
    after_seq, after_hash, previous = _previous(conn, day, out_dir)
    last = (
        conn.execute(select(func.max(ledger_search.c.seq)).where(ledger_search.c.at < end))
    ).scalar_one()
    last_seq = max(int(last or 0), after_seq)
    walk = _Walk(after_seq + 1, after_hash)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=out_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, tempfile.TemporaryFile() as rows:
            for seq, entry, prev_hash, entry_hash in _ledger_rows(conn, after_seq, last_seq):
                walk.step(seq, entry, prev_hash, entry_hash)
                rows.write(_row_line(seq, entry, prev_hash, entry_hash))
            if walk.last_seq != last_seq:
                raise LedgerBroken(walk.expected_seq, "entries are missing from the ledger")
            manifest: dict[str, Any] = {
                "format": ARCHIVE_FORMAT,
                "day": day.isoformat(),
                "first_seq": walk.first_seq,
                "last_seq": walk.last_seq if walk.count else None,
                "count": walk.count,
                "after_seq": after_seq,
                "after_hash": after_hash,
                "last_hash": walk.running,
                "previous": previous,
                "checkpoint": _checkpoint(conn, last_seq),
                "created_at": now.isoformat().replace("+00:00", "Z"),
            }
            rows.seek(0)
            _compress(manifest, rows, raw)
            raw.flush()
            os.fsync(raw.fileno())
        try:
            os.link(tmp, target)  # never replaces an existing file, unlike rename
        except FileExistsError:
            raise ArchiveRefused(
                f"{target} already exists: archives are never overwritten"
            ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(out_dir)
    return Written(target, manifest, _sha256_file(target))


def _compress(manifest: dict[str, Any], rows: BinaryIO, raw: BinaryIO) -> None:
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
        out.write(orjson.dumps({"manifest": manifest}, option=orjson.OPT_SORT_KEYS) + b"\n")
        for block in iter(lambda: rows.read(1 << 20), b""):
            out.write(block)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- reading and verifying ----------------------------------------------------------------------


class ArchiveUnreadable(Exception):
    """The file cannot be read as a gzip file at all (exit 2)."""


@dataclass(frozen=True, slots=True)
class Archive:
    """An archive as read: its name, SHA-256, manifest (or None if unusable) and rows."""

    path: Path
    sha256: str
    manifest: dict[str, Any]
    rows: list[Any]
    problem: str | None = None  # the manifest line itself is unusable


def read_archive(path: Path) -> Archive:
    """Read an archive file (raises ArchiveUnreadable if it is not there or not gzip)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArchiveUnreadable(exc.strerror or "cannot read") from None
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        raise ArchiveUnreadable("not a gzip file, or truncated") from None
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    sha = hashlib.sha256(data).hexdigest()
    try:
        head = orjson.loads(lines[0]) if lines else None
    except orjson.JSONDecodeError:
        head = None
    manifest = head.get("manifest") if isinstance(head, dict) else None
    problem = _manifest_problem(manifest)
    rows: list[Any] = []
    for line in lines[1:]:
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            rows.append(None)
    usable: dict[str, Any] = manifest if isinstance(manifest, dict) and problem is None else {}
    return Archive(path, sha, usable, rows, problem)


def _manifest_problem(manifest: object) -> str | None:
    if not isinstance(manifest, dict):
        return "the first line is not a manifest"
    if manifest.get("format") != ARCHIVE_FORMAT:
        return f"not a {ARCHIVE_FORMAT} manifest"
    try:
        date.fromisoformat(str(manifest.get("day")))
    except ValueError:
        return "the manifest's day is not a date"
    ints = ("count", "after_seq")
    if any(not isinstance(manifest.get(k), int) or manifest[k] < 0 for k in ints):
        return "the manifest's count or after_seq is not a whole number"
    for key in ("first_seq", "last_seq"):
        if manifest.get(key) is not None and not isinstance(manifest.get(key), int):
            return f"the manifest's {key} is not a whole number"
    for key in ("after_hash", "last_hash"):
        if not isinstance(manifest.get(key), str) or not _HEX64.match(manifest[key]):
            return f"the manifest's {key} is not a SHA-256"
    previous = manifest.get("previous")
    if previous is not None and not (
        isinstance(previous, dict)
        and isinstance(previous.get("file"), str)
        and isinstance(previous.get("sha256"), str)
    ):
        return "the manifest's previous link is malformed"
    return None


def check_archive(archive: Archive) -> LedgerBroken | None:
    """The first problem inside one archive, or None if it is intact on its own."""
    if archive.problem is not None:
        return LedgerBroken(0, archive.problem)
    manifest = archive.manifest
    after_seq: int = manifest["after_seq"]
    if (after_seq == 0) != (manifest["after_hash"] == GENESIS):
        return LedgerBroken(after_seq + 1, "the manifest's after_hash does not fit its after_seq")
    if after_seq == 0 and manifest["previous"] is not None:
        return LedgerBroken(1, "the first archive of a ledger names a previous archive")
    match = _NAME.match(archive.path.name)
    if match and match.group(1) != manifest["day"]:
        return LedgerBroken(
            after_seq + 1,
            f"the file is named for {match.group(1)} but holds the archive of {manifest['day']}",
        )
    walk = _Walk(after_seq + 1, manifest["after_hash"])
    try:
        for row in archive.rows:
            if not isinstance(row, dict):
                raise LedgerBroken(walk.expected_seq, "a line is not a JSON object")
            walk.step(row.get("seq"), row.get("entry"), row.get("prev_hash"), row.get("entry_hash"))
    except LedgerBroken as broken:
        return broken
    claims = (manifest["count"], manifest["first_seq"], manifest["last_seq"], manifest["last_hash"])
    found = (walk.count, walk.first_seq, walk.last_seq if walk.count else None, walk.running)
    if claims != found:
        bad = walk.expected_seq if manifest["count"] > walk.count else after_seq + 1
        return LedgerBroken(
            bad,
            "the manifest does not match the entries (count, first_seq, last_seq or last_hash: "
            f"manifest says {manifest['count']} entries, the file holds {walk.count})",
        )
    checkpoint = manifest.get("checkpoint")
    if checkpoint is not None and (
        not isinstance(checkpoint, dict)
        or not isinstance(checkpoint.get("tree_size"), int)
        or checkpoint["tree_size"] < walk.last_seq
    ):
        return LedgerBroken(after_seq + 1, "the manifest's checkpoint does not cover the entries")
    return None


def check_link(previous: Archive, current: Archive) -> LedgerBroken | None:
    """The first problem chaining ``current`` to the archive before it, or None."""
    p, c = previous.manifest, current.manifest
    seq = c["after_seq"] + 1
    expected_day = date.fromisoformat(p["day"]) + timedelta(days=1)
    if date.fromisoformat(c["day"]) != expected_day:
        return LedgerBroken(
            seq,
            f"expected the archive of {expected_day.isoformat()} after {previous.path.name}, "
            f"found {c['day']} (a day missing, or the files out of order)",
        )
    link = c["previous"]
    if link is None or link["sha256"] != previous.sha256:
        return LedgerBroken(
            seq,
            f"the SHA-256 of the previous archive ({previous.path.name}) is not the one this "
            "archive recorded (it was changed or replaced)",
        )
    if link["file"] != archive_name(date.fromisoformat(p["day"])):
        return LedgerBroken(seq, "the previous archive's recorded name is not its day's")
    last_seq = p["last_seq"] if p["last_seq"] is not None else p["after_seq"]
    if c["after_seq"] != last_seq or c["after_hash"] != p["last_hash"]:
        return LedgerBroken(seq, f"does not continue from seq {last_seq} of {previous.path.name}")
    return None


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of a verification: a file and what was found."""

    path: Path
    intact: bool
    message: str


def _checkpoint_problem(checkpoint: object) -> str | None:
    """Whether a manifest's checkpoint states, in its note, the size and root it claims."""
    if not isinstance(checkpoint, dict):
        return "the manifest's checkpoint is malformed"
    size, root, note = (
        checkpoint.get("tree_size"),
        checkpoint.get("root_hash"),
        checkpoint.get("note"),
    )
    if not isinstance(size, int) or not isinstance(root, str) or not isinstance(note, str):
        return "the manifest's checkpoint is malformed"
    lines = note.split("\n\n", 1)[0].split("\n")
    try:
        stated = base64.b64decode(lines[2], validate=True).hex() if len(lines) > 2 else None
    except (binascii.Error, ValueError):
        stated = None
    if len(lines) < 3 or lines[1] != str(size) or stated != root:
        return "the checkpoint's note does not state the tree size and root the manifest gives"
    return None


class _Tree:
    """The RFC 9162 tree over the entries walked so far, to check checkpoints' roots."""

    def __init__(self) -> None:
        self.size = 0
        self.frontier: list[bytes] = []
        self.pending: dict[int, tuple[str, str]] = {}  # tree size -> (root hex, file name)

    def expect(self, size: int, root: str, file: str) -> None:
        self.pending.setdefault(size, (root, file))

    def add(self, entry: str) -> LedgerBroken | None:
        grown = merkle.append(self.size, self.frontier, [merkle.leaf_hash(entry.encode())])
        self.size, self.frontier = grown.size, grown.frontier
        return self.check()

    def check(self) -> LedgerBroken | None:
        expected = self.pending.pop(self.size, None)
        if expected is None or merkle.root_from_frontier(self.frontier).hex() == expected[0]:
            return None
        return LedgerBroken(
            self.size,
            f"the entries up to seq {self.size} do not give the root of the checkpoint recorded "
            f"in {expected[1]} (an entry at or before it was changed)",
        )


def verify_archives(
    paths: Sequence[Path], keys: Sequence[Verifier] = ()
) -> tuple[int, list[Finding]]:
    """Verify archives given in day order: (exit code, findings). 0 intact; 1 the first broken
    file with the first bad seq and why; 2 a file unreadable.

    When the first archive starts the ledger (seq 1), the Merkle tree is rebuilt over the entries
    as they are read, and every checkpoint a manifest records whose tree size the archives reach
    must have the root the entries give. With ``keys``, every recorded checkpoint must also be
    signed by one of them.
    """
    findings: list[Finding] = []
    previous: Archive | None = None
    tree: _Tree | None = None
    for path in paths:
        try:
            archive = read_archive(path)
        except ArchiveUnreadable as exc:
            findings.append(Finding(path, False, f"unreadable: {exc}"))
            return 2, findings
        broken = check_archive(archive)
        if broken is None and previous is not None:
            broken = check_link(previous, archive)
        if broken is None:
            if previous is None and archive.manifest["after_seq"] == 0:
                tree = _Tree()
            broken = _check_tree(archive, tree, keys)
        if broken is not None:
            where = f"first bad seq {broken.seq}" if broken.seq else "manifest"
            findings.append(Finding(path, False, f"NOT intact: {where}: {broken.reason}"))
            return 1, findings
        findings.append(Finding(path, True, _summary(archive)))
        previous = archive
    return 0, findings


def _check_tree(
    archive: Archive, tree: _Tree | None, keys: Sequence[Verifier]
) -> LedgerBroken | None:
    checkpoint = archive.manifest.get("checkpoint")
    if checkpoint is not None:
        problem = _checkpoint_problem(checkpoint)
        if problem is None and keys:
            try:
                open_checkpoint(checkpoint["note"], keys)
            except NoteError as exc:
                problem = f"the checkpoint's signature does not verify: {exc}"
        if problem is not None:
            return LedgerBroken(archive.manifest["after_seq"] + 1, problem)
        if tree is not None:
            tree.expect(checkpoint["tree_size"], checkpoint["root_hash"], archive.path.name)
    if tree is None:
        return None
    broken = tree.check()
    for row in archive.rows:
        if broken is not None:
            return broken
        broken = tree.add(row["entry"])
    return broken


def _summary(archive: Archive) -> str:
    m = archive.manifest
    if not m["count"]:
        return f"intact: {m['day']}, no entries (continues from seq {m['after_seq']})"
    return f"intact: {m['day']}, seqs {m['first_seq']} to {m['last_seq']} ({m['count']} entries)"


def iter_entries(archive: Archive) -> Iterator[dict[str, Any]]:
    """The archive's entries, parsed (for reading an archive back, as in tests)."""
    for row in archive.rows:
        yield orjson.loads(row["entry"])
