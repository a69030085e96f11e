"""Helpers for the IG review pages' tests: accounts, a gateway with a story in its ledger, and a
browser-like client that signs in and fills forms (CSRF token included) over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import argon2
import orjson
import yaml
from aiohttp import ClientResponse, web
from cryptography.fernet import Fernet
from joserfc import jwt
from joserfc.jwk import RSAKey
from yarl import URL

from gateway.audit.settings import LedgerSettings
from gateway.audit.signing import write_new_key
from gateway.review.settings import OidcSettings, ReviewAccount, ReviewSettings
from gateway.settings import bundled
from tests.conftest import FIXTURES, THINK_FAMILY_AGREEMENT, Database
from tests.gateway_harness import Harness, child_status, crisis_bundle, start_harness
from tests.gateway_harness import fresh_message as _fresh

# Synthetic accounts; cheap argon2id parameters keep the suite fast (production hashes come from
# `joinedup review hash-password`, with the library's defaults).
_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
OFFICER, OFFICER_PASSWORD = "ig.officer", "review-test officer passphrase"
OPS, OPS_PASSWORD = "ops.engineer", "review-test ops passphrase"

MOTHER_NHS = "9000000009"
CHILD_NHS = "9000000017"
CHILD_LA_ID = "CH000123"
PARA18 = "art6(1)(e)+art9(2)(g)+sch1-para18"
APPROVER = "Duty team manager, A. Approver"
SHARING_REQUEST = "https://joined-up.org.uk/StructureDefinition/sharing-request"
# Record content from the posted fixtures that no page may ever show: names, NHS numbers, the
# council's child id, the trust's local id, addresses and contacts.
RECORD_CONTENT = (
    "Jane",
    "Sam",
    "Smith",
    "Morgan",
    "Priya",
    "Chris Evans",
    MOTHER_NHS,
    CHILD_NHS,
    "900 000 0009",
    CHILD_LA_ID,
    "RX9-0042187",
    "A123456789012",
    "01632",
    "1990-04-12",
    "2016-09-03",
)


def accounts() -> tuple[ReviewAccount, ...]:
    return (
        ReviewAccount(
            name=OFFICER, password_hash=_HASHER.hash(OFFICER_PASSWORD), roles=("ig-officer",)
        ),
        ReviewAccount(name=OPS, password_hash=_HASHER.hash(OPS_PASSWORD), roles=("ops",)),
    )


def review_settings(tmp_path: Path, **overrides: Any) -> ReviewSettings:
    key = tmp_path / "review-session.key"
    if not key.exists():
        key.write_bytes(Fernet.generate_key() + b"\n")
    values: dict[str, Any] = {"accounts": accounts(), "session_key_file": key}
    values.update(overrides)
    return ReviewSettings(**values)


def ledger_settings(tmp_path: Path) -> LedgerSettings:
    key = tmp_path / "checkpoint-signing-key.pem"
    write_new_key(key)
    return LedgerSettings(
        signing_key_file=key,
        checkpoint_dir=tmp_path / "checkpoints",
        checkpoint_entries=1000,
        checkpoint_seconds=3600,
    )


def agreements(tmp_path: Path) -> Path:
    """The shipped agreements; the crisis flow honours refusals, accepts Sch 1 para 18 for a
    child, and allows urgent overrides."""
    directory = tmp_path / "agreements"
    # Without the think-family agreement, as agreements_for_tests (tests/conftest.py).
    shutil.copytree(
        bundled("agreements"), directory, ignore=shutil.ignore_patterns(THINK_FAMILY_AGREEMENT)
    )
    path = directory / "demo-trust-council.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for flow in document["flows"]:
        if flow["id"] == "crisis-notice":
            flow["consent"] = "honour-refusal"
            flow["allow_override"] = True
            flow["lawful_bases"].append(
                {
                    "art6": "6(1)(e)",
                    "art9": "9(2)(g)",
                    "dpa2018": "sch1-para18",
                    "age_band": "child",
                }
            )
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return directory


async def review_harness(
    aiohttp_client: Any, database: Database, tmp_path: Path, **overrides: Any
) -> AsyncIterator[Harness]:
    """The test gateway with the review pages' accounts and the story's agreements."""
    values: dict[str, Any] = {
        "agreements_dir": agreements(tmp_path),
        "review": review_settings(tmp_path),
        "ledger": ledger_settings(tmp_path),
    }
    values.update(overrides)
    async for h in start_harness(aiohttp_client, database, **values):
        yield h


# -- the story -----------------------------------------------------------------------------------


def _with_request(bundle: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    bundle = _fresh(bundle)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "MessageHeader":
            entry["resource"].setdefault("extension", []).append(
                {"url": SHARING_REQUEST, "extension": parts}
            )
    return bundle


def _refusal() -> dict[str, Any]:
    bundle = _fresh(orjson.loads((FIXTURES / "fhir" / "consent-directive.json").read_bytes()))
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Consent":
            for narrowing in ("purpose", "class", "securityLabel", "code", "data"):
                entry["resource"]["provision"].pop(narrowing, None)
    return bundle


def para18_crisis() -> dict[str, Any]:
    return _with_request(
        crisis_bundle(),
        [
            {"url": "lawfulBasis", "valueCode": PARA18},
            {"url": "ageBand", "valueCode": "child"},
            {"url": "noConsentReason", "valueCode": "would-prejudice-protection"},
        ],
    )


def override_crisis() -> dict[str, Any]:
    return _with_request(
        crisis_bundle(),
        [
            {
                "url": "override",
                "extension": [
                    {"url": "reason", "valueCode": "imminent-risk-to-child"},
                    {"url": "justification", "valueString": "Could not wait for the usual route."},
                    {"url": "approver", "valueString": APPROVER},
                ],
            }
        ],
    )


@dataclass(frozen=True)
class Story:
    """What the story left: the crisis exchanges and the people they named."""

    shared: str
    refused: str
    para18: str
    override: str
    mother: str
    child: str
    directive: str  # the mother's refusal, itself passed on to the council

    @property
    def crises(self) -> tuple[str, str, str, str]:
        return (self.shared, self.refused, self.para18, self.override)

    @property
    def decided(self) -> tuple[str, ...]:
        """Every exchange with a decision about the mother: the crises and her directive."""
        return (*self.crises, self.directive)


async def _post(h: Harness, bundle: dict[str, Any]) -> dict[str, Any]:
    response = await h.post_fhir(bundle)
    assert 202 == response.status, await response.text()
    summary: dict[str, Any] = await response.json()
    return summary


async def tell_story(h: Harness) -> Story:
    """Through the real doors: the council's child status; a crisis shared; a consent refusal;
    the crisis refused under it; shared over it on Sch 1 para 18; shared on an urgent override."""
    assert 202 == (await h.post_csc(child_status())).status
    shared = await _post(h, _fresh(crisis_bundle()))
    directive = await _post(h, _refusal())
    refused = await _post(h, _fresh(crisis_bundle()))
    para18 = await _post(h, para18_crisis())
    override = await _post(h, override_crisis())
    outcomes = [
        (s["recipients"][0]["outcome"], s["recipients"][0]["reason_code"])
        for s in (shared, refused, para18, override)
    ]
    assert [
        ("permit", "flow-permits"),
        ("refuse", "consent-refused"),
        ("permit", "flow-permits"),
        ("permit", "flow-permits"),
    ] == outcomes
    # The three shares and the directive (passed on so that the council honours it) are
    # delivered; wait for their delivery entries, so the ledger stands still.
    await h.council.wait_for(4)
    for _ in range(250):
        entries = await h.entries()
        if sum(1 for e in entries if e["event"] == "delivery.attempted") >= 4:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the three shares and the directive were not delivered within 5 s")
    received = next(
        e
        for e in entries
        if e["event"] == "exchange.received" and e["exchange_id"] == shared["exchange_id"]
    )
    (mother,) = received["person_ids"]
    decision = next(
        e
        for e in entries
        if e["event"] == "disclosure.decided" and e["exchange_id"] == shared["exchange_id"]
    )
    (child,) = [p for p in decision["person_ids"] if p != mother]
    return Story(
        shared["exchange_id"],
        refused["exchange_id"],
        para18["exchange_id"],
        override["exchange_id"],
        mother,
        child,
        directive["exchange_id"],
    )


# -- a browser-like client -----------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match is not None, "the page has no form with a CSRF token"
    return unescape(match.group(1))


def assert_no_record_content(page: str) -> None:
    for content in RECORD_CONTENT:
        assert content not in page, f"record content {content!r} appears in a page"


class Browser:
    """Signs in and submits forms as a browser would, keeping the client's cookie jar."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.client = h.client

    async def get(self, path: str, **params: str) -> ClientResponse:
        response: ClientResponse = await self.client.get(
            path, params=params or None, allow_redirects=False
        )
        return response

    async def page(self, path: str, status: int = 200, **params: str) -> str:
        response = await self.get(path, **params)
        text = await response.text()
        assert status == response.status, text
        return text

    async def post_form(
        self, path: str, data: dict[str, str], *, token_from: str | None = None
    ) -> ClientResponse:
        """POST ``data`` with the CSRF token from the page at ``token_from`` (or none given)."""
        form = dict(data)
        if token_from is not None:
            form["csrf_token"] = csrf_of(await self.page(token_from))
        response: ClientResponse = await self.client.post(path, data=form, allow_redirects=False)
        return response

    async def sign_in(self, name: str, password: str, next_path: str = "") -> ClientResponse:
        form = {"username": name, "password": password}
        if next_path:
            form["next"] = next_path
        return await self.post_form("/review/login", form, token_from="/review/login")

    async def signed_in(self, name: str = OFFICER, password: str = OFFICER_PASSWORD) -> Browser:
        response = await self.sign_in(name, password)
        assert 303 == response.status, await response.text()
        return self


