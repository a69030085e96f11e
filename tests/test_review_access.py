"""The review pages' doors: signing in and out, the throttle, CSRF, roles, sessions and headers,
over the real HTTP server on SQLite and PostgreSQL. Every refusal must be in the ledger."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import argon2
import pytest
from cryptography.fernet import Fernet, MultiFernet

from gateway.appkeys import SERVICES
from gateway.errors import Unavailable
from gateway.review.accounts import LocalAccounts, LoginThrottle
from gateway.review.sessions import COOKIE, SessionCodec, new_session
from gateway.store.committer import UnitOfWork
from tests.conftest import Database
from tests.review_helpers import (
    OFFICER,
    OFFICER_PASSWORD,
    OPS,
    OPS_PASSWORD,
    Browser,
    accounts,
    csrf_of,
    events,
    review_harness,
    review_settings,
)

PAGES = ("/review/", "/review/search", "/review/overrides", "/review/ledger")


def _refusals(entries: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(e["route"], e["reason"], e["user"]) for e in entries if e["event"] == "access.refused"]


async def test_sign_in_and_out(aiohttp_client: Any, database: Database, tmp_path: Path) -> None:
    """Not signed in: the sign-in page (recorded); signed in: the page; signed out: refused again,
    even with the old cookie replayed; after signing in, only a review page is a destination."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        b = Browser(h)
        response = await b.get("/review/overrides")
        assert 303 == response.status
        assert "/review/login?next=%2Freview%2Foverrides" == response.headers["Location"]
        assert [("/review/overrides", "not-authenticated", None)] == _refusals(await h.entries())

        page = await b.page("/review/login", next="/review/overrides")
        for control in ('<label for="username">Account name</label>', 'id="username"'):
            assert control in page
        assert '<label for="password">Password</label>' in page
        assert 'name="next" value="/review/overrides"' in page
        signed = await b.sign_in(OFFICER, OFFICER_PASSWORD, "/review/overrides")
        assert 303 == signed.status
        assert "/review/overrides" == signed.headers["Location"]
        cookie = signed.cookies[COOKIE]
        assert cookie["httponly"]
        assert "Strict" == cookie["samesite"]
        assert not cookie["secure"]  # plain HTTP to loopback only: the test server
        assert "/review/" == cookie["path"]
        session_value = cookie.value

        page = await b.page("/review/overrides")
        assert f"Signed in as {OFFICER}" in page
        assert "Sign out" in page
        out = await b.post_form("/review/logout", {}, token_from="/review/overrides")
        assert 303 == out.status
        assert "/review/login" == out.headers["Location"]
        assert 303 == (await b.get("/review/overrides")).status

        # The signed-out session's cookie, replayed, no longer works.
        h.client.session.cookie_jar.update_cookies({COOKIE: session_value})
        replayed = await b.get("/review/ledger")
        assert 303 == replayed.status
        assert ("/review/ledger", "not-authenticated", None) == _refusals(await h.entries())[-1]

        # ``next`` can only name a review page: anything else returns to the search page.
        for target in ("https://evil.example/", "//evil.example/review/", "/review//x", "/admin"):
            response = await b.sign_in(OFFICER, OFFICER_PASSWORD, target)
            assert 303 == response.status
            assert "/review/" == response.headers["Location"]


