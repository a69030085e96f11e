"""``import_cin_census`` and ``joinedup import cin-census`` on real SQLite and PostgreSQL: exact
index contents, audit entries, idempotency, attacks importing nothing, exit codes, progress."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.cin_census import read_file
from gateway.audit.verify import verify_ledger
from gateway.cli import main
from gateway.imports import ImportReport, import_cin_census
from gateway.store.engine import create_engine
from gateway.store.tables import ledger, person_identifiers, persons, social_care_episodes
from schemas.facts import SocialCareEpisode
from tests.conftest import Database, make_settings
from tests.test_cin_census import ATTACKS, FAULTY_PROBLEMS, FIXTURES, as_tuples

CLEAN = FIXTURES / "clean-2021.xml"
FAULTY = FIXTURES / "faulty.xml"


@pytest.fixture
async def engine(database: Database) -> AsyncIterator[AsyncEngine]:
    """An engine to read the test database after imports (which migrate it themselves)."""
    eng = create_engine(database.url, schema=database.schema)
    yield eng
    await eng.dispose()


async def _import(database: Database, *paths: Path | str, batch_size: int = 200) -> ImportReport:
    settings = make_settings(database)
    return await import_cin_census(list(paths), settings, progress=False, batch_size=batch_size)


async def _identifiers(engine: AsyncEngine) -> dict[str, str]:
    """Identifier key -> person id."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(person_identifiers.c.key, person_identifiers.c.person_id))
        return {str(k): str(p) for k, p in rows}


