"""CSV export: RFC 4180, UTF-8, one row per entry, formula injection guarded; `joinedup audit
export --format csv` by date and person over entries the real pipeline wrote, itself recorded."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from gateway.audit.events import IndexUpdated, NoRecipient
from gateway.audit.export_csv import COLUMNS, audit_csv, row, safe_cell
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_sync_engine_for
from gateway.store.tables import ledger
from tests.conftest import Database
from tests.gateway_harness import Harness
from tests.ledger_story import MOTHER_NHS, joinedup, share_and_refuse, use_database


def _read(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")  # every line ends CRLF (RFC 4180)
    text = raw.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    header, *lines = list(reader)
    assert list(COLUMNS) == header
    return [dict(zip(header, line, strict=True)) for line in lines]


async def test_export_csv_of_a_day_through_the_pipeline(
    h: Harness,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    """Every entry of the day is one row; a share and a refusal read as an IG officer needs."""
    story = await share_and_refuse(h)
    use_database(monkeypatch, database)
    today = datetime.now(UTC).date().isoformat()
    out = tmp_path / "day.csv"
    assert 0 == await joinedup(
        "audit", "export", "--format", "csv", "--from", today, "--to", today, "--out", str(out)
    )
    rows = {int(r["seq"]): r for r in _read(out)}
    assert {e["seq"] for e in story.entries} == set(rows)
    permit = rows[story.permit["seq"]]
    assert {
        "event": "disclosure.decided",
        "exchange_id": story.permit["exchange_id"],
        "request_id": story.request_id,
        "partner": "trust-demo",
        "recipient": "council-demo",
        "agreement": "demo-trust-council",
        "version": "1",
        "purpose": story.permit["purpose"],
        "basis": story.permit["lawful_basis"],
        "outcome": "permit",
        "reason_code": "flow-permits",
        "flagged": "false",
        "override_reason": "",
        "consent_ref": "",
    }.items() <= permit.items()
    assert ";".join(story.permit["disclosed"]) == permit["disclosed"]
    assert "diagnosis:sensitivity-label" in permit["withheld"].split(";")
    assert sorted(permit["person_ids"].split(";")) == sorted([story.subject, story.child])
    refusal = rows[story.refusal["seq"]]
    assert ("council-other", "refuse", "no-agreement", "") == (
        refusal["recipient"],
        refusal["outcome"],
        refusal["reason_code"],
        refusal["agreement"],
    )
    assert MOTHER_NHS not in out.read_text(encoding="utf-8")
    # The export is recorded, naming everyone whose entries it held.
    viewed = (await h.entries())[-1]
    assert ("record.viewed", "export") == (viewed["event"], viewed["view"])
    named = {p for e in story.entries for p in e.get("person_ids", ())}
    assert sorted(named) == viewed["person_ids"]
    assert sorted(rows) == viewed["seqs"]


def _unit(events: list[Any]) -> UnitOfWork:
    return UnitOfWork(events=lambda: list(events))


async def _commit(database: Database, *units: list[Any]) -> None:
    writer = create_sync_engine_for(database.url, schema=database.schema)
    committer = GroupCommitter(writer)
    await committer.start()
    try:
        for events in units:
            await committer.submit(_unit(events))
    finally:
        await committer.stop()
        writer.dispose()


async def test_date_window_and_person_select_from_the_search_index(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    """--from/--to are whole UTC days, inclusive; --person keeps only entries naming them."""
    use_database(monkeypatch, database)
    assert 0 == await joinedup("db", "upgrade")
    day = datetime(2026, 11, 20, tzinfo=UTC)
    alice, bob = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"

    def seen(at: datetime, *people: str) -> NoRecipient:
        return NoRecipient(at=at, kind="crisis-event", reason="no recipient", person_ids=people)

    await _commit(
        database,
        [seen(day - timedelta(seconds=1), alice)],  # 19th, 23:59:59
        [seen(day, alice), seen(day + timedelta(hours=12), bob)],  # 20th
        [
            IndexUpdated(
                at=day + timedelta(hours=23),
                persons=1,
                identifiers=1,
                family_links=0,
                worker_roles=0,
            )
        ],
        [seen(day + timedelta(days=1), alice, bob)],  # 21st, 00:00:00
    )

    files = iter(range(100))

    async def export(*argv: str) -> list[int]:
        out = tmp_path / f"export-{next(files)}.csv"
        assert 0 == await joinedup("audit", "export", "--format", "csv", "--out", str(out), *argv)
        return [int(r["seq"]) for r in _read(out)]

    # Each export is itself recorded today, naming the people it held: windows end before today.
    assert [2, 3, 4] == await export("--from", "2026-11-20", "--to", "2026-11-20")
    assert [2, 3, 4, 5] == await export("--from", "2026-11-20", "--to", "2026-11-21")
    assert [1] == await export("--to", "2026-11-19")
    assert [1, 2, 5] == await export("--person", alice, "--to", "2026-11-21")
    assert [3, 5] == await export("--person", bob, "--from", "2026-11-20", "--to", "2026-11-21")
    assert [3] == await export("--person", bob, "--to", "2026-11-20")
    assert [] == await export("--person", alice, "--from", "2026-11-22", "--to", "2026-11-23")
    # The first export named both people it held, so it is now among each one's entries.
    recorded = await export("--person", bob)
    assert [3, 5] == recorded[:2]
    assert len(recorded) > 2


async def test_an_edited_row_stops_the_export(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    """A row that no longer matches its hash is named, nothing is written, nothing recorded."""
    use_database(monkeypatch, database)
    assert 0 == await joinedup("db", "upgrade")
    event = IndexUpdated(
        at=datetime.now(UTC), persons=1, identifiers=1, family_links=0, worker_roles=0
    )
    await _commit(database, [event], [event], [event])
    engine = create_sync_engine_for(database.url, schema=database.schema)
    with engine.begin() as conn:
        conn.execute(update(ledger).where(ledger.c.seq == 2).values(entry='{"persons":9,"seq":2}'))
    out = tmp_path / "x.csv"
    assert 1 == await joinedup("audit", "export", "--format", "csv", "--out", str(out))
    assert "ledger entry 2 does not match its hash" in capsys.readouterr().err
    assert not out.exists()
    # Nothing was recorded either: the ledger still ends at the third entry.
    with engine.connect() as conn:
        assert 3 == conn.execute(select(func.max(ledger.c.seq))).scalar_one()
    engine.dispose()


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (None, ""),
        (True, "true"),
        (3, "3"),
    ],
)
def test_formula_injection_is_guarded(value: object, cell: str) -> None:
    """Cells a spreadsheet would evaluate start with a quote; others are unchanged."""
    assert cell == safe_cell(value)


def test_rows_quote_and_join_as_rfc_4180() -> None:
    """Commas, quotes and line breaks are quoted; lists are ;-joined; a row per entry."""
    entry = {
        "seq": 7,
        "at": "2026-11-30T10:00:00Z",
        "event": "disclosure.decided",
        "partner": "trust-demo",
        "recipient_partner": None,
        "recipient_organisation": "999",
        "agreement_id": 'odd, "quoted"\nid',
        "outcome": "refuse",
        "reason_code": "=cmd",
        "flagged_for_review": True,
        "disclosed": ["crisis", "person.name"],
        "withheld": [{"element": "diagnosis", "reason_code": "sensitivity-label"}],
        "person_ids": ["p1", "p2"],
    }
    text = audit_csv([entry])
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    assert '"odd, ""quoted""\nid"' in text
    cells = dict(zip(COLUMNS, row(entry), strict=True))
    assert (
        "999",
        "'=cmd",
        "true",
        "crisis;person.name",
        "diagnosis:sensitivity-label",
        "p1;p2",
    ) == (
        cells["recipient"],
        cells["reason_code"],
        cells["flagged"],
        cells["disclosed"],
        cells["withheld"],
        cells["person_ids"],
    )
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert 2 == len(parsed)
    assert 'odd, "quoted"\nid' == parsed[1][COLUMNS.index("agreement")]