async def test_wrong_password_then_throttled(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """Five wrong passwords: 401 each, recorded; the sixth attempt is refused (429) even with the
    right password; an unknown account name is refused the same way, recorded without a name."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        b = Browser(h)
        for attempt in range(5):
            response = await b.sign_in(OFFICER, f"wrong password {attempt}")
            page = await response.text()
            assert 401 == response.status
            assert "Account name or password is wrong" in page
            assert "wrong password" not in page  # nothing typed is echoed
        locked = await b.sign_in(OFFICER, OFFICER_PASSWORD)
        assert 429 == locked.status
        assert "too many failed sign-ins" in await locked.text()
        assert 303 == (await b.get("/review/")).status  # still not signed in

        unknown = await b.sign_in("nobody.here", "whatever it is")
        assert 401 == unknown.status
        refusals = _refusals(await h.entries())
        assert [("/review/login", "bad-credentials", OFFICER)] * 5 + [
            ("/review/login", "throttled", OFFICER),
            ("/review/", "not-authenticated", None),
            ("/review/login", "bad-credentials", None),
        ] == refusals
        # Another account is not locked by the first one's failures.
        assert 303 == (await b.sign_in(OPS, OPS_PASSWORD)).status


def test_throttle_window_slides() -> None:
    """Failures older than the window no longer count; a success clears the name."""
    throttle = LoginThrottle(2, 60.0)
    throttle.failed("a", now=0.0)
    throttle.failed("a", now=30.0)
    assert throttle.locked("a", now=59.0)
    assert not throttle.locked("a", now=61.0)
    throttle.failed("a", now=62.0)
    assert throttle.locked("a", now=63.0)
    throttle.succeeded("a")
    assert not throttle.locked("a", now=63.0)


def test_throttle_forgets_the_stalest_names_first() -> None:
    """A flood of made-up names cannot grow the throttle without bound."""
    throttle = LoginThrottle(1, 60.0, max_names=3)
    for name in ("a", "b", "c", "d"):
        throttle.failed(name, now=1.0)
    assert not throttle.locked("a", now=2.0)
    assert throttle.locked("d", now=2.0)


class _CountingHasher(argon2.PasswordHasher):
    """A password hasher that remembers which hashes it checked passwords against."""

    def __init__(self) -> None:
        super().__init__()
        self.checked: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.checked.append(str(hash))
        return super().verify(hash, password)


async def test_unknown_accounts_cost_a_full_verification() -> None:
    """An unknown name is checked against a dummy hash with the configured parameters, so a wrong
    guess takes the same work whether or not the account exists."""
    local = LocalAccounts(accounts())
    hasher = _CountingHasher()
    local._hasher = hasher
    assert await local.verify("nobody", "a password") is None
    assert await local.verify(OFFICER, "a password") is None
    found = await local.verify(OFFICER, OFFICER_PASSWORD)
    assert found is not None
    assert OFFICER == found.name
    assert 3 == len(hasher.checked)
    assert hasher.checked[0] != hasher.checked[1]
    # The dummy hash has the same argon2id parameters as the real one.
    assert hasher.checked[0].split("$")[:4] == hasher.checked[1].split("$")[:4]


async def test_csrf_missing_or_bad_is_refused_and_recorded(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """Every POST needs the session's CSRF token: without it, or with another, nothing is done."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        b = Browser(h)
        await b.page("/review/login")
        no_token = await h.client.post(
            "/review/login",
            data={"username": OFFICER, "password": OFFICER_PASSWORD},
            allow_redirects=False,
        )
        assert 403 == no_token.status
        assert "did not come from these pages" in await no_token.text()
        await b.signed_in()
        bad = await h.client.post(
            "/review/ledger/verify", data={"csrf_token": "not-the-token"}, allow_redirects=False
        )
        assert 403 == bad.status
        other_session = await h.client.post(
            "/review/logout",
            data={"csrf_token": new_session(30).csrf},
            allow_redirects=False,
        )
        assert 403 == other_session.status
        assert [] == await events(h, "ledger.verified")
        assert 200 == (await b.get("/review/ledger")).status  # still signed in
        assert [
            ("/review/login", "csrf", None),
            ("/review/ledger/verify", "csrf", OFFICER),
            ("/review/logout", "csrf", OFFICER),
        ] == _refusals(await h.entries())


async def test_roles(aiohttp_client: Any, database: Database, tmp_path: Path) -> None:
    """ops sees only the ledger's status; every other page is a recorded 403."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        b = await Browser(h).signed_in(OPS, OPS_PASSWORD)
        page = await b.page("/review/ledger")
        assert "<h1>Ledger status</h1>" in page
        assert 'href="/review/overrides"' not in page  # no links to pages it may not see
        forbidden = [
            "/review/",
            "/review/search",
            "/review/overrides",
            "/review/exchanges/0b0e7a9e-7cbb-4e4a-9a57-6d8f1c3b2a10",
            "/review/persons/0b0e7a9e-7cbb-4e4a-9a57-6d8f1c3b2a10",
            "/review/persons/0b0e7a9e-7cbb-4e4a-9a57-6d8f1c3b2a10/evidence-pack",
        ]
        for path in forbidden:
            text = await b.page(path, status=403, identifier="9000000009")
            assert "You do not have access to this page" in text
            assert "9000000009" not in text
        token = csrf_of(page)
        review = await h.client.post(
            "/review/overrides/1",
            data={"csrf_token": token, "comment": "looks fine"},
            allow_redirects=False,
        )
        assert 403 == review.status
        routes = [
            "/review/",
            "/review/search",
            "/review/overrides",
            "/review/exchanges/{exchange_id}",
            "/review/persons/{person_id}",
            "/review/persons/{person_id}/evidence-pack",
            "/review/overrides/{seq}",
        ]
        assert [(r, "wrong-role", OPS) for r in routes] == _refusals(await h.entries())
        assert [] == await events(h, "record.viewed")


async def test_a_forged_or_expired_session_is_no_session(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """A cookie not sealed with the gateway's key, or one past its expiry, signs nobody in."""
    settings = review_settings(tmp_path)
    assert settings.session_key_file is not None
    real = SessionCodec(MultiFernet([Fernet(settings.session_key_file.read_bytes().strip())]))
    forged = SessionCodec(MultiFernet([Fernet(Fernet.generate_key())]))
    officer = ("ig-officer",)
    expired = new_session(30, user=OFFICER, roles=officer, now=time.time() - 31 * 60)
    async for h in review_harness(aiohttp_client, database, tmp_path, review=settings):
        jar = h.client.session.cookie_jar
        for value in (
            forged.encode(new_session(30, user=OFFICER, roles=officer)),
            real.encode(expired),
            real.encode(new_session(30, user=OFFICER, roles=officer))[:-4] + "AAAA",
        ):
            jar.update_cookies({COOKIE: value})
            assert 303 == (await h.client.get("/review/", allow_redirects=False)).status
        # The same session sealed with the real key and in date is accepted.
        jar.update_cookies({COOKIE: real.encode(new_session(30, user=OFFICER, roles=officer))})
        assert 200 == (await h.client.get("/review/", allow_redirects=False)).status


async def test_headers_and_html_errors(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """Every review response carries the strict headers; errors are HTML pages, not JSON."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        b = await Browser(h).signed_in()
        for path, status in (
            ("/review/login", 200),
            ("/review/", 200),
            ("/review/no-such-page", 404),
            ("/review/exchanges/not-an-id", 400),
            ("/review/exchanges/0b0e7a9e-7cbb-4e4a-9a57-6d8f1c3b2a10", 404),
            ("/review/persons/0b0e7a9e-7cbb-4e4a-9a57-6d8f1c3b2a10", 404),
        ):
            response = await b.get(path)
            assert status == response.status, path
            assert "text/html" == response.content_type
            headers = response.headers
            assert headers["Content-Security-Policy"].startswith("default-src 'self';")
            assert "DENY" == headers["X-Frame-Options"]
            assert "no-referrer" == headers["Referrer-Policy"]
            assert "nosniff" == headers["X-Content-Type-Options"]
            assert "no-store" == headers["Cache-Control"]
            page = await response.text()
            assert page.startswith("<!doctype html>")
            assert '<html lang="en">' in page
            assert 1 == page.count("<h1")
            assert "Traceback" not in page
        bare = await b.get("/review")
        assert (303, "/review/") == (bare.status, bare.headers["Location"])
        wrong_method = await h.client.delete("/review/ledger")
        assert 405 == wrong_method.status
        assert "text/html" == wrong_method.content_type
        css = await b.get("/review/static/review.css")
        assert 200 == css.status
        assert "@media print" in await css.text()
        assert COOKIE not in css.cookies  # a stylesheet never resets the session


async def test_a_refusal_that_cannot_be_recorded_is_still_refused(
    aiohttp_client: Any, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the ledger down, pages that show no personal data still work; a refusal is a 503."""
    async for h in review_harness(aiohttp_client, database, tmp_path):
        b = await Browser(h).signed_in()
        committer = h.client.app[SERVICES].committer

        async def down(unit: UnitOfWork) -> list[int]:
            raise Unavailable("the audit ledger could not be written; nothing was committed")

        monkeypatch.setattr(committer, "submit", down)
        response = await b.get("/review/search", identifier="9000000009")
        page = await response.text()
        # The mother is not known yet, so no personal data is shown and nothing is recorded...
        assert 200 == response.status, page
        response = await b.get("/review/ledger")
        assert 200 == response.status  # ...and the ledger's status is not personal data.
        h.client.session.cookie_jar.clear()
        refused = await h.client.get("/review/", allow_redirects=False)
        # A refusal that cannot be recorded is still a refusal, and says why.
        assert 503 == refused.status
        assert "The ledger could not be written" in await refused.text()