async def _episodes(engine: AsyncEngine) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    """(person id, organisation, referral date) -> the stored episode, comparably."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                social_care_episodes.c.person_id,
                social_care_episodes.c.organisation,
                social_care_episodes.c.referral_date,
                social_care_episodes.c.source_partner,
                social_care_episodes.c.details,
            )
        )
        return {
            (str(p), str(o), str(r)): (s, *_comparable(SocialCareEpisode.model_validate_json(d)))
            for p, o, r, s, d in rows
        }


def _comparable(episode: SocialCareEpisode) -> tuple[Any, ...]:
    """What an episode says, whatever local ids and plan order the index stores it with."""
    return (
        episode.referral_date,
        episode.referral_source,
        episode.primary_need,
        episode.assessment_factors,
        episode.section47,
        frozenset(episode.plans),
        episode.closure_date,
        episode.closure_reason,
    )


async def _entries(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(ledger.c.entry).order_by(ledger.c.seq))
        return [orjson.loads(r[0]) for r in rows]


async def _count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return len((await conn.execute(select(table))).all())


def _stored(episode: SocialCareEpisode) -> tuple[Any, ...]:
    return ("cin-census-999", *_comparable(episode))


async def test_clean_return_fills_the_index_exactly_and_imports_idempotently(
    database: Database, engine: AsyncEngine
) -> None:
    """Two children in two batches: their identifiers (never the former UPN), their three
    episodes as canonical JSON, one index.updated per batch and one import.completed; a second
    import changes nothing and says so."""
    report = await _import(database, CLEAN, batch_size=1)
    (file,) = report.files
    assert (2, 2, [], 2, 3, 3, 0) == (
        file.children,
        file.imported,
        file.problems,
        file.persons,
        file.identifiers,
        file.episodes,
        report.exit_code,
    )
    ids = await _identifiers(engine)
    assert {"la:999:TEST-CH-0001", "upn:A123456789012", "la:999:TEST-CH-0002"} == set(ids)
    first, second = ids["la:999:TEST-CH-0001"], ids["la:999:TEST-CH-0002"]
    assert first == ids["upn:A123456789012"] != second
    messages = read_file(CLEAN).messages
    expected = {
        (person, "999", str(episode.referral_date)): _stored(episode)
        for person, message in ((first, messages[0]), (second, messages[1]))
        for episode in message.facts
        if isinstance(episode, SocialCareEpisode)
    }
    assert expected == await _episodes(engine)

    entries = await _entries(engine)
    assert ["index.updated", "index.updated", "import.completed"] == [e["event"] for e in entries]
    assert [(1, 2, 2), (1, 1, 1)] == [
        (e["persons"], e["identifiers"], e["episodes"]) for e in entries[:2]
    ]
    completed = entries[2]
    assert {
        "partner": "cin-census-999",
        "source_format": "cin-census",
        "organisation": "999",
        "records": 2,
        "imported": 2,
        "problems": 0,
        "persons": 2,
        "identifiers": 3,
        "episodes": 3,
    }.items() <= completed.items()
    assert file.file_sha256 == completed["file_sha256"]

    again = (await _import(database, CLEAN)).files[0]
    assert (2, 0, 0, 0) == (again.imported, again.persons, again.identifiers, again.episodes)
    assert ids == await _identifiers(engine)
    assert expected == await _episodes(engine)
    assert 2 == await _count(engine, persons)
    entries = await _entries(engine)
    assert ["index.updated", "import.completed"] == [e["event"] for e in entries[3:]]
    assert (0, 0, 0) == (entries[3]["persons"], entries[3]["identifiers"], entries[3]["episodes"])
    async with engine.connect() as conn:
        assert (await verify_ledger(conn)).intact


async def test_faulty_return_imports_exactly_what_is_valid(
    database: Database, engine: AsyncEngine
) -> None:
    """Six children: three not imported (no, repeated or unusable LAchildID), the others without
    their bad values and bad episodes; every problem reported as the reader found it."""
    report = await _import(database, FAULTY)
    (file,) = report.files
    assert FAULTY_PROBLEMS == as_tuples(file.problems)
    assert (6, 3, 3, 1) == (file.children, file.imported, file.skipped, report.exit_code)
    ids = await _identifiers(engine)
    assert {
        "la:999:TEST-CH-0201",
        "la:999:TEST-CH-0205",
        "upn:D123456789012",
        "la:999:TEST-CH-0206",
    } == set(ids)
    assert ids["la:999:TEST-CH-0205"] == ids["upn:D123456789012"]
    assert {
        (ids["la:999:TEST-CH-0201"], "999", "2020-01-06"),
        (ids["la:999:TEST-CH-0206"], "999", "2020-10-01"),
    } == set(await _episodes(engine))
    assert 3 == await _count(engine, persons)
    completed = (await _entries(engine))[-1]
    assert (6, 3, len(FAULTY_PROBLEMS)) == (
        completed["records"],
        completed["imported"],
        completed["problems"],
    )


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_attacks_import_nothing(
    attack: str, database: Database, engine: AsyncEngine, tmp_path: Path
) -> None:
    """A refused file leaves the index empty; the attempt is still audited (import.completed)."""
    path = tmp_path / f"{attack}.xml"
    path.write_bytes(ATTACKS[attack][0])
    report = await _import(database, path)
    (file,) = report.files
    assert (True, 0, 1) == (file.refused, file.imported, report.exit_code)
    assert 0 == await _count(engine, persons)
    assert 0 == await _count(engine, person_identifiers)
    entries = await _entries(engine)
    assert [("import.completed", "unknown", 0)] == [
        (e["event"], e["organisation"], e["imported"]) for e in entries
    ]


async def test_a_later_file_keeps_what_an_earlier_episode_held(
    database: Database, engine: AsyncEngine, tmp_path: Path
) -> None:
    """A bad episode is left out, so the index keeps the version it already had."""
    await _import(database, CLEAN)
    before = await _episodes(engine)
    broken = tmp_path / "broken.xml"
    broken.write_text(
        CLEAN.read_text(encoding="utf-8").replace(
            "<ReferralSource>3E</ReferralSource>", "<ReferralSource>3Z</ReferralSource>"
        ),
        encoding="utf-8",
    )
    report = await _import(database, broken)
    assert ["unknown code: not in the referral-source mapping"] == [
        p.reason for p in report.problems
    ]
    assert before == await _episodes(engine)


def _env(monkeypatch: pytest.MonkeyPatch, database: Database) -> None:
    monkeypatch.setenv("JOINEDUP_DATABASE_URL", database.url)
    if database.schema:
        monkeypatch.setenv("JOINEDUP_DATABASE_SCHEMA", database.schema)


async def test_cli_exit_codes_and_output(
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
    tmp_path: Path,
) -> None:
    """0 when every file is clean, 1 when problems were reported (the rest imported), 2 for a
    missing file or one that is not XML; each problem printed as FILE:LINE: ELEMENT: REASON."""
    _env(monkeypatch, database)
    run = ["import", "cin-census", "--no-progress"]
    assert 0 == await asyncio.to_thread(main, [*run, str(CLEAN)])
    out = capsys.readouterr().out.splitlines()
    assert [
        f"{CLEAN}: imported: 2 children, 2 imported, 0 not imported, 0 problems; the index "
        "learnt 2 people, 3 identifiers, 3 episodes"
    ] == out

    assert 1 == await asyncio.to_thread(main, [*run, str(FAULTY), str(CLEAN)])
    out = capsys.readouterr().out.splitlines()
    assert (
        f"{FAULTY}:33: /Message/Children/Child[1]/CINdetails[2]/CINreferralDate: not a valid "
        "date (YYYY-MM-DD) (episode not imported)"
    ) in out
    assert len(FAULTY_PROBLEMS) + 2 == len(out)
    assert out[-2].startswith(f"{FAULTY}: imported with problems: 6 children, 3 imported")

    not_xml = tmp_path / "notes.txt"
    not_xml.write_text("not a census\n", encoding="utf-8")
    missing = tmp_path / "missing.xml"
    assert 2 == await asyncio.to_thread(main, [*run, str(not_xml), str(missing), str(CLEAN)])
    out = capsys.readouterr().out.splitlines()
    assert [
        f"{not_xml}:1: /: not XML (Start tag expected, '<' not found) (file not read)",
        f"{not_xml}: not read: 0 children, 0 imported, 0 not imported, 1 problems; the index "
        "learnt 0 people, 0 identifiers, 0 episodes",
        f"{missing}:0: /: no such file (file not read)",
    ] == out[:3]


async def test_progress_bar_only_on_a_terminal(
    database: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar goes to stderr on a terminal, never when stderr is not one or when turned off."""
    settings = make_settings(database)
    await import_cin_census([CLEAN], settings)
    assert "" == capsys.readouterr().err
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    await import_cin_census([CLEAN], settings, progress=False)
    assert "" == terminal.getvalue()
    await import_cin_census([CLEAN], settings)
    assert "clean-2021.xml" in terminal.getvalue()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True
