"""The `joinedup` command: database upgrade, ledger verification, key hashing, settings."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import update

from gateway.audit.events import IndexUpdated
from gateway.cli import main
from gateway.settings import PartnerSettings, hash_api_key, load_settings
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.tables import ledger
from tests.conftest import Database


async def _ledger_of(database: Database, entries: int) -> None:
    writer = create_sync_engine_for(database.url, schema=database.schema)
    committer = GroupCommitter(writer)
    await committer.start()
    event = IndexUpdated(
        at=datetime.now(UTC), persons=1, identifiers=1, family_links=0, worker_roles=0
    )
    await asyncio.gather(
        *(committer.submit(UnitOfWork(events=lambda: [event])) for _ in range(entries))
    )
    await committer.stop()
    writer.dispose()


def _env(monkeypatch: pytest.MonkeyPatch, database: Database) -> None:
    monkeypatch.setenv("JOINEDUP_DATABASE_URL", database.url)
    if database.schema:
        monkeypatch.setenv("JOINEDUP_DATABASE_SCHEMA", database.schema)


async def test_audit_verify_passes_then_names_a_hand_edited_row(
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    """`joinedup audit verify` exits 0 on an intact ledger and 1 naming the edited entry."""
    _env(monkeypatch, database)
    assert 0 == await asyncio.to_thread(main, ["db", "upgrade"])
    await _ledger_of(database, 12)
    assert 0 == await asyncio.to_thread(main, ["audit", "verify"])
    assert "ledger intact: 12 entries" in capsys.readouterr().out

    engine = create_engine(database.url, schema=database.schema)
    async with engine.begin() as conn:
        await conn.execute(
            update(ledger).where(ledger.c.seq == 7).values(entry='{"persons":9,"seq":7}')
        )
    await engine.dispose()
    assert 1 == await asyncio.to_thread(main, ["audit", "verify"])
    assert "first bad entry is seq 7" in capsys.readouterr().out


def test_hash_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`joinedup partners hash-key` prints the SHA-256 to configure; short keys are refused."""
    key = "k" * 40
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    assert 0 == main(["partners", "hash-key"])
    assert hash_api_key(key) == capsys.readouterr().out.strip()
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert 2 == main(["partners", "hash-key"])


def test_settings_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    """A YAML file sets values, relative paths resolve against it, and JOINEDUP_ variables win."""
    (tmp_path / "agreements").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        "database_url: sqlite+aiosqlite:///from-file.db\nport: 9000\nagreements_dir: agreements\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert (9000, tmp_path / "agreements") == (settings.port, settings.agreements_dir)
    monkeypatch.setenv("JOINEDUP_PORT", "9100")
    monkeypatch.setenv("JOINEDUP_DELIVERY__MAX_ATTEMPTS", "3")
    settings = load_settings(config)
    assert (9100, 3) == (settings.port, settings.delivery.max_attempts)


def test_unknown_setting_is_refused(tmp_path: Path, clean_env: None) -> None:
    """A misspelt setting in the file is an error, not ignored."""
    config = tmp_path / "config.yaml"
    config.write_text("databse_url: x\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="databse_url"):
        load_settings(config)


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config path that does not exist is a clear error with exit code 2."""
    assert 2 == main(["db", "upgrade", "--config", str(tmp_path / "nope.yaml")])
    assert "no configuration file" in capsys.readouterr().err


def test_embedded_defaults_need_no_configuration(clean_env: None) -> None:
    """With no configuration, settings hold the demo partners and the example agreements."""
    settings = load_settings()
    assert {"trust-demo", "council-demo", "council-other"} == {p.id for p in settings.partners}
    assert (settings.agreements_dir / "demo-trust-council.yaml").is_file()


def test_relative_key_and_folder_paths_in_sections_resolve_against_the_file(
    tmp_path: Path, clean_env: None
) -> None:
    """Key files and folders named relatively inside a section (ledger, sealing, oauth, review,
    a partner's JWKS file) are relative to the config file, as top-level paths are; absolute
    paths and unset ones are left alone."""
    config = tmp_path / "conf" / "config.yaml"
    config.parent.mkdir()
    config.write_text(
        "ledger: {signing_key_file: keys/ledger.pem, checkpoint_dir: /srv/checkpoints}\n"
        "sealing: {key_file: keys/sealing.key}\n"
        "oauth: {token_key_file: keys/token.pem, verification_key_files: [keys/old.pem]}\n"
        "review: {session_key_file: keys/session.key}\n"
        "partners:\n"
        "  - {id: trust-x, name: T, organisations: [RX9], format: fhir-r4, "
        "jwks_file: keys/trust.jwks.json}\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    keys = config.parent / "keys"
    assert (keys / "ledger.pem", Path("/srv/checkpoints")) == (
        settings.ledger.signing_key_file,
        settings.ledger.checkpoint_dir,
    )
    assert keys / "sealing.key" == settings.sealing.key_file
    assert (keys / "token.pem", (keys / "old.pem",)) == (
        settings.oauth.token_key_file,
        settings.oauth.verification_key_files,
    )
    assert keys / "session.key" == settings.review.session_key_file
    assert [keys / "trust.jwks.json"] == [p.jwks_file for p in settings.partners]
    assert None is load_settings(config.parent.parent / "conf" / "config.yaml").oauth.client_ca_file


def test_relative_paths_from_the_environment_keep_their_meaning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    """A relative JOINEDUP_AGREEMENTS_DIR is not re-rooted at the config file's folder."""
    config = tmp_path / "conf" / "config.yaml"
    config.parent.mkdir()
    config.write_text("agreements_dir: from-file\n", encoding="utf-8")
    monkeypatch.setenv("JOINEDUP_AGREEMENTS_DIR", "from-env")
    assert Path("from-env") == load_settings(config).agreements_dir


@pytest.mark.parametrize(
    ("endpoint", "ok"),
    [
        ("https://csc.council.example/deliveries", True),
        ("http://127.0.0.1:9000/deliveries", True),
        ("http://localhost/deliveries", True),
        ("http://csc.council.example/deliveries", False),
        ("ftp://csc.council.example/", False),
        ("https:///nohost", False),
    ],
)
def test_delivery_endpoints_must_use_tls_off_this_machine(endpoint: str, ok: bool) -> None:
    """https anywhere, plain http only to loopback."""
    values = {
        "id": "p",
        "name": "P",
        "organisations": ["RX9"],
        "format": "csc",
        "endpoint": endpoint,
    }
    if ok:
        assert endpoint == PartnerSettings.model_validate(values).endpoint
    else:
        with pytest.raises(ValidationError, match="https://"):
            PartnerSettings.model_validate(values)
