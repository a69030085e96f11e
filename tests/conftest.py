"""Shared fixtures: real SQLite and real PostgreSQL databases, settings, a running gateway.

PostgreSQL comes from ``JOINEDUP_TEST_POSTGRES_URL`` (default: the local server on 127.0.0.1:5432,
database ``test``). Each test gets its own schema, dropped afterwards. Where PostgreSQL cannot be
reached its tests are skipped with a loud banner; under ``CI=true`` that is a failure instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.oauth.settings import OAuthSettings
from gateway.oauth.tokens import issue, load_or_create_key
from gateway.settings import PartnerSettings, Settings, bundled, hash_api_key
from gateway.store.committer import GroupCommitter
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.migrate import upgrade

pytest_plugins = ["tests.gateway_harness"]

PG_URL = os.environ.get(
    "JOINEDUP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"

# -- partner authentication ---------------------------------------------------------------------
# One token signing key per session (make_settings configures it), and each test partner's own
# key pair, made once per session: RSA for the trust (RS512, as NHS England asks), EC P-256 and
# P-384 for the councils. The partners' JWKS hold the public halves.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="joinedup-oauth-"))
atexit.register(shutil.rmtree, _SESSION_DIR, ignore_errors=True)
TOKEN_KEY_FILE = _SESSION_DIR / "oauth-token-key.pem"
TOKEN_URL = "http://127.0.0.1:8080/oauth2/token"  # the audience assertions name in the tests
_TOKEN_KEY = load_or_create_key(TOKEN_KEY_FILE)
PARTNER_KEYS: dict[str, RSAKey | ECKey] = {
    "trust-demo": RSAKey.generate_key(2048, parameters={"kid": "trust-test-1"}, private=True),
    "council-demo": ECKey.generate_key("P-256", parameters={"kid": "council-test-1"}, private=True),
    "council-other": ECKey.generate_key(
        "P-384", parameters={"kid": "other-council-test-1"}, private=True
    ),
}


def public_jwks(*keys: RSAKey | ECKey) -> dict[str, Any]:
    """A JWKS of the public halves of ``keys``."""
    return {"keys": [k.as_dict(private=False) for k in keys]}


def session_token(partner_id: str) -> str:
    """A real access token for ``partner_id``, signed with the session's token key (valid for a
    day, so that a long run never outlives it)."""
    return issue(_TOKEN_KEY, partner_id, now=time.time(), lifetime=24 * 3600).value


# Access tokens for the three test partners: every test that sends one goes through the real
# verification path.
TRUST_KEY = session_token("trust-demo")
COUNCIL_KEY = session_token("council-demo")
OTHER_COUNCIL_KEY = session_token("council-other")
# The interim API keys, accepted only where a test sets oauth.allow_api_keys.
TRUST_API_KEY = "test-trust-key-0123456789abcdef0123456789"
COUNCIL_API_KEY = "test-council-key-0123456789abcdef012345678"
OTHER_COUNCIL_API_KEY = "test-other-council-key-0123456789abcdef0123"

_pg_state: dict[str, str | None] = {}
_pg_skipped: list[str] = []


def _asyncpg_dsn() -> str:
    return make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)


async def _probe() -> str | None:
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can (probed once per run)."""
    if "reason" not in _pg_state:
        _pg_state["reason"] = await _probe()
    return _pg_state["reason"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Make skipped PostgreSQL tests impossible to miss."""
    if _pg_skipped:
        banner = "!" * 78
        terminalreporter.write_line(banner, red=True, bold=True)
        terminalreporter.write_line(
            f"POSTGRESQL TESTS SKIPPED ({len(_pg_skipped)}): {_pg_state.get('reason')}",
            red=True,
            bold=True,
        )
        terminalreporter.write_line(
            f"Set JOINEDUP_TEST_POSTGRES_URL or start PostgreSQL at {PG_URL}.", red=True
        )
        terminalreporter.write_line(banner, red=True, bold=True)


@dataclass(frozen=True, slots=True)
class Database:
    """A test database: its SQLAlchemy URL and, on PostgreSQL, the schema for this test."""

    url: str
    schema: str | None
    backend: str


async def _drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn())
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def _create_schema(schema: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn())
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, empty database: SQLite in a temporary file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield Database(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", None, "sqlite")
        return
    reason = await postgres_unreachable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true and PostgreSQL is unreachable at {PG_URL}: {reason}")
        _pg_skipped.append(request.node.nodeid)
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {reason}")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    await _create_schema(schema)
    try:
        yield Database(PG_URL, schema, "postgresql")
    finally:
        await _drop_schema(schema)


def partners(**endpoints: str) -> tuple[PartnerSettings, ...]:
    """The test partners: a trust (RX9), its council (999) and a council (998) the trust has no
    flow to; each with its JWKS and an interim API key."""
    return (
        PartnerSettings(
            id="trust-demo",
            name="Test trust",
            organisations=("RX9",),
            format="fhir-r4",
            api_key_sha256=(hash_api_key(TRUST_API_KEY),),
            jwks=public_jwks(PARTNER_KEYS["trust-demo"]),
            endpoint=endpoints.get("trust-demo"),
        ),
        PartnerSettings(
            id="council-demo",
            name="Test council",
            organisations=("999",),
            format="csc",
            api_key_sha256=(hash_api_key(COUNCIL_API_KEY),),
            jwks=public_jwks(PARTNER_KEYS["council-demo"]),
            endpoint=endpoints.get("council-demo"),
        ),
        PartnerSettings(
            id="council-other",
            name="Council the trust shares nothing with",
            organisations=("998",),
            format="csc",
            api_key_sha256=(hash_api_key(OTHER_COUNCIL_API_KEY),),
            jwks=public_jwks(PARTNER_KEYS["council-other"]),
            endpoint=endpoints.get("council-other"),
        ),
    )


# Think family (issue 7) is agreed between the demo trust and council in its own file. The older
# tests' story (the council's child, then the trust's crisis about her mother, who has a care
# coordinator) is exactly a think-family story, and would raise two flags beside every crisis
# notice: those tests run without the file, and tests/workflows/test_think_family*.py and
# test_access.py with it (``agreements_for_tests(think_family=True)``).
THINK_FAMILY_AGREEMENT = "demo-think-family.yaml"


def agreements_for_tests(*, think_family: bool = False) -> Path:
    """The bundled example agreements plus ``tests/fixtures/agreements`` (a second council, 998,
    that shares child status with the trust and receives nothing), in one directory; the
    think-family agreement only when asked for."""
    if think_family not in _TEST_AGREEMENTS:
        directory = Path(tempfile.mkdtemp(prefix="joinedup-agreements-"))
        for source in (bundled("agreements"), FIXTURES / "agreements"):
            for path in sorted(source.glob("*.yaml")):
                if path.name != THINK_FAMILY_AGREEMENT or think_family:
                    shutil.copy(path, directory / path.name)
        _TEST_AGREEMENTS[think_family] = directory
    return _TEST_AGREEMENTS[think_family]


_TEST_AGREEMENTS: dict[bool, Path] = {}


def oauth_settings(**overrides: Any) -> OAuthSettings:
    """OAuth settings signing with the session's token key (so TRUST_KEY and the others verify)."""
    values: dict[str, Any] = {"token_key_file": TOKEN_KEY_FILE, "token_url": TOKEN_URL}
    values.update(overrides)
    return OAuthSettings(**values)


def make_settings(database: Database, **overrides: object) -> Settings:
    """Settings for a test gateway on ``database`` with the test agreements (``agreements_for_tests``)
    and the session's token key."""
    values: dict[str, object] = {
        "database_url": database.url,
        "database_schema": database.schema,
        "agreements_dir": agreements_for_tests(),
        "partners": partners(),
        "log_level": "debug",
        "oauth": oauth_settings(),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def engine(database: Database) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on the test database."""
    eng = create_engine(database.url, schema=database.schema)
    await upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def committer(database: Database, engine: AsyncEngine) -> AsyncIterator[GroupCommitter]:
    """A running group committer with its own writer engine (after ``engine`` migrated it)."""
    writer = create_sync_engine_for(database.url, schema=database.schema)
    c = GroupCommitter(writer)
    await c.start()
    yield c
    await c.stop()
    writer.dispose()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No JOINEDUP_ variables leak in from the developer's shell."""
    for key in list(os.environ):
        if key.startswith("JOINEDUP_") and key != "JOINEDUP_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
