"""The IG review pages in a real browser: what an IG officer and an ops engineer see and can do.

Debian's headless Chromium, driven by Playwright, against the gateway served on loopback with a
crisis shared, refused under a consent refusal, and shared over it on Sch 1 para 18 (flagged for
review); see ``conftest.py``. Every page reached is screenshotted to
``test-artifacts/screenshots/`` and checked for accessibility (axe-core, labels, a skip link,
visible focus) and its security headers (``checks.py``). SQLite only: the pages' server side is
tested against both databases elsewhere.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from gateway.audit.proofs import check_inclusion
from gateway.store.tables import ledger
from tests.browser.checks import Visit
from tests.browser.conftest import (
    IG_OFFICER,
    IG_PASSWORD,
    OPS,
    OPS_PASSWORD,
    PARA18,
    PARENT_NHS,
    Site,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

EVIDENCE_FILES = {"report.html", "auditevents.json", "receipts.json"}


async def _tab_to(page: Page, element_id: str, limit: int = 20) -> None:
    """Press Tab until the element with ``element_id`` has focus."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement?.id") == element_id:
            return
    raise AssertionError(f"{limit} presses of Tab never reached #{element_id}")


async def _sign_in_by_keyboard(visit: Visit, name: str, password: str) -> None:
    """On the sign-in page: Tab to each field, type, and press Enter, as a keyboard user does."""
    page = visit.page
    await expect(page.get_by_label("Account name")).to_have_attribute("id", "username")
    await expect(page.get_by_label("Password")).to_have_attribute("id", "password")
    await _tab_to(page, "username")
    await page.keyboard.type(name)
    await _tab_to(page, "password")
    await page.keyboard.type(password)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def _sign_in(visit: Visit, name: str, password: str, path: str = "/review/") -> None:
    """Go to ``path``, be sent to the sign-in page, sign in, and arrive back at ``path``."""
    await visit.page.goto(path)
    await expect(visit.page).to_have_url(re.compile(r"/review/login\?next="))
    await _sign_in_by_keyboard(visit, name, password)
    await expect(visit.page).to_have_url(re.compile(re.escape(path) + "$"))


def _no_store(visit: Visit) -> None:
    assert visit.last is not None
    assert "no-store" in visit.last.headers.get("cache-control", ""), visit.page.url


async def _ledger_events(site: Site, event: str) -> list[dict[str, Any]]:
    async with site.engine.connect() as conn:
        rows = await conn.execute(select(ledger.c.entry).order_by(ledger.c.seq))
        entries = [orjson.loads(row[0]) for row in rows]
    return [e for e in entries if e["event"] == event]


async def test_sign_in_search_report_and_evidence_pack(visit: Visit, site: Site) -> None:
    """An IG officer signs in with the keyboard, searches by NHS number, opens an exchange and the
    per-person report, and downloads the evidence pack."""
    page = visit.page
    await page.goto("/review/login")
    assert 200 == visit.status
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    await visit.check("01-sign-in")

    # A wrong password: the form again, saying so, and no way in.
    await _sign_in_by_keyboard(visit, IG_OFFICER, "not the password")
    assert 401 == visit.status
    await expect(page.get_by_text("Account name or password is wrong")).to_be_visible()
    await visit.check("02-sign-in-refused")

    await page.goto("/review/login")
    await _sign_in_by_keyboard(visit, IG_OFFICER, IG_PASSWORD)
    await expect(page).to_have_url(re.compile(r"/review/$"))
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    for label in ("Person identifier", "Partner", "Purpose", "Lawful basis", "Outcome"):
        await expect(page.get_by_label(label, exact=True)).to_be_visible()
    await expect(page.get_by_label("From", exact=True)).to_have_attribute("type", "date")
    await expect(page.get_by_label("To", exact=True)).to_have_attribute("type", "date")
    await visit.check("03-search")

    # A malformed identifier: 400, the reason beside the field, the value never echoed back.
    await page.get_by_label("Person identifier").fill("la:999/NOT-VALID-ID")
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_load_state()
    assert 400 == visit.status
    await expect(
        page.get_by_text(
            "The person identifier is not a valid NHS number or la:<LA code>:<child id>"
        )
    ).to_be_visible()
    assert "NOT-VALID-ID" not in await page.content()
    await visit.check("04-search-invalid")

    await page.get_by_label("Person identifier").fill(PARENT_NHS)
    await page.get_by_role("button", name="Search").click()
    results = page.get_by_role("table", name="Results")
    await expect(results).to_be_visible()
    for exchange_id in site.crisis_exchange_ids:
        await expect(
            results.locator(f'a[href="/review/exchanges/{exchange_id}"]').first
        ).to_be_visible()
    _no_store(visit)
    await visit.check("05-search-results")

    # The decision shared over the refusal: its provenance, and no record content.
    flagged = site.crisis_exchange_ids[2]
    await results.locator(f'a[href="/review/exchanges/{flagged}"]').first.click()
    await expect(page.get_by_role("heading", level=1, name="Exchange")).to_be_visible()
    body = await page.locator("body").inner_text()
    for provenance in ("demo-trust-council", "crisis-notice", PARA18):
        assert provenance in body, provenance
    for content in ("Jane", PARENT_NHS):  # the mother's name and NHS number are record content
        assert content not in body, content
    _no_store(visit)
    await visit.check("06-exchange")

    await page.go_back()
    await page.get_by_role("link", name="Per-person report").click()
    await expect(page.get_by_role("heading", level=1, name="Who received what")).to_be_visible()
    disclosures = page.get_by_role("table", name="Disclosures")
    await expect(disclosures).to_be_visible()
    # Shared, refused, shared over the refusal: at least three decisions, and the basis used.
    assert await disclosures.locator("tbody tr").count() >= 3
    await expect(disclosures).to_contain_text(PARA18)
    _no_store(visit)
    print_rules = await page.evaluate(
        """() => [...document.styleSheets].some(sheet => {
             if (sheet.media && [...sheet.media].includes('print')) return true;
             try { return [...sheet.cssRules].some(r => r.media && [...r.media].includes('print')); }
             catch (e) { return false; } })"""
    )
    assert print_rules, "the per-person report has no print stylesheet"
    await visit.check("07-person-report")
    await page.emulate_media(media="print")
    await page.screenshot(path=visit.screenshot_path("08-person-report-print"), full_page=True)
    await page.emulate_media(media="screen")

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download evidence pack").click()
    download = await download_info.value
    assert re.fullmatch(r"evidence-pack-.+\.zip", download.suggested_filename)
    path = await download.path()
    _check_evidence_pack(await asyncio.to_thread(Path(path).read_bytes))

    # Each view of personal data above is itself in the ledger.
    views = {(e["viewer"], e["view"]) for e in await _ledger_events(site, "record.viewed")}
    for view in ("search", "exchange", "person-report", "evidence-pack"):
        assert (IG_OFFICER, view) in views, view