async def events(h: Harness, event: str) -> list[dict[str, Any]]:
    return [e for e in await h.entries() if e["event"] == event]


# -- an OpenID Connect provider on loopback --------------------------------------------------------

CLIENT_ID = "joined-up-review"
CLIENT_SECRET = "oidc-test-client-secret-0123456789abcdef"
REDIRECT_URI = "http://127.0.0.1/review/oidc/callback"
_SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-1", "use": "sig"})
_IMPOSTOR_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-1", "use": "sig"})


@dataclass
class OidcProvider:
    """A small OpenID Connect provider, a real aiohttp server on loopback: discovery, an
    authorisation endpoint that signs the user straight in, a token endpoint that checks the code,
    the client's secret and the PKCE verifier, and its keys. ``mode`` makes it misbehave."""

    username: str = "dana.officer"
    roles: tuple[str, ...] = ("IG.Officer",)
    # good | bad-signature | wrong-audience | wrong-nonce | wrong-issuer | expired
    mode: str = "good"
    issuer: str = ""
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _codes: dict[str, dict[str, str]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/jwks", self._jwks)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.issuer = f"http://{host}:{port}"
        return self.issuer

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def settings(self, **overrides: Any) -> OidcSettings:
        values: dict[str, Any] = {
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": REDIRECT_URI,
            "roles_claim": "groups",
            "role_map": {"IG.Officer": "ig-officer", "Ops.Engineer": "ops"},
            "display_name": "Test provider",
        }
        values.update(overrides)
        return OidcSettings(**values)

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [_SIGNING_KEY.as_dict(private=False)]})

    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        assert "code" == query["response_type"]
        assert CLIENT_ID == query["client_id"]
        assert "S256" == query["code_challenge_method"]
        assert "openid" in query["scope"].split()
        code = secrets.token_urlsafe(16)
        self._codes[code] = {
            "nonce": query["nonce"],
            "challenge": query["code_challenge"],
            "redirect_uri": query["redirect_uri"],
        }
        raise web.HTTPFound(
            f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        )

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        expected = aiohttp.encode_basic_auth(CLIENT_ID, CLIENT_SECRET)
        issued = self._codes.pop(form.get("code", ""), None)  # a code works once
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if (
            request.headers.get("Authorization") != expected
            or issued is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != issued["redirect_uri"]
            or challenge != issued["challenge"]
        ):
            return web.json_response({"error": "invalid_grant"}, status=400)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "248289761001",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": issued["nonce"],
            "preferred_username": self.username,
            "groups": list(self.roles),
        }
        key = _SIGNING_KEY
        if self.mode == "bad-signature":
            key = _IMPOSTOR_KEY
        elif self.mode == "wrong-audience":
            claims["aud"] = "another-client"
        elif self.mode == "wrong-nonce":
            claims["nonce"] = "a-nonce-from-another-sign-in"
        elif self.mode == "wrong-issuer":
            claims["iss"] = "https://impostor.example"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 900, now - 600
        id_token = jwt.encode({"alg": "RS256", "kid": "provider-1"}, claims, key)
        return web.json_response(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "id_token": id_token,
            }
        )


async def oidc_sign_in(b: Browser, next_path: str = "/review/overrides") -> ClientResponse:
    """Start at the gateway, follow the browser's path through the provider, and come back."""
    start = await b.get("/review/oidc/start", next=next_path)
    assert 303 == start.status, await start.text()
    location = start.headers["Location"]
    async with (
        aiohttp.ClientSession() as browser_elsewhere,
        browser_elsewhere.get(location, allow_redirects=False) as at_provider,
    ):
        assert 302 == at_provider.status, await at_provider.text()
        back = URL(at_provider.headers["Location"])
    assert REDIRECT_URI == str(back.with_query(None))
    response: ClientResponse = await b.client.get(back.path_qs, allow_redirects=False)
    return response
