"""The page checks themselves: a page with the faults they look for fails with each one named, and
a plain page with none of them passes. (So a green browser run means the pages were checked.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser

from tests.browser.checks import Visit

pytestmark = pytest.mark.asyncio(loop_scope="module")

HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

GOOD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Good</title></head>
<body><a href="#main">Skip to main content</a><main id="main"><h1>A good page</h1>
<form><label for="name">Account name</label><input id="name" name="name">
<button type="submit">Go</button></form></main></body></html>"""

# Every fault the checks look for: no lang, two h1s, an unlabelled field, grey on white, focus
# hidden, no skip link first, a script error, a missing stylesheet, and (below) no headers.
BAD = """<!doctype html><html><head><meta charset="utf-8"><title>Bad</title>
<link rel="stylesheet" href="/missing.css">
<style>body { color: #bbb; background: #fff; } :focus { outline: none; }</style></head>
<body><h1>One</h1><h1>Two</h1><form><input id="name" name="name">
<button type="submit">Go</button></form><a href="/elsewhere">a link</a>
<script>undefinedFunction();</script></body></html>"""


async def _page(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name == "good":
        return web.Response(text=GOOD, content_type="text/html", headers=HEADERS)
    if name == "bad":
        return web.Response(text=BAD, content_type="text/html")
    raise web.HTTPNotFound


@pytest_asyncio.fixture(loop_scope="module")
async def pages() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/{name}", _page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="module")
async def checker(browser: Browser, pages: str) -> AsyncIterator[Visit]:
    context = await browser.new_context(base_url=pages)
    try:
        yield Visit(await context.new_page())
    finally:
        await context.close()


async def test_a_page_without_faults_passes(checker: Visit) -> None:
    await checker.page.goto("/good")
    await checker.check("checks-good")


async def test_every_fault_is_named(checker: Visit) -> None:
    await checker.page.goto("/bad")
    with pytest.raises(AssertionError) as failure:
        await checker.check("checks-bad")
    report = str(failure.value)
    for expected in (
        "header x-frame-options",
        "header referrer-policy",
        "header content-security-policy",
        '<html lang="">, not "en"',
        "2 <h1> elements, not one",
        "form control without a <label>: <input",
        "axe color-contrast (serious)",
        "axe label (critical)",
        "the first Tab stop is input#name",
        "no visible focus on input#name",
        "no visible focus on a",
        "stylesheet http://127.0.0.1",
        "/missing.css: 404",
        "page error: undefinedFunction is not defined",
    ):
        assert expected in report, f"{expected!r} not in:\n{report}"
