"""Signing in through an OpenID Connect provider: the authorisation code flow with PKCE, state and
nonce, against a provider simulator serving on loopback; every failure refused and recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.review.sessions import OIDC_COOKIE
from gateway.review.settings import OidcSettings
from tests.conftest import Database
from tests.gateway_harness import Harness
from tests.review_helpers import (
    CLIENT_ID,
    REDIRECT_URI,
    Browser,
    OidcProvider,
    events,
    oidc_sign_in,
    review_harness,
    review_settings,
)


@pytest.fixture
async def provider() -> AsyncIterator[OidcProvider]:
    simulator = OidcProvider()
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


async def _harness(
    aiohttp_client: Any, database: Database, tmp_path: Path, provider: OidcProvider
) -> AsyncIterator[Harness]:
    review = review_settings(tmp_path, oidc=provider.settings())
    async for h in review_harness(aiohttp_client, database, tmp_path, review=review):
        yield h


async def test_sign_in_through_the_provider(
    aiohttp_client: Any, database: Database, tmp_path: Path, provider: OidcProvider
) -> None:
    """Code flow with PKCE: the provider's role maps to ig-officer, and the pages open."""
    async for h in _harness(aiohttp_client, database, tmp_path, provider):
        b = Browser(h)
        login = await b.page("/review/login")
        assert "Sign in with Test provider" in login
        response = await oidc_sign_in(b, "/review/overrides")
        page = await response.text()
        assert 200 == response.status, page
        # A same-site page moves on, so the SameSite=Strict session cookie is sent with it.
        assert '<meta http-equiv="refresh" content="0; url=/review/overrides">' in page
        assert OIDC_COOKIE in response.cookies  # the sign-in in flight is cleared...
        assert "" == response.cookies[OIDC_COOKIE].value
        overrides = await b.page("/review/overrides")
        assert "Signed in as dana.officer" in overrides
        (token_request,) = provider.token_requests
        assert "code_verifier" in token_request
        assert "client_secret" not in token_request  # the secret went in the Authorization header
        assert REDIRECT_URI == token_request["redirect_uri"]
        assert [] == await events(h, "access.refused")

        # ...so the same callback cannot be replayed.
        replay = await h.client.get("/review/oidc/callback?code=x&state=y", allow_redirects=False)
        assert 401 == replay.status


async def test_every_bad_answer_is_refused_and_recorded(
    aiohttp_client: Any, database: Database, tmp_path: Path, provider: OidcProvider
) -> None:
    """A forged signature, another client's token, another sign-in's nonce, another issuer, an
    expired token, a spliced state, a provider error, no role: refused, each with its reason."""
    async for h in _harness(aiohttp_client, database, tmp_path, provider):
        b = Browser(h)
        expected: list[tuple[str, str, str | None]] = []
        for mode, reason in (
            ("bad-signature", "oidc-bad-signature"),
            ("wrong-audience", "oidc-wrong-audience"),
            ("wrong-nonce", "oidc-wrong-nonce"),
            ("wrong-issuer", "oidc-wrong-issuer"),
            ("expired", "oidc-expired"),
        ):
            provider.mode = mode
            response = await oidc_sign_in(b)
            page = await response.text()
            assert 401 == response.status, mode
            assert "did not work, so you are not signed in" in page
            assert 303 == (await b.get("/review/")).status, mode
            expected += [
                ("/review/oidc/callback", reason, None),
                ("/review/", "not-authenticated", None),
            ]

        provider.mode = "good"
        start = await b.get("/review/oidc/start")
        assert 303 == start.status
        # The browser comes back with a state that is not the one this browser started with.
        spliced = await h.client.get(
            "/review/oidc/callback?code=whatever&state=someone-elses-state", allow_redirects=False
        )
        assert 401 == spliced.status
        await b.get("/review/oidc/start")
        refused = await h.client.get(
            "/review/oidc/callback?error=access_denied&state=x", allow_redirects=False
        )
        assert 401 == refused.status
        expected += [("/review/oidc/callback", "oidc-state", None)] * 2

        provider.roles = ("Finance.Clerk",)
        no_role = await oidc_sign_in(b)
        assert 403 == no_role.status
        assert 303 == (await b.get("/review/")).status
        expected += [
            ("/review/oidc/callback", "no-role", "dana.officer"),
            ("/review/", "not-authenticated", None),
        ]
        recorded = [(e["route"], e["reason"], e["user"]) for e in await events(h, "access.refused")]
        assert expected == recorded
        assert 6 == len(provider.token_requests)  # a bad state never reaches the token endpoint


async def test_an_unreachable_provider(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """Discovery that fails is a 502 page, recorded; local sign-in still works."""
    down = OidcSettings(
        issuer="http://127.0.0.1:9",
        client_id=CLIENT_ID,
        redirect_uri=REDIRECT_URI,
        role_map={"IG.Officer": "ig-officer"},
    )
    review = review_settings(tmp_path, oidc=down)
    async for h in review_harness(aiohttp_client, database, tmp_path, review=review):
        b = Browser(h)
        response = await b.get("/review/oidc/start")
        assert 502 == response.status
        assert "could not be reached" in await response.text()
        assert ["oidc-discovery"] == [e["reason"] for e in await events(h, "access.refused")]
        await b.signed_in()


def test_provider_settings_are_checked() -> None:
    """Tokens travel over TLS (plain HTTP only to loopback); the callback is the review page's."""
    good = {
        "issuer": "https://login.example.org/",
        "client_id": "c",
        "redirect_uri": "https://gw.example.org/review/oidc/callback",
    }
    assert "https://login.example.org" == OidcSettings(**good).issuer
    for bad in (
        {"issuer": "http://login.example.org"},
        {"redirect_uri": "http://gw.example.org/review/oidc/callback"},
        {"redirect_uri": "https://gw.example.org/elsewhere"},
    ):
        with pytest.raises(ValidationError):
            OidcSettings(**{**good, **bad})
