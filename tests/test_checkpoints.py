"""Signed notes and checkpoints: the C2SP format byte for byte (the Go reference vector), the
checkpointer's schedule, its refusal to sign a tree that does not extend the last checkpoint, the
write-once copies, and `joinedup audit keygen`."""

from __future__ import annotations

import asyncio
import base64
import stat
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks.ledger_builder import ORIGIN as LEDGER_ORIGIN
from benchmarks.ledger_builder import build_ledger
from gateway.audit import merkle
from gateway.audit.checkpoints import (
    Checkpointer,
    CheckpointRefused,
    TooSoon,
    checkpoint_text,
    directory_sizes,
    open_checkpoint,
    parse_text,
    read_copy,
    sign_checkpoint,
    signer_for,
    write_copy,
)
from gateway.audit.events import AuditEvent, IndexUpdated
from gateway.audit.settings import LedgerSettings
from gateway.audit.signing import (
    NoteError,
    Signer,
    load_signer,
    open_note,
    parse_verifier,
    write_new_key,
)
from gateway.cli import main
from gateway.errors import ConfigurationError
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_engine
from gateway.store.tables import checkpoints, ledger, ledger_head, ledger_nodes, ledger_search
from tests.conftest import Database

# golang.org/x/mod/sumdb/note's own example (note_test.go): key, text and signed note.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ORIGIN = "checkpoints.test/ledger"


def _go_signer() -> Signer:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert 0x01 == seed[0]
    return Signer("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed[1:]))


def test_the_go_reference_note_is_reproduced_byte_for_byte() -> None:
    """Our key id, verifier key string and signature match Go's sumdb/note exactly, so any
    C2SP tool (Go's note package, transparency-dev witnesses) reads our checkpoints."""
    signer = _go_signer()
    assert GO_VKEY == signer.verifier.encode()
    assert GO_NOTE == signer.sign(GO_TEXT)
    opened = open_note(GO_NOTE, [parse_verifier(GO_VKEY)])
    assert (GO_TEXT, (GO_VKEY,)) == (opened.text, opened.signed_by)


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (GO_NOTE.replace("cryptography", "cryptographY"), "does not verify"),
        (GO_NOTE.replace("\n\n", "\n"), "needs a blank line"),
        (GO_NOTE.replace("— ", "-- "), "is not '— <key name> <base64 signature>'"),
        (GO_NOTE.replace("x08go", "!08go"), "not valid base64"),
        (GO_NOTE.rstrip("\n"), "must end with a newline"),
        (GO_NOTE.replace("If you", "If\tyou"), "control characters"),
        (GO_NOTE + "— PeterNeumann x08g\n", "too short"),
    ],
)
def test_malformed_or_altered_notes_are_refused_with_a_reason(note: str, reason: str) -> None:
    with pytest.raises(NoteError, match=reason):
        open_note(note, [parse_verifier(GO_VKEY)])


def test_unknown_keys_are_ignored_but_one_known_key_must_sign() -> None:
    """A witness's extra signature is ignored; a note no known key signed is refused."""
    witness = Signer("witness.example/w1", Ed25519PrivateKey.generate())
    cosigned = GO_NOTE + witness.sign(GO_TEXT).split("\n\n", 1)[1]
    assert GO_TEXT == open_note(cosigned, [parse_verifier(GO_VKEY)]).text
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(GO_NOTE, [witness.verifier])


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        (GO_VKEY.replace("+ARpc", "+AhpjZ"), "not valid base64"),
        (
            "PeterNeumann+c74f20a3+"
            + base64.b64encode(b"\x02" + base64.b64decode(GO_VKEY.split("+", 2)[2])[1:]).decode(),
            "must be an Ed25519 key",
        ),
        ("PeterNeumann+c74f20a3", r"<name>\+<hex key id>\+<base64 key>"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "spaces"),
    ],
)
def test_bad_verifier_keys_are_refused(key: str, reason: str) -> None:
    with pytest.raises(NoteError, match=reason):
        parse_verifier(key)


