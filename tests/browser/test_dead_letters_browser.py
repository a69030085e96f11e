"""The dead-letter page in a real browser: an ops engineer sees a dead letter and replays it with
the keyboard; the page passes the same checks as every review page (axe-core, labels, a skip link,
visible focus, security headers; ``checks.py``).

The site (``conftest.py``) delivers its story to a council that accepts everything; this module's
own site (module-scoped) then has its first delivered row turned back into the dead letter a
council refusing it eight times would have left, since the page, not the worker, is what is tested
here (the worker's dead-lettering and the replay's records are tested over HTTP on SQLite and
PostgreSQL in ``tests/test_delivery_dead_letters.py``).
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect
from sqlalchemy import select, update

from gateway.store.tables import outbox
from tests.browser.checks import Visit
from tests.browser.conftest import OPS, OPS_PASSWORD, Site
from tests.browser.test_review_browser import _sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_ops_replay_a_dead_letter_with_the_keyboard(site: Site, visit: Visit) -> None:
    """The list shows the dead letter without content; Replay puts it back, and says so."""
    async with site.engine.begin() as conn:
        first = (
            await conn.execute(select(outbox.c.id).order_by(outbox.c.created_at).limit(1))
        ).scalar_one()
        await conn.execute(
            update(outbox)
            .where(outbox.c.id == first)
            .values(status="dead", attempts=8, last_error="HTTP 503", delivered_at=None)
        )
    await _sign_in(visit, OPS, OPS_PASSWORD, "/review/dead-letters")
    page = visit.page
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dead letters")
    row = page.get_by_role("row").filter(has_text=first)
    await expect(row).to_contain_text("council-demo")
    await expect(row).to_contain_text("crisis-event")
    await expect(row).to_contain_text("HTTP 503")
    await visit.check("dead-letters")
    button = page.get_by_role("button", name=f"Replay delivery {first}")
    await button.focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/review/dead-letters\?replayed="))
    await expect(page.get_by_role("status")).to_contain_text("back in the outbox")
    await visit.check("dead-letters-replayed")
