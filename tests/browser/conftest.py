"""Browser tests' fixtures: Debian's headless Chromium, driven by Playwright, against a real gateway.

The gateway runs as a real server on a loopback TCP port (``web.AppRunner`` + ``TCPSite``), with
the partner simulators listening as ``tests/gateway_harness.py`` starts them, an IG officer and an
ops account configured with argon2id hashes made here, and data posted through the real doors
first: the council's child status (CSC JSON), then from the trust (FHIR R4, the fixtures in
``tests/fixtures/fhir/``) a crisis message that is shared, a consent refusal, the same crisis
refused under it, and a Sch 1 para 18 share over the refusal, which is flagged for review.

SQLite only: the browser tests are about what a person sees and can do in the pages. The pages'
queries, roles, records and headers are tested server-side against both SQLite and PostgreSQL.

The browser is ``/usr/bin/chromium`` (``make browser`` installs it; never ``playwright install``).
Where it is missing the browser tests are skipped with a loud banner; under ``CI=true`` that is a
failure instead, as for PostgreSQL in ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import argon2
import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.fernet import Fernet
from playwright.async_api import Browser, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import create_app
from gateway.appkeys import SERVICES
from gateway.audit.settings import LedgerSettings
from gateway.audit.signing import write_new_key
from gateway.review.settings import ReviewAccount, ReviewSettings
from gateway.settings import DeliverySettings
from gateway.simulators import PartnerSimulator
from schemas.labels import AgeBand, NoConsentReason
from tests.browser.checks import Visit
from tests.conftest import (
    COUNCIL_KEY,
    FIXTURES,
    IN_CI,
    TRUST_KEY,
    Database,
    make_settings,
    partners,
)
from tests.gateway_harness import FHIR, JSON, child_status, crisis_bundle
from tests.gateway_harness import fresh_message as _fresh_ids
from tests.test_consent_flow import PARA18 as PARA18_BASIS
from tests.test_consent_flow import _agreements as honouring_refusals_and_para18

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Synthetic accounts for these tests only; the passwords never leave this process.
IG_OFFICER = "ig.officer"
IG_PASSWORD = "browser-test ig officer passphrase"
OPS = "ops.engineer"
OPS_PASSWORD = "browser-test ops passphrase"

PARENT_NHS = "9000000009"  # the mother in the crisis fixture (999 test range)
PARA18 = PARA18_BASIS.code  # art6(1)(e)+art9(2)(g)+sch1-para18
SHARING_REQUEST = "https://joined-up.org.uk/StructureDefinition/sharing-request"

_skipped: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Make skipped browser tests impossible to miss."""
    if _skipped:
        banner = "!" * 78
        terminalreporter.write_line(banner, red=True, bold=True)
        terminalreporter.write_line(
            f"BROWSER TESTS SKIPPED ({len(_skipped)}): {CHROMIUM} is missing.",
            red=True,
            bold=True,
        )
        terminalreporter.write_line(
            "Run `make browser` as root (apt-get install chromium), or install Debian's chromium.",
            red=True,
        )
        terminalreporter.write_line(banner, red=True, bold=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without Debian's Chromium, skip every browser test loudly (under CI the browser fixture
    fails them instead)."""
    if CHROMIUM.exists() or IN_CI:
        return
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            _skipped.append(item.nodeid)
            item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is missing (make browser)"))


@dataclass(frozen=True, slots=True)
class Site:
    """The running gateway and what was posted to it."""

    url: str
    engine: AsyncEngine
    crisis_exchange_ids: tuple[str, ...]  # shared, refused, shared over the refusal (flagged)


def _header(bundle: dict[str, Any]) -> dict[str, Any]:
    for entry in bundle["entry"]:
        resource: dict[str, Any] = entry["resource"]
        if resource["resourceType"] == "MessageHeader":
            return resource
    raise AssertionError("the fixture has no MessageHeader")


def _refusal() -> dict[str, Any]:
    """The FHIR consent directive fixture, widened to refuse every sharing with council 999."""
    bundle = _fresh_ids(orjson.loads((FIXTURES / "fhir" / "consent-directive.json").read_bytes()))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Consent":
            for narrowing in ("purpose", "class", "securityLabel", "code", "data"):
                resource["provision"].pop(narrowing, None)
    return bundle


def _para18_crisis() -> dict[str, Any]:
    """The s136 crisis message asking to share on Sch 1 para 18 (consent would prejudice the
    child's protection): permitted over the refusal, and flagged for review."""
    bundle = _fresh_ids(crisis_bundle())
    _header(bundle).setdefault("extension", []).append(
        {
            "url": SHARING_REQUEST,
            "extension": [
                {"url": "lawfulBasis", "valueCode": PARA18},
                {"url": "ageBand", "valueCode": AgeBand.CHILD.value},
                {
                    "url": "noConsentReason",
                    "valueCode": NoConsentReason.WOULD_PREJUDICE_PROTECTION.value,
                },
            ],
        }
    )
    return bundle


async def _post(
    session: aiohttp.ClientSession, path: str, body: dict[str, Any], key: str, content_type: str
) -> dict[str, Any]:
    async with session.post(
        path,
        data=orjson.dumps(body),
        headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
    ) as response:
        assert 202 == response.status, await response.text()
        summary: dict[str, Any] = await response.json()
        return summary


async def _post_story(url: str) -> tuple[str, ...]:
    """Post the story through the real doors; return the three crisis exchanges' ids."""
    async with aiohttp.ClientSession(base_url=url) as session:
        await _post(session, "/csc/messages", child_status(), COUNCIL_KEY, JSON)
        shared = await _post(
            session, "/fhir/$process-message", _fresh_ids(crisis_bundle()), TRUST_KEY, FHIR
        )
        await _post(session, "/fhir/$process-message", _refusal(), TRUST_KEY, FHIR)
        refused = await _post(
            session, "/fhir/$process-message", _fresh_ids(crisis_bundle()), TRUST_KEY, FHIR
        )
        flagged = await _post(session, "/fhir/$process-message", _para18_crisis(), TRUST_KEY, FHIR)
    outcomes = [
        [(r["organisation"], r["outcome"], r["reason_code"]) for r in s["recipients"]]
        for s in (shared, refused, flagged)
    ]
    # The story the pages must show; if the policy changes, this says so before any page does.
    assert "permit" == outcomes[0][0][1], outcomes
    assert ("999", "refuse", "consent-refused") == outcomes[1][0], outcomes
    assert "permit" == outcomes[2][0][1], outcomes
    return tuple(str(s["exchange_id"]) for s in (shared, refused, flagged))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """The gateway on SQLite, served on 127.0.0.1 at a free port, with the story posted."""
    tmp = tmp_path_factory.mktemp("browser-site")
    hasher = argon2.PasswordHasher()
    accounts = (
        ReviewAccount(
            name=IG_OFFICER, password_hash=hasher.hash(IG_PASSWORD), roles=("ig-officer",)
        ),
        ReviewAccount(name=OPS, password_hash=hasher.hash(OPS_PASSWORD), roles=("ops",)),
    )
    signing_key, session_key = tmp / "checkpoint-signing-key.pem", tmp / "review-session.key"
    write_new_key(signing_key)
    session_key.write_bytes(Fernet.generate_key() + b"\n")
    simulators = [PartnerSimulator(name) for name in ("council", "other council", "trust")]
    runner: web.AppRunner | None = None
    try:
        endpoints = {
            partner: await sim.start()
            for partner, sim in zip(
                ("council-demo", "council-other", "trust-demo"), simulators, strict=True
            )
        }
        settings = make_settings(
            Database(f"sqlite+aiosqlite:///{tmp / 'gateway.db'}", None, "sqlite"),
            partners=partners(**endpoints),
            agreements_dir=honouring_refusals_and_para18(tmp),
            delivery=DeliverySettings(poll_interval=0.02, backoff_base=0.02, backoff_cap=0.1),
            ledger=LedgerSettings(
                signing_key_file=signing_key,
                checkpoint_dir=tmp / "checkpoints",
                checkpoint_entries=4,
                checkpoint_seconds=0.5,
            ),
            review=ReviewSettings(accounts=accounts, session_key_file=session_key),
        )
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        exchange_ids = await _post_story(url)
        yield Site(url, app[SERVICES].engine, exchange_ids)
    finally:
        if runner is not None:
            await runner.cleanup()
        for sim in simulators:
            await sim.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, with nothing phoning home."""
    if not CHROMIUM.exists():  # noqa: ASYNC240 - one stat, before anything runs
        pytest.fail(f"CI=true and {CHROMIUM} is missing: `make browser` installs it")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def visit(browser: Browser, site: Site) -> AsyncIterator[Visit]:
    """A fresh browser context (no cookies) and page for each test, pointed at the site."""
    context = await browser.new_context(base_url=site.url, accept_downloads=True)
    try:
        yield Visit(await context.new_page())
    finally:
        await context.close()
