"""Daily archives: written per UTC day from the real ledger, chained file to file, verified with no
server or database; every kind of tampering with the files is caught and named."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from sqlalchemy import func, insert, select

from gateway.audit import archive as archive_module
from gateway.audit import merkle
from gateway.audit.archive import archive_name
from gateway.audit.chain import GENESIS, chain_hash
from gateway.audit.events import IndexUpdated, NoRecipient
from gateway.audit.settings import LedgerSettings
from gateway.audit.signing import load_signer, write_new_key
from gateway.cli import main
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_sync_engine_for
from gateway.store.tables import checkpoints, ledger
from tests.conftest import Database
from tests.gateway_harness import start_harness
from tests.ledger_story import joinedup, share_and_refuse, use_database

D1, D2, D3, D4 = (date(2026, 11, 20) + timedelta(days=i) for i in range(4))
PERSON = "33333333-3333-4333-8333-333333333333"


def _at(day: date, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=UTC)


def _unit(event: Any) -> UnitOfWork:
    return UnitOfWork(events=lambda: [event])


async def _ledger_over_four_days(database: Database) -> list[tuple[int, str, str, str]]:
    """Six entries over 20 to 23 November; the 22nd has none, and the 21st's last entry, stamped
    just before midnight, is committed after one stamped just after it."""
    stamps = [
        _at(D1, 10),
        _at(D1, 12),
        _at(D2, 9),
        _at(D4, 0, 0, 0, 200_000),
        _at(D2, 23, 59, 59, 900_000),
        _at(D4, 8),
    ]
    writer = create_sync_engine_for(database.url, schema=database.schema)
    committer = GroupCommitter(writer)
    await committer.start()
    try:
        for i, at in enumerate(stamps):
            event: Any = (
                NoRecipient(at=at, kind="crisis-event", reason="no recipient", person_ids=(PERSON,))
                if i % 2
                else IndexUpdated(at=at, persons=i, identifiers=1, family_links=0, worker_roles=0)
            )
            await committer.submit(_unit(event))
        with writer.begin() as conn:
            rows = [
                (r[0], r[1], r[2], r[3])
                for r in conn.execute(
                    select(
                        ledger.c.seq, ledger.c.entry, ledger.c.prev_hash, ledger.c.entry_hash
                    ).order_by(ledger.c.seq)
                )
            ]
            # A checkpoint over the whole ledger (unsigned here: signing is tested elsewhere).
            grown = merkle.append(0, [], [merkle.leaf_hash(r[1].encode()) for r in rows])
            root = grown.root
            note = f"test.local/ledger\n6\n{base64.b64encode(root).decode()}\n\n\u2014 test x\n"
            conn.execute(
                insert(checkpoints).values(
                    tree_size=6, root_hash=root.hex(), note=note, created_at=_at(D4, 9)
                )
            )
    finally:
        await committer.stop()
        writer.dispose()
    return rows


def _read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    first, *rest = gzip.decompress(path.read_bytes()).splitlines()
    return orjson.loads(first)["manifest"], [orjson.loads(line) for line in rest]


def _write(path: Path, manifest: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    lines = [orjson.dumps({"manifest": manifest}, option=orjson.OPT_SORT_KEYS)]
    lines += [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in rows]
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))


async def _four_archives(
    database: Database, out: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Path], list[tuple[int, str, str, str]]]:
    use_database(monkeypatch, database)
    assert 0 == await joinedup("db", "upgrade")
    rows = await _ledger_over_four_days(database)
    await asyncio.to_thread(out.mkdir)
    for day in (D1, D2, D3, D4):
        assert 0 == await joinedup("audit", "archive", "--day", day.isoformat(), "--out", str(out))
    return [out / archive_name(d) for d in (D1, D2, D3, D4)], rows


async def test_daily_archives_chain_and_verify(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    """One file per day holding the rows exactly as stored, a file for the empty day, each
    manifest chained to the previous file; verify-archive passes; refusals are clear."""
    files, rows = await _four_archives(database, tmp_path / "archives", monkeypatch)
    manifests = [_read(f)[0] for f in files]
    spans = [
        (m["day"], m["first_seq"], m["last_seq"], m["count"], m["after_seq"]) for m in manifests
    ]
    assert [
        ("2026-11-20", 1, 2, 2, 0),
        ("2026-11-21", 3, 5, 3, 2),  # seq 4, stamped 00:00:00.2 on the 23rd, sits here
        ("2026-11-22", None, None, 0, 5),  # no entries: still a file, so the chain has no hole
        ("2026-11-23", 6, 6, 1, 5),
    ] == spans
    stored = [{"seq": s, "entry": e, "prev_hash": p, "entry_hash": h} for s, e, p, h in rows]
    assert stored == [r for f in files for r in _read(f)[1]]
    assert (GENESIS, None) == (manifests[0]["after_hash"], manifests[0]["previous"])
    for before, after, manifest in zip(files, files[1:], manifests[1:], strict=False):
        assert {"file": before.name, "sha256": _sha256(before)} == manifest["previous"]
        assert _read(before)[0]["last_hash"] == manifest["after_hash"]
        assert after.name == archive_name(date.fromisoformat(manifest["day"]))
    assert all(6 == m["checkpoint"]["tree_size"] for m in manifests)
    capsys.readouterr()

    assert 0 == main(["audit", "verify-archive", *map(str, files)])
    out = capsys.readouterr().out
    assert "4 archive(s) intact and chained" in out
    assert "2026-11-22, no entries" in out

    # Refusals: never overwrite, never skip a day, nothing before the ledger, no unfinished day.
    kept = files[1].read_bytes()
    archives = str(files[0].parent)
    for day, reason in (
        (D2, "already exists"),
        (D4 + timedelta(days=2), f"archive {(D4 + timedelta(days=1)).isoformat()} first"),
        (D1 - timedelta(days=1), "the ledger begins on 2026-11-20"),
        (datetime.now(UTC).date(), "has not ended yet"),
    ):
        assert 2 == await joinedup("audit", "archive", "--day", day.isoformat(), "--out", archives)
        assert reason in capsys.readouterr().err
    assert kept == files[1].read_bytes()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rehash(rows: list[dict[str, Any]], running: str) -> str:
    """Recompute every entry_hash from ``running`` on (a forger's full rewrite)."""
    for row in rows:
        row["prev_hash"] = running
        row["entry_hash"] = running = chain_hash(running, row["entry"].encode())
    return running


def _edit_entry(row: dict[str, Any]) -> None:
    document = orjson.loads(row["entry"])
    document["at"] = "2026-11-21T08:00:00Z"
    row["entry"] = bytes(rfc8785.dumps(document)).decode()


Tamper = Callable[[list[Path]], list[Path]]


def _in_file(
    index: int, change: Callable[[dict[str, Any], list[dict[str, Any]]], object]
) -> Tamper:
    def tamper(files: list[Path]) -> list[Path]:
        manifest, rows = _read(files[index])
        change(manifest, rows)
        _write(files[index], manifest, rows)
        return files

    return tamper


def _rewrite_seq(seq: int) -> Callable[[dict[str, Any], list[dict[str, Any]]], None]:
    def change(manifest: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        _edit_entry(next(r for r in rows if r["seq"] == seq))
        manifest["last_hash"] = _rehash(rows, manifest["after_hash"])

    return change


def _swap_names(files: list[Path]) -> list[Path]:
    scratch = files[1].with_suffix(".swap")
    files[1].rename(scratch)
    files[3].rename(files[1])
    scratch.rename(files[3])
    return files


def _truncate(files: list[Path]) -> list[Path]:
    files[2].write_bytes(files[2].read_bytes()[:20])
    return files


def _manifest_garbage(files: list[Path]) -> list[Path]:
    _, rows = _read(files[1])
    lines = [b"not json"] + [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in rows]
    files[1].write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
    return files


TAMPERS: list[tuple[str, Tamper, int, int, str]] = [
    # (what, tamper, exit code, index of the file named, expected in the message)
    (
        "edit an entry",
        _in_file(1, lambda m, rows: _edit_entry(rows[1])),
        1,
        1,
        "first bad seq 4: entry_hash does not match",
    ),
    (
        "edit an entry and recompute its file's hashes",
        _in_file(1, _rewrite_seq(4)),
        1,
        2,
        "SHA-256 of the previous archive",
    ),
    (
        "rewrite the newest file whole",
        _in_file(3, _rewrite_seq(6)),
        1,
        3,
        "do not give the root of the checkpoint",
    ),
    ("delete an entry", _in_file(1, lambda m, rows: rows.pop(0)), 1, 1, "first bad seq 3"),
    (
        "insert an entry",
        _in_file(1, lambda m, rows: rows.insert(2, dict(rows[1]))),
        1,
        1,
        "first bad seq 4: sequence gap",
    ),
    (
        "reorder two entries",
        _in_file(1, lambda m, rows: rows.insert(1, rows.pop(2))),
        1,
        1,
        "first bad seq 4: sequence gap",
    ),
    (
        "edit a manifest's count",
        _in_file(1, lambda m, rows: m.update(count=2)),
        1,
        1,
        "the manifest does not match the entries",
    ),
    (
        "edit a manifest's created_at",
        _in_file(1, lambda m, rows: m.update(created_at="2026-11-25T00:00:00Z")),
        1,
        2,
        "SHA-256 of the previous archive",
    ),
    (
        "edit a manifest's checkpoint root",
        _in_file(0, lambda m, rows: m["checkpoint"].update(root_hash="0" * 64)),
        1,
        0,
        "does not state the tree size and root",
    ),
    ("drop a day", lambda files: [files[0], files[1], files[3]], 1, 2, "a day missing"),
    ("swap two files' names", _swap_names, 1, 1, "the file is named for 2026-11-21"),
    ("files out of order", lambda files: [files[1], files[0], *files[2:]], 1, 1, "out of order"),
    ("a manifest that is not JSON", _manifest_garbage, 1, 1, "not a manifest"),
    ("a truncated file", _truncate, 2, 2, "unreadable"),
    (
        "a missing file",
        lambda files: [*files[:2], files[2].with_name("nope.gz")],
        2,
        2,
        "unreadable",
    ),
]


async def test_tampering_with_archives_is_detected(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    """Each tamper, on a fresh copy of four intact archives, is caught: exit 1 naming the file,
    the first bad seq and why (2 for a file that cannot be read)."""
    files, _ = await _four_archives(database, tmp_path / "intact", monkeypatch)
    capsys.readouterr()
    for n, (what, tamper, code, named, message) in enumerate(TAMPERS):
        copy = tmp_path / f"tamper-{n}"
        shutil.copytree(files[0].parent, copy)
        given = tamper([copy / f.name for f in files])
        assert code == main(["audit", "verify-archive", *map(str, given)]), what
        err = capsys.readouterr().err
        assert f"{given[named]}: " in err, (what, err)
        assert message in err, (what, err)
        assert err.count("\n") == 1, what  # one finding: the first


async def test_archive_of_a_day_the_gateway_recorded(
    aiohttp_client: Any,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    """Exchanges through the running gateway, checkpoints signed as it goes; once the day is
    over its archive holds every entry, the newest signed checkpoint, and verifies."""
    key_file, other_key = tmp_path / "ledger.pem", tmp_path / "other.pem"
    for path in (key_file, other_key):
        write_new_key(path)
    ledger_settings = LedgerSettings(
        signing_key_file=key_file, checkpoint_entries=1, checkpoint_seconds=0.05
    )
    async for h in start_harness(aiohttp_client, database, ledger=ledger_settings):
        story = await share_and_refuse(h)
        size = len(await h.entries())
        for _ in range(250):
            async with h.engine.connect() as conn:
                signed = (await conn.execute(select(func.max(checkpoints.c.tree_size)))).scalar()
            if signed == size:
                break
            await asyncio.sleep(0.02)
        assert size == signed
        use_database(monkeypatch, database)
        today = datetime.fromisoformat(story.permit["at"]).date()
        tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        later = tomorrow + timedelta(minutes=5)
        monkeypatch.setattr(archive_module, "_now", lambda later=later: later)
        out = tmp_path / "archives"
        await asyncio.to_thread(out.mkdir)
        assert 0 == await joinedup(
            "audit", "archive", "--day", today.isoformat(), "--out", str(out)
        )
        path = out / archive_name(today)
        manifest, rows = _read(path)
        assert [e["seq"] for e in await h.entries()] == [r["seq"] for r in rows]
        assert (1, size, size) == (manifest["first_seq"], manifest["last_seq"], manifest["count"])
        assert f"\n{size}\n" in manifest["checkpoint"]["note"]
        assert "\n\n\u2014 " in manifest["checkpoint"]["note"]  # a signed note
        capsys.readouterr()
        assert 0 == main(["audit", "verify-archive", str(path)])
        printed = capsys.readouterr().out
        assert f"seqs 1 to {size}" in printed
        assert "checkpoint signatures NOT checked (give --key)" in printed

        # With the ledger's verifier key the checkpoint's signature is checked too; a checkpoint
        # signed by another key is refused.
        vkey = load_signer(key_file, ledger_settings.origin).verifier.encode()
        assert 0 == main(["audit", "verify-archive", str(path), "--key", vkey])
        assert "signatures checked against 1 key(s)" in capsys.readouterr().out
        stranger = load_signer(other_key, ledger_settings.origin).verifier.encode()
        assert 1 == main(["audit", "verify-archive", str(path), "--key", stranger])
        assert "the checkpoint's signature does not verify" in capsys.readouterr().err
        assert 2 == main(["audit", "verify-archive", str(path), "--key", "not-a-key"])