def _check_evidence_pack(data: bytes) -> None:
    """The pack is a zip of the report, a FHIR AuditEvent Bundle, and receipts that verify."""
    with zipfile.ZipFile(io.BytesIO(data)) as pack:
        assert EVIDENCE_FILES == set(pack.namelist())
        report = pack.read("report.html").decode()
        bundle = orjson.loads(pack.read("auditevents.json"))
        receipts = orjson.loads(pack.read("receipts.json"))
    assert "Who received what" in report
    assert "Bundle" == bundle["resourceType"]
    assert bundle["entry"]
    assert {"AuditEvent"} == {e["resource"]["resourceType"] for e in bundle["entry"]}
    proofs = _inclusion_proofs(receipts)
    assert proofs, "receipts.json holds no inclusion proof"
    for proof in proofs:
        check_inclusion(proof)  # raises if any receipt does not verify


def _inclusion_proofs(document: Any) -> list[dict[str, Any]]:
    """Every inclusion proof (an object with leafIdx and leafHash) anywhere in the document."""
    if isinstance(document, list):
        return [proof for item in document for proof in _inclusion_proofs(item)]
    if isinstance(document, dict):
        if "leafIdx" in document and "leafHash" in document:
            return [document]
        return [proof for value in document.values() for proof in _inclusion_proofs(value)]
    return []


async def test_not_signed_in_is_sent_to_sign_in_then_back(visit: Visit) -> None:
    """A page asked for before signing in: the sign-in page, then the page asked for."""
    await _sign_in(visit, IG_OFFICER, IG_PASSWORD, "/review/overrides")
    await expect(visit.page.get_by_role("heading", level=1, name="Override review")).to_be_visible()


async def test_review_an_override(visit: Visit, site: Site) -> None:
    """The share over the refusal waits for review; the officer comments and marks it reviewed."""
    page = visit.page
    await _sign_in(visit, IG_OFFICER, IG_PASSWORD, "/review/overrides")
    await expect(page.get_by_role("heading", level=1, name="Override review")).to_be_visible()
    pending = page.get_by_role("listitem").filter(has=page.get_by_label("Review comment"))
    await expect(pending).to_have_count(1)
    await expect(pending).to_contain_text(PARA18)
    await visit.check("09-overrides")

    comment = "Checked with the duty manager: para 18 applied correctly."
    await pending.get_by_label("Review comment").click()
    await page.keyboard.type(comment)
    await pending.get_by_role("button", name="Mark reviewed").click()
    await expect(page).to_have_url(re.compile(r"/review/overrides$"))
    await expect(page.get_by_role("button", name="Mark reviewed")).to_have_count(0)
    reviewed = page.locator(
        "xpath=//*[self::h2 or self::h3][normalize-space()='Reviewed']/following::li"
    ).filter(has_text=comment)
    await expect(reviewed).to_have_count(1)
    await expect(reviewed).to_contain_text(IG_OFFICER)
    await visit.check("10-overrides-reviewed")

    reviews = await _ledger_events(site, "override.reviewed")
    assert [(IG_OFFICER, comment)] == [(r["reviewer"], r["comment"]) for r in reviews]


async def test_ops_sees_ledger_status_not_the_review_pages_then_signs_out(
    visit: Visit, site: Site
) -> None:
    """An ops engineer sees the ledger's status and can verify it, is refused the IG pages, and
    signs out."""
    page = visit.page
    await _sign_in(visit, OPS, OPS_PASSWORD, "/review/ledger")
    await expect(page.get_by_role("heading", level=1, name="Ledger status")).to_be_visible()
    await visit.check("11-ledger-status")

    await page.get_by_role("button", name="Verify now").click()
    await expect(page).to_have_url(re.compile(r"/review/ledger"))
    await expect(page.get_by_role("heading", level=1, name="Ledger status")).to_be_visible()
    await visit.check("12-ledger-verified")
    verified = await _ledger_events(site, "ledger.verified")
    assert verified
    assert (True, OPS) == (verified[-1]["intact"], verified[-1]["by"])

    for path in ("/review/", f"/review/exchanges/{site.crisis_exchange_ids[0]}"):
        await page.goto(path)
        assert 403 == visit.status, path
        await expect(page.get_by_text("You do not have access to this page")).to_be_visible()
    await visit.check("13-forbidden")

    await page.goto("/review/ledger")
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_load_state()
    await visit.check("14-signed-out")
    await page.goto("/review/ledger")
    await expect(page).to_have_url(re.compile(r"/review/login\?next="))
