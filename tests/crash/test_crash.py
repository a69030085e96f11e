"""Crash and outage tests (issue 6, item 6), small size: ``benchmarks/crash.py`` runs the gateway
as a real process (``python -m gateway.cli serve``) on SQLite and on PostgreSQL, the receiving
council as another, kills the gateway with SIGKILL at random moments or takes the council down,
and checks that nothing was lost, duplicated or reordered and that the ledger verifies.

The full size (N = 10,000, K = 50) is ``python -m benchmarks.crash``; see docs/operators.md.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.crash import Plan, run
from tests.conftest import Database


async def test_nothing_is_lost_through_sigkills_and_a_council_outage(
    database: Database, tmp_path: Path
) -> None:
    """60 crisis messages for 6 subjects; the gateway killed with SIGKILL at 3 random moments and
    started again; the council's system down for (at least) 3 s a third of the way in, messages
    still arriving. Afterwards every message was answered 2xx and recorded once, applied exactly
    once by the council, in order per subject, with its ledger entries; `joinedup audit verify`
    exits 0; the outage showed in /_status as a warning, never a failure."""
    plan = Plan(
        exchanges=60,
        kills=3,
        subjects=6,
        outage=3.0,
        database_url=database.url,
        database_schema=database.schema,
        deadline=150.0,
    )
    report = await run(plan, tmp_path)
    assert 3 == report.kills
    assert 4 == len(report.gateway_starts)
    assert 60 == sum(s.accepted for s in report.sent)
    assert report.failed_attempts > 0, "the outage did not touch a delivery"
    assert report.outage_status is not None
    verdicts = report.outage_status.split(", ")
    assert "warn" in verdicts, report.outage_status
    assert "fail" not in verdicts, report.outage_status
    assert [] == report.problems, report.summary()
    assert 0 == report.audit_verify