def test_checkpoint_text_is_the_tlog_checkpoint_form() -> None:
    root = bytes(range(32))
    text = checkpoint_text(ORIGIN, 1234, root)
    assert f"{ORIGIN}\n1234\n{base64.b64encode(root).decode()}\n" == text
    assert (ORIGIN, 1234, root) == parse_text(text)
    for bad, reason in (
        (text.replace("1234", "01234"), "tree size"),
        (text.replace("\n1234", "\n-1"), "tree size"),
        (f"{ORIGIN}\n1\nAAAA\n", "32 bytes"),
        (f"{ORIGIN}\n1\n", "at least three lines"),
    ):
        with pytest.raises(NoteError, match=reason):
            parse_text(bad)


def test_the_demo_key_is_generated_once_with_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No signing_key_file: var/ledger-signing-key.pem is made once, owner-only, and reused."""
    monkeypatch.chdir(tmp_path)
    first = signer_for(LedgerSettings(origin=ORIGIN))
    path = tmp_path / "var" / "ledger-signing-key.pem"
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)
    assert first.verifier.encode() == signer_for(LedgerSettings(origin=ORIGIN)).verifier.encode()
    assert [] == [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_configured_key_that_is_missing_or_not_ed25519_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the signing key"):
        signer_for(LedgerSettings(signing_key_file=tmp_path / "absent.pem"))
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(ConfigurationError, match="PKCS#8 PEM"):
        signer_for(LedgerSettings(signing_key_file=tmp_path / "junk.pem"))


def test_keygen_writes_a_key_and_its_verifier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`joinedup audit keygen` writes a 0600 PKCS#8 key and a .vkey; never overwrites."""
    assert 0 == main(["audit", "keygen", "--origin", ORIGIN, "--out", str(tmp_path)])
    key = tmp_path / "ledger-signing-key.pem"
    vkey = (tmp_path / "ledger-signing-key.vkey").read_text().strip()
    assert 0o600 == stat.S_IMODE(key.stat().st_mode)
    assert vkey == load_signer(key, ORIGIN).verifier.encode()
    assert vkey.startswith(f"{ORIGIN}+")
    assert vkey in capsys.readouterr().out
    assert 2 == main(["audit", "keygen", "--origin", ORIGIN, "--out", str(tmp_path)])
    assert "refusing to overwrite" in capsys.readouterr().err
    assert 2 == main(["audit", "keygen", "--origin", "a+b", "--out", str(tmp_path / "x")])


def test_copies_are_write_once(tmp_path: Path) -> None:
    """A copy is created exclusively, read-only; the same head again is fine, another is not."""
    signer = Signer(ORIGIN, Ed25519PrivateKey.generate())
    note = signer.sign(checkpoint_text(ORIGIN, 7, bytes(32)))
    assert write_copy(tmp_path, 7, note)
    assert 0o444 == stat.S_IMODE((tmp_path / "7.checkpoint").stat().st_mode)
    assert not write_copy(tmp_path, 7, note)
    other = signer.sign(checkpoint_text(ORIGIN, 7, bytes([1]) * 32))
    with pytest.raises(ValueError, match="different tree head"):
        write_copy(tmp_path, 7, other)
    assert note == read_copy(tmp_path, 7)
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "08.checkpoint").write_text("ignored")
    assert [7] == directory_sizes(tmp_path)


# -- the checkpointer on a real database --------------------------------------------------------


def _event(n: int) -> AuditEvent:
    return IndexUpdated(
        at=datetime.now(UTC), persons=n, identifiers=0, family_links=0, worker_roles=0
    )


def _unit(n: int) -> UnitOfWork:
    return UnitOfWork(events=lambda: [_event(n)])


async def _fill(committer: GroupCommitter, count: int) -> None:
    for i in range(count):
        await committer.submit(_unit(i))


