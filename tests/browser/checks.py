"""What every page visited in the browser tests must pass, and the screenshot each one leaves.

``Visit.check(name)`` is called on every page a test reaches: it saves a full-page screenshot to
``test-artifacts/screenshots/``, runs axe-core (any violation of impact serious or critical fails,
listing the rule ids and selectors), checks the page's shape (``lang="en"``, one ``<h1>``, every
form control labelled by a ``<label>``), that the first Tab reaches a skip link, that focus is
visible on every element Tab reaches, that the browser reported no error (a CSP violation, a
script error), and that the response carried the security headers the pages promise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import ConsoleMessage, Page, Response

from tests.conftest import REPO

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
FAILING_IMPACTS = frozenset({"serious", "critical"})
SECURITY_HEADERS = {
    "x-frame-options": re.compile(r"^DENY$", re.IGNORECASE),
    "referrer-policy": re.compile(r"^no-referrer$"),
    "content-security-policy": re.compile(r"(^|;)\s*default-src 'self'(\s*;|$)"),
}

_AXE = Axe()

# Every form control a person fills in or chooses, and whether a <label> with text names it.
_UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => !(el.type === 'hidden' || el.type === 'submit' || el.type === 'button'))
  .filter(el => ![...(el.labels || [])].some(label => label.textContent.trim()))
  .map(el => el.outerHTML.slice(0, 120))"""

# The focused element: a description, whether it is the page body, whether focus shows, and,
# for a link to a fragment, whether its target exists.
_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {body: true};
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow !== 'none';
  const href = el.getAttribute('href') || '';
  return {
    body: false,
    at: [...document.querySelectorAll('*')].indexOf(el),
    what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
          ' "' + (el.textContent || el.value || '').trim().slice(0, 40) + '"',
    visible: outline || shadow,
    style: style.outlineStyle + ' ' + style.outlineWidth + ' / ' + style.boxShadow,
    skip: href.startsWith('#') && href.length > 1 &&
          document.getElementById(href.slice(1)) !== null,
  };
}"""
_START = """() => {
  document.body.insertAdjacentHTML('afterbegin', '<span id="tab-start" tabindex="-1"></span>');
  document.getElementById('tab-start').focus();
  window.scrollTo(0, 0);
}"""


@dataclass
class Visit:
    """A browser page under test, with the errors and navigations it has seen."""

    page: Page
    errors: list[str] = field(default_factory=list)
    last: Response | None = None
    names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        # A page answered 4xx on purpose (401, 403) is logged as a failed load: not an error here;
        # a failed stylesheet or image is caught in _response.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console error: {message.text}")

    def _response(self, response: Response) -> None:
        request = response.request
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self.last = response
        elif response.status >= 400:
            self.errors.append(f"{request.resource_type} {response.url}: {response.status}")

    @property
    def status(self) -> int:
        """The HTTP status of the page now shown."""
        assert self.last is not None, "no navigation response seen"
        return self.last.status

    def screenshot_path(self, name: str) -> Path:
        """Where the screenshot called ``name`` goes (each name once per run)."""
        assert name not in self.names, f"two screenshots named {name}"
        self.names.add(name)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / f"{name}.png"

    async def check(self, name: str) -> None:
        """Screenshot the page, then check it (see the module docstring)."""
        await self.page.screenshot(path=self.screenshot_path(name), full_page=True)
        problems = [*self._headers(), *await self._shape(), *await self._axe()]
        problems += await self._keyboard()
        problems += self.errors
        self.errors.clear()
        assert not problems, f"page {name} ({self.page.url}):\n  " + "\n  ".join(problems)

    def _headers(self) -> list[str]:
        if self.last is None:
            return ["no navigation response seen"]
        headers = self.last.headers
        return [
            f"header {header}: {headers.get(header)!r} does not match {pattern.pattern}"
            for header, pattern in SECURITY_HEADERS.items()
            if not pattern.search(headers.get(header, ""))
        ]

    async def _shape(self) -> list[str]:
        problems = []
        lang = await self.page.evaluate("() => document.documentElement.lang")
        if lang != "en":
            problems.append(f'<html lang="{lang}">, not "en"')
        headings = await self.page.locator("h1").count()
        if headings != 1:
            problems.append(f"{headings} <h1> elements, not one")
        unlabelled: list[str] = await self.page.evaluate(_UNLABELLED)
        problems += [f"form control without a <label>: {html}" for html in unlabelled]
        return problems

    async def _axe(self) -> list[str]:
        results = await _AXE.run(self.page)
        violations: list[dict[str, Any]] = results.response["violations"]
        return [
            f"axe {v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(" ".join(node["target"]) for node in v["nodes"])
            for v in violations
            if v["impact"] in FAILING_IMPACTS
        ]

    async def _keyboard(self, limit: int = 40) -> list[str]:
        """Tab from the top: the first stop is a skip link; focus shows at every stop."""
        problems = []
        # Start where a person arriving at the page starts: before the first element.
        await self.page.evaluate(_START)
        seen: set[int] = set()
        for stop in range(limit):
            await self.page.keyboard.press("Tab")
            if stop == 0:
                await self.page.evaluate("() => document.getElementById('tab-start')?.remove()")
            focused: dict[str, Any] = await self.page.evaluate(_FOCUSED)
            if focused["body"] or focused["at"] in seen:
                if stop == 0:
                    problems.append("Tab reaches nothing on the page")
                break
            seen.add(focused["at"])
            if stop == 0 and not focused["skip"]:
                problems.append(f"the first Tab stop is {focused['what']}, not a skip link")
            if not focused["visible"]:
                problems.append(f"no visible focus on {focused['what']} ({focused['style']})")
        return problems
