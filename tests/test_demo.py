"""``joinedup demo`` plays every workflow against the partner simulators and says it completed:
its own checks (each delivery arrived, the diagnosis absent from the crisis notice, the
escalation fired once, the ledger intact...) decide its exit status."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from gateway.demo import run_demo, story_start
from gateway.workcal import WorkingCalendar


async def test_the_demo_tells_the_whole_story(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    # The demo configures logging to this test's captured stderr: put the configuration back
    # afterwards, or later tests would log to a closed stream.
    saved = structlog.get_config()
    try:
        assert 0 == await run_demo(port=0, exit_after=True)
    finally:
        structlog.configure(**saved)
    told = capsys.readouterr().out
    for step in (
        "1. The trust asks the directory",
        "3. The trust's EPR sends a FHIR message",
        "FHIR message 'think-family'",
        "CSC disclosure-summary (think-family)",
        "diagnosis (sensitivity-label)",
        "FHIR message 'referral-escalation'",
        "CSC disclosure-summary (referral-escalation)",
        "FHIR message 'referral-status'",
        "reads the conference's target: 2025-01-27; the conference is within it",
        "refuse (not-subscribed)",
        "CSC disclosure-summary (access-notification)",
        "refuse (consent-refused)",
        "10. The audit ledger is verified",
        "Demo complete.",
    ):
        assert step in told, step
    assert "The diagnosis is NOT present" in told


def test_the_story_starts_on_a_working_afternoon_whose_deadline_has_passed() -> None:
    calendar = WorkingCalendar()
    monday = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    start = story_start(calendar, 8, monday)
    # Thursday 15:00: its 8 working hours end on Friday at 15:00 (Friday 15:00 itself would end
    # on Monday at 15:00, after this Monday morning).
    assert datetime(2026, 11, 26, 15, 0, tzinfo=UTC) == start
    assert calendar.add_working_hours(start, 8) < monday