def _settings(tmp_path: Path, **values: object) -> LedgerSettings:
    key = tmp_path / "key.pem"
    write_new_key(key)
    base: dict[str, object] = {
        "origin": ORIGIN,
        "signing_key_file": key,
        "checkpoint_dir": tmp_path / "copies",
    }
    base.update(values)
    return LedgerSettings.model_validate(base)


async def _stored(engine: AsyncEngine) -> list[tuple[int, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(checkpoints.c.tree_size, checkpoints.c.note).order_by(checkpoints.c.tree_size)
        )
        return [(int(r[0]), r[1]) for r in rows]


async def test_checkpoints_follow_the_entry_count_and_are_copied_out(
    engine: AsyncEngine, committer: GroupCommitter, tmp_path: Path
) -> None:
    """Every N entries (at the batch boundary after), the checkpointer signs the tree head; the
    note verifies, its root is the tree's, and the copy in checkpoint_dir is identical."""
    settings = _settings(tmp_path, checkpoint_entries=5, checkpoint_seconds=3600)
    signer = signer_for(settings)
    checkpointer = Checkpointer(engine, settings, signer, [signer.verifier])
    committer.on_commit(checkpointer.committed)
    await checkpointer.start()
    try:
        for round_ in (1, 2, 3):
            await _fill(committer, 5)
            for _ in range(200):
                if checkpointer.signed == round_:
                    break
                await asyncio.sleep(0.01)
    finally:
        await checkpointer.stop()
    stored = await _stored(engine)
    assert [5, 10, 15] == [size for size, _ in stored]
    leaves = []
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(ledger_nodes.c.hash)
            .where(ledger_nodes.c.level == 0)
            .order_by(ledger_nodes.c.idx)
        )
        leaves = [bytes(r[0]) for r in rows]
    for size, note in stored:
        checkpoint = open_checkpoint(note, [signer.verifier], ORIGIN)
        assert merkle.append(0, [], leaves[:size]).root == checkpoint.root
        assert note == read_copy(tmp_path / "copies", size)


async def test_time_signs_when_entries_are_few_and_stop_signs_the_rest(
    engine: AsyncEngine, committer: GroupCommitter, tmp_path: Path
) -> None:
    """Fewer than N new entries: signed once checkpoint_seconds have passed, and nothing more
    while nothing is new; at shutdown a checkpointer signs whatever is new."""
    settings = _settings(tmp_path, checkpoint_entries=1000, checkpoint_seconds=0.2)
    signer = signer_for(settings)
    await _fill(committer, 3)
    by_time = Checkpointer(engine, settings, signer, [signer.verifier])
    await by_time.start()
    for _ in range(500):
        if by_time.signed:
            break
        await asyncio.sleep(0.01)
    assert [3] == [s for s, _ in await _stored(engine)]
    await asyncio.sleep(0.5)
    await by_time.stop()
    assert 1 == by_time.signed  # nothing new, nothing signed, not even at stop
    slow = settings.model_copy(update={"checkpoint_seconds": 3600.0})
    at_stop = Checkpointer(engine, slow, signer, [signer.verifier])
    await at_stop.start()
    await _fill(committer, 2)
    await at_stop.stop()
    assert [3, 5] == [s for s, _ in await _stored(engine)]


async def test_two_processes_may_sign_the_same_size(
    engine: AsyncEngine, committer: GroupCommitter, tmp_path: Path
) -> None:
    """Two checkpointers (two gateway processes) signing one tree size: one row, one copy."""
    settings = _settings(tmp_path)
    signer = signer_for(settings)
    await _fill(committer, 4)
    first, second = await asyncio.gather(
        sign_checkpoint(engine, signer, [signer.verifier], settings.checkpoint_dir),
        sign_checkpoint(engine, signer, [signer.verifier], settings.checkpoint_dir),
    )
    assert {4} == {c.tree_size for c in (first, second) if c is not None}
    assert [4] == [s for s, _ in await _stored(engine)]
    assert [4] == directory_sizes(tmp_path / "copies")
    assert await sign_checkpoint(engine, signer, [signer.verifier]) is None  # nothing new


