"""`joinedup policy simulate`: the decision and the exact bytes, with nothing shared or recorded."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import orjson
import pytest

from gateway.cli import main
from gateway.settings import bundled
from tests.conftest import FIXTURES, Database, make_settings
from tests.gateway_harness import Harness, child_status, crisis_bundle

CRISIS = FIXTURES / "fhir" / "crisis-s136.json"


def _config(tmp_path: Path, database: Database) -> Path:
    """A settings file for the test database and partners (as an operator would write one)."""
    settings = make_settings(database)
    document = settings.model_dump(mode="json", exclude={"delivery"})
    path = tmp_path / "config.yaml"
    path.write_bytes(orjson.dumps(document))  # JSON is YAML
    return path


async def _run(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


async def test_simulated_crisis_notice_is_exactly_what_would_be_sent(
    h: Harness, database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Permit: exit 0, the explanation, the notice's bytes without the diagnosis; nothing recorded."""
    assert 202 == (await h.post_csc(child_status())).status
    before = len(await h.entries())
    config = _config(tmp_path, database)
    code = await _run(
        [
            "policy",
            "simulate",
            str(CRISIS),
            "--from",
            "trust-demo",
            "--to",
            "council-demo",
            "--config",
            str(config),
        ]
    )
    # Test logging goes to stdout too: the command's own output starts at its decision line.
    out = capsys.readouterr().out
    out = out[out.index("decision: ") :]
    assert 0 == code
    assert out.startswith("decision: permit (flow-permits)\n")
    notice = orjson.loads(out.split("content-type: application/json\n", 1)[1])
    assert "crisis-notice" == notice["message_type"]
    assert "20010003" not in out
    assert before == len(await h.entries())
    assert [] == h.council.received


async def test_simulated_refusal_exits_3(
    h: Harness, database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No agreement with the neighbouring council: exit 3 with the reason."""
    config = _config(tmp_path, database)
    code = await _run(
        [
            "policy",
            "simulate",
            str(CRISIS),
            "--from",
            "trust-demo",
            "--to",
            "council-other",
            "--config",
            str(config),
        ]
    )
    out = capsys.readouterr().out
    out = out[out.index("decision: ") :]
    assert 3 == code
    assert out.startswith("decision: refuse (no-agreement)\n")


async def test_unknown_partner_exits_2(
    tmp_path: Path, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """A partner that is not configured is bad input: exit 2 naming it."""
    config = _config(tmp_path, database)
    code = await _run(
        [
            "policy",
            "simulate",
            str(CRISIS),
            "--from",
            "nobody",
            "--to",
            "council-demo",
            "--config",
            str(config),
        ]
    )
    assert 2 == code
    assert "no partner 'nobody'" in capsys.readouterr().err


async def test_dry_run_shows_what_a_changed_agreement_would_change(
    h: Harness, database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Recorded decisions are re-decided under proposed agreements; only changes are listed."""
    assert 202 == (await h.post_csc(child_status())).status
    assert 202 == (await h.post_fhir(crisis_bundle())).status
    config = _config(tmp_path, database)
    unchanged = tmp_path / "same"
    shutil.copytree(bundled("agreements"), unchanged)
    assert 0 == await _run(
        ["policy", "dry-run", "--agreements", str(unchanged), "--config", str(config)]
    )
    assert "1 recorded decisions examined; 0 would change" in capsys.readouterr().out

    proposed = tmp_path / "proposed"
    shutil.copytree(bundled("agreements"), proposed)
    agreement = proposed / "demo-trust-council.yaml"
    text = agreement.read_text(encoding="utf-8")
    text = text.replace("version: 1", "version: 2", 1)
    text = text.replace(
        "purposes: [crisis-response, safeguarding-child]", "purposes: [referral]", 1
    )
    agreement.write_text(text, encoding="utf-8")
    assert 0 == await _run(
        ["policy", "dry-run", "--agreements", str(proposed), "--config", str(config)]
    )
    out = capsys.readouterr().out
    assert (
        "crisis-event to 999: permit via demo-trust-council v1 crisis-notice -> refuse (purpose-not-covered)"
        in out
    )
    assert "1 recorded decisions examined; 1 would change" in out