async def test_a_tree_that_does_not_extend_the_last_checkpoint_is_refused_with_an_alarm(
    engine: AsyncEngine, committer: GroupCommitter, tmp_path: Path
) -> None:
    """If the stored tree no longer extends the newest checkpoint (a node rewritten), nothing is
    signed and a critical alarm is logged."""
    settings = _settings(tmp_path)
    signer = signer_for(settings)
    await _fill(committer, 6)
    assert await sign_checkpoint(engine, signer, [signer.verifier], settings.checkpoint_dir)
    await _fill(committer, 3)
    async with engine.begin() as conn:
        await conn.execute(
            update(ledger_nodes)
            .where(ledger_nodes.c.level == 2, ledger_nodes.c.idx == 0)
            .values(hash=bytes(32))
        )
    with structlog.testing.capture_logs() as logs, pytest.raises(CheckpointRefused):
        await sign_checkpoint(engine, signer, [signer.verifier], settings.checkpoint_dir)
    alarm = [e for e in logs if e["event"] == "checkpoint_refused"]
    assert alarm
    assert ("critical", True) == (alarm[0]["log_level"], alarm[0]["alarm"])
    assert "does not extend the previous checkpoint" in alarm[0]["reason"]
    assert [6] == [s for s, _ in await _stored(engine)]


async def test_a_previous_checkpoint_signed_by_an_unknown_key_is_refused(
    engine: AsyncEngine, committer: GroupCommitter, tmp_path: Path
) -> None:
    """After a key change without the old key in verifier_keys the checkpointer cannot check
    that it extends the old checkpoint, so it refuses, rather than sign blind."""
    settings = _settings(tmp_path)
    old = signer_for(settings)
    await _fill(committer, 2)
    assert await sign_checkpoint(engine, old, [old.verifier])
    await _fill(committer, 2)
    new = Signer(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(CheckpointRefused, match="no signature by a known key"):
        await sign_checkpoint(engine, new, [new.verifier])
    assert await sign_checkpoint(engine, new, [new.verifier, old.verifier])


async def test_a_shorter_ledger_than_the_copied_checkpoint_is_refused(
    engine: AsyncEngine, committer: GroupCommitter, tmp_path: Path
) -> None:
    """The newest copy out of the database's reach counts even if its row was deleted."""
    settings = _settings(tmp_path)
    signer = signer_for(settings)
    await _fill(committer, 3)
    assert await sign_checkpoint(engine, signer, [signer.verifier], settings.checkpoint_dir)
    # A copy of a longer tree is out there (the rows after 3 were cut, and its database row
    # deleted): the ledger must not be signed at a size below it.
    write_copy(tmp_path / "copies", 9, signer.sign(checkpoint_text(ORIGIN, 9, bytes(32))))
    await _fill(committer, 1)
    with pytest.raises(CheckpointRefused):
        await sign_checkpoint(engine, signer, [signer.verifier], settings.checkpoint_dir)


async def test_on_demand_signing_is_at_most_once_a_second(
    engine: AsyncEngine, committer: GroupCommitter, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, checkpoint_entries=1000, checkpoint_seconds=3600)
    signer = signer_for(settings)
    checkpointer = Checkpointer(engine, settings, signer, [signer.verifier])
    checkpointer.ON_DEMAND_INTERVAL = 0.3  # the mechanism, faster (the route's test uses 1 s)
    await _fill(committer, 2)
    await checkpointer.on_demand(2)
    await checkpointer.on_demand(2)  # already covered: nothing to sign, no limit reached
    await _fill(committer, 1)
    with pytest.raises(TooSoon) as raised:
        await checkpointer.on_demand(3)
    assert 0 < raised.value.retry_after <= 0.3
    await asyncio.sleep(raised.value.retry_after)
    await checkpointer.on_demand(3)
    assert [2, 3] == [s for s, _ in await _stored(engine)]


# -- joinedup audit verify ------------------------------------------------------------------------


def _config(tmp_path: Path, vkey: str, directory: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"ledger:\n  origin: {LEDGER_ORIGIN}\n  verifier_keys: ['{vkey}']\n"
        f"  checkpoint_dir: {directory}\n"
    )
    return config


async def _verified_entries(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(ledger.c.entry).order_by(ledger.c.seq))
        found = [orjson.loads(r[0]) for r in rows]
    return [e for e in found if e["event"] == "ledger.verified"]


async def test_audit_verify_checks_checkpoints_and_records_its_result(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    """`joinedup audit verify` with the configured keys and checkpoint_dir: intact, recorded as a
    ledger.verified entry by the CLI (not with --no-record); after a thorough truncation below a
    copied checkpoint, exit 1 naming the first missing seq, and that result recorded too."""
    monkeypatch.chdir(tmp_path)  # no demo key lying about: only the configured one counts
    monkeypatch.setenv("JOINEDUP_DATABASE_URL", database.url)
    if database.schema:
        monkeypatch.setenv("JOINEDUP_DATABASE_SCHEMA", database.schema)
    directory = tmp_path / "copies"
    built = await build_ledger(database.url, database.schema, 45, every=10, directory=directory)
    config = _config(tmp_path, built.signer.verifier.encode(), directory)
    run = ["audit", "verify", "--config", str(config)]
    assert 0 == await asyncio.to_thread(main, run)
    out = capsys.readouterr().out
    assert "ledger intact: 45 entries verified; chain, tree and 4 checkpoint(s) agree" in out
    assert "recorded as ledger entry 46" in out
    engine = create_engine(database.url, schema=database.schema)
    try:
        (recorded,) = await _verified_entries(engine)
        assert (True, 45, 45, "cli", None) == (
            recorded["intact"],
            recorded["entries"],
            recorded["tree_size"],
            recorded["by"],
            recorded["first_bad_seq"],
        )
        assert 0 == await asyncio.to_thread(main, [*run, "--no-record"])
        assert 1 == len(await _verified_entries(engine))
        # Cut everything after 25 and tidy up behind it: only the copies out of reach tell.
        async with engine.begin() as conn:
            await conn.execute(delete(ledger).where(ledger.c.seq > 25))
            last = (
                await conn.execute(select(ledger.c.entry_hash).where(ledger.c.seq == 25))
            ).scalar_one()
            await conn.execute(update(ledger_head).values(seq=25, entry_hash=last))
            for level in range(8):
                await conn.execute(
                    delete(ledger_nodes).where(
                        ledger_nodes.c.level == level, ledger_nodes.c.idx >= (25 >> level)
                    )
                )
            await conn.execute(delete(checkpoints).where(checkpoints.c.tree_size > 25))
            await conn.execute(delete(ledger_search).where(ledger_search.c.seq > 25))
        assert 1 == await asyncio.to_thread(main, run)
        out = capsys.readouterr().out
        assert "first bad entry is seq 26: the ledger has 25 entries but checkpoint 40" in out
        assert "entries 26-40 are missing (truncated)" in out
        assert "recorded as ledger entry 26" in out
        (recorded,) = await _verified_entries(engine)
        assert (False, 26) == (recorded["intact"], recorded["first_bad_seq"])
    finally:
        await engine.dispose()


async def test_audit_verify_without_any_key_for_existing_checkpoints_exits_2(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOINEDUP_DATABASE_URL", database.url)
    if database.schema:
        monkeypatch.setenv("JOINEDUP_DATABASE_SCHEMA", database.schema)
    await build_ledger(database.url, database.schema, 12, every=10, directory=None)
    assert 2 == await asyncio.to_thread(main, ["audit", "verify"])
    assert "cannot check checkpoint signatures: no key configured" in capsys.readouterr().err


def test_audit_verify_on_a_database_without_the_schema_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    """No tables: a clear message and exit 2, no traceback, no connection string."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("JOINEDUP_DATABASE_URL", url)
    assert 2 == main(["audit", "verify"])
    err = capsys.readouterr().err
    assert "cannot read the ledger (OperationalError)" in err
    assert "empty.db" not in err
