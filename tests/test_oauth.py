"""Partner authentication over HTTP: ``POST /oauth2/token`` with signed client assertions, access
tokens on the API, the interim API keys, key rotation and mutual TLS.

Every refusal is checked twice: the answer (status, OAuth error or problem, challenge) and its
``access.refused`` entry in the ledger (route pattern, reason code, and the partner only when one
is proven or claimed and configured).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from pydantic import ValidationError
from sqlalchemy import insert, select

from gateway.app import create_app
from gateway.errors import ConfigurationError
from gateway.oauth.client import client_assertion, token_form
from gateway.oauth.settings import OAuthSettings
from gateway.oauth.tokens import ISSUER, issue, load_or_create_key
from gateway.settings import PartnerSettings, Settings, load_settings
from gateway.store.tables import oauth_jtis
from tests.conftest import (
    COUNCIL_API_KEY,
    PARTNER_KEYS,
    REPO,
    TOKEN_KEY_FILE,
    TOKEN_URL,
    TRUST_API_KEY,
    TRUST_KEY,
    Database,
    make_settings,
    oauth_settings,
    partners,
    public_jwks,
)
from tests.gateway_harness import FHIR, Harness, child_status, crisis_bundle, start_harness

TRUST, COUNCIL, OTHER = "trust-demo", "council-demo", "council-other"
TRUST_SIGNER = PARTNER_KEYS[TRUST]
COUNCIL_SIGNER = PARTNER_KEYS[COUNCIL]
# Same kid as the trust's registered key, different key material.
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "trust-test-1"}, private=True)
NHS = "https://fhir.nhs.uk/Id/nhs-number"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    """A good assertion's claims for the trust, now; ``None`` removes a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": TRUST,
        "sub": TRUST,
        "aud": TOKEN_URL,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 120,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    payload: dict[str, Any] | None = None,
    *,
    key: RSAKey | ECKey = TRUST_SIGNER,
    alg: str = "RS512",
    header: dict[str, Any] | None = None,
) -> str:
    head = {"alg": alg, "kid": key.kid, "typ": "JWT"} if header is None else header
    return jwt.encode(head, payload or claims(), key, algorithms=[alg])


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join((_b64(orjson.dumps(header)), _b64(orjson.dumps(payload)), _b64(signature)))


def _hmac_with_public_key(alg: str, secret: bytes) -> str:
    """The HS/RS confusion attack: an HMAC 'signed' with the published public key as secret."""
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    head = _b64(orjson.dumps({"alg": alg, "kid": TRUST_SIGNER.kid, "typ": "JWT"}))
    body = _b64(orjson.dumps(claims()))
    mac = hmac.new(secret, f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{_b64(mac)}"


def _tampered_payload() -> str:
    head, _, signature = sign().split(".")
    return f"{head}.{_b64(orjson.dumps(claims(exp=int(time.time()) + 30)))}.{signature}"


@dataclass(frozen=True)
class Bad:
    """A refused assertion: how to make it, the reason code, and whom the entry should name."""

    make: Callable[[], str]
    code: str
    user: str | None = TRUST


# At least the twenty the issue lists, each refused with its own reason and recorded.
BAD: dict[str, Bad] = {
    "alg none": Bad(
        lambda: unsigned({"alg": "none", "kid": "trust-test-1"}, claims()), "alg-not-allowed"
    ),
    "alg missing": Bad(lambda: unsigned({"kid": "trust-test-1"}, claims()), "alg-not-allowed"),
    "HS256 keyed with the public key (PEM)": Bad(
        lambda: _hmac_with_public_key("HS256", TRUST_SIGNER.as_pem(private=False)),
        "alg-not-allowed",
    ),
    "HS512 keyed with the published JWKS": Bad(
        lambda: _hmac_with_public_key("HS512", orjson.dumps(public_jwks(TRUST_SIGNER))),
        "alg-not-allowed",
    ),
    "RS256 (not on the allowed list)": Bad(lambda: sign(alg="RS256"), "alg-not-allowed"),
    "ES256 header naming an RSA key": Bad(
        lambda: sign(
            header={"alg": "ES256", "kid": "trust-test-1"}, key=COUNCIL_SIGNER, alg="ES256"
        ),
        "key-alg-mismatch",
    ),
    "unknown kid": Bad(lambda: sign(header={"alg": "RS512", "kid": "nobody"}), "unknown-kid"),
    "another client's kid": Bad(lambda: sign(key=COUNCIL_SIGNER, alg="ES256"), "unknown-kid"),
    "kid missing": Bad(lambda: sign(header={"alg": "RS512"}), "kid-missing"),
    "crit header": Bad(
        lambda: unsigned(
            {"alg": "RS512", "kid": "trust-test-1", "crit": ["exp"]}, claims(), b"s" * 256
        ),
        "crit-not-understood",
    ),
    "wrong audience by one character": Bad(
        lambda: sign(claims(aud=TOKEN_URL[:-1] + "m")), "wrong-audience"
    ),
    "audience with a trailing slash": Bad(
        lambda: sign(claims(aud=TOKEN_URL + "/")), "wrong-audience"
    ),
    "audience missing": Bad(lambda: sign(claims(aud=None)), "wrong-audience"),
    "two audiences": Bad(
        lambda: sign(claims(aud=[TOKEN_URL, "https://elsewhere.example/token"])), "wrong-audience"
    ),
    "expired": Bad(lambda: sign(claims(exp=int(time.time()) - 1)), "expired"),
    "exp missing": Bad(lambda: sign(claims(exp=None)), "malformed"),
    "too far in the future": Bad(
        lambda: sign(claims(exp=int(time.time()) + 3600)), "lifetime-too-long"
    ),
    "issued in the future": Bad(lambda: sign(claims(iat=int(time.time()) + 600)), "not-yet-valid"),
    "not before in the future": Bad(
        lambda: sign(claims(nbf=int(time.time()) + 600)), "not-yet-valid"
    ),
    "iss differs from sub": Bad(lambda: sign(claims(sub=COUNCIL)), "iss-sub-mismatch"),
    "unknown client": Bad(
        lambda: sign(claims(iss="intruder", sub="intruder")), "unknown-client", None
    ),
    "right kid, stranger's key": Bad(lambda: sign(key=STRANGER), "bad-signature"),
    "bad signature (payload changed)": Bad(_tampered_payload, "bad-signature"),
    "truncated": Bad(lambda: sign()[:-10], "bad-signature"),
    "signature stripped": Bad(lambda: sign().rsplit(".", 1)[0] + ".", "malformed"),
    "two parts only": Bad(lambda: ".".join(sign().split(".")[:2]), "malformed", None),
    "not a JWT at all": Bad(lambda: "let-me-in", "malformed", None),
    "an API key instead": Bad(lambda: TRUST_API_KEY, "malformed", None),
    "jti missing": Bad(lambda: sign(claims(jti=None)), "jti-missing"),
}


async def _refusals(h: Harness) -> list[dict[str, Any]]:
    return [e for e in await h.entries() if e["event"] == "access.refused"]


async def _token_request(h: Harness, assertion: str) -> tuple[int, dict[str, Any], Any]:
    response = await h.post_token(token_form(assertion))
    return response.status, await response.json(), response.headers


async def test_a_signed_assertion_gets_a_token_that_works_on_the_fhir_door(h: Harness) -> None:
    """A good assertion gets a Bearer token (RFC 6749 section 5, not cached) that the FHIR door
    accepts; issuing it records no refusal."""
    response = await h.post_token(token_form(client_assertion(TRUST_SIGNER, TRUST, TOKEN_URL)))
    body = await response.json()
    assert 200 == response.status
    assert ("no-store", "application/json") == (
        response.headers["Cache-Control"],
        response.content_type,
    )
    assert {"access_token", "token_type", "expires_in"} == set(body)
    assert ("Bearer", 600) == (body["token_type"], body["expires_in"])
    sent = await h.post_fhir(crisis_bundle(), key=body["access_token"])
    assert 202 == sent.status
    assert [] == await _refusals(h)


async def test_bad_assertions_are_refused_as_invalid_client_and_each_is_recorded(
    h: Harness,
) -> None:
    """Each of the table's bad assertions, and a replayed one, gets 401 invalid_client with a
    challenge and nothing of the token in the answer; each is in the ledger with its reason."""
    assert len(BAD) >= 20
    expected: list[tuple[str, str, str | None]] = []
    failures: list[str] = []
    for case, bad in BAD.items():
        assertion = bad.make()
        status, body, headers = await _token_request(h, assertion)
        expected.append(("/oauth2/token", bad.code, bad.user))
        seen = (status, body.get("error"), "WWW-Authenticate" in headers)
        if seen != (401, "invalid_client", True):
            failures.append(f"{case}: {seen} {body}")
        leaked = [
            p for p in assertion.split(".") if len(p) > 8 and p in orjson.dumps(body).decode()
        ]
        if leaked:
            failures.append(f"{case}: the answer echoes the assertion")
    # A replay: the same good assertion twice.
    good = client_assertion(COUNCIL_SIGNER, COUNCIL, TOKEN_URL)
    first, _, _ = await _token_request(h, good)
    again, body, _ = await _token_request(h, good)
    assert (200, 401, "invalid_client") == (first, again, body["error"])
    expected.append(("/oauth2/token", "replayed-jti", COUNCIL))
    assert [] == failures
    recorded = [(e["route"], e["reason"], e.get("user")) for e in await _refusals(h)]
    assert expected == recorded
    assert (await h.verify()).intact


@pytest.mark.parametrize(
    ("form", "headers", "error", "code"),
    [
        ({"grant_type": None}, {}, "invalid_request", "parameter-missing"),
        ({"client_assertion": None}, {}, "invalid_request", "parameter-missing"),
        ({"grant_type": "password"}, {}, "unsupported_grant_type", "unsupported-grant-type"),
        (
            {"grant_type": "authorization_code"},
            {},
            "unsupported_grant_type",
            "unsupported-grant-type",
        ),
        ({"client_assertion_type": "urn:x"}, {}, "invalid_request", "wrong-assertion-type"),
        ({"client_assertion": ""}, {}, "invalid_request", "parameter-missing"),
        ({"client_id": COUNCIL}, {}, "invalid_request", "client-id-mismatch"),
        (
            {},
            {"Authorization": "Basic dHJ1c3QtZGVtbzpzZWNyZXQ="},
            "invalid_request",
            "several-credentials",
        ),
        ({}, {"Content-Type": "application/json"}, "invalid_request", "not-form-encoded"),
    ],
)
async def test_malformed_token_requests_are_400_with_their_oauth_error(
    aiohttp_client: Any,
    tmp_path: Path,
    form: dict[str, str | None],
    headers: dict[str, str],
    error: str,
    code: str,
) -> None:
    """A request of the wrong shape is a 400 naming the OAuth error; it is recorded too, and its
    assertion is not spent."""
    assertion = client_assertion(TRUST_SIGNER, TRUST, TOKEN_URL)
    merged = {**token_form(assertion), **form}
    values = {k: v for k, v in merged.items() if v is not None}
    async for h in start_harness(aiohttp_client, _sqlite(tmp_path)):
        response = await h.post_token(values, **headers)
        body = await response.json()
        assert (400, error) == (response.status, body["error"])
        assert "no-store" == response.headers["Cache-Control"]
        assert [("/oauth2/token", code)] == [(e["route"], e["reason"]) for e in await _refusals(h)]
        # The assertion was not consumed: it still gets a token.
        assert 200 == (await h.post_token(token_form(assertion))).status


async def test_a_repeated_parameter_is_refused(aiohttp_client: Any, tmp_path: Path) -> None:
    """RFC 6749 section 3.2: a parameter sent twice is invalid_request."""
    form = token_form(client_assertion(TRUST_SIGNER, TRUST, TOKEN_URL))
    raw = "&".join(f"{k}={v}" for k, v in form.items()) + "&grant_type=client_credentials"
    async for h in start_harness(aiohttp_client, _sqlite(tmp_path)):
        response = await h.post_token(raw.encode())
        assert (400, "invalid_request") == (response.status, (await response.json())["error"])
        assert ["parameter-repeated"] == [e["reason"] for e in await _refusals(h)]


async def test_a_jti_used_at_one_gateway_process_is_refused_at_another(
    aiohttp_client: Any, database: Database
) -> None:
    """Two gateways on one database share the replay register, and expired jtis are purged."""
    async for one in start_harness(aiohttp_client, database):
        async for two in start_harness(aiohttp_client, database):
            old = datetime.now(UTC) - timedelta(hours=1)
            async with one.engine.begin() as conn:
                await conn.execute(
                    insert(oauth_jtis).values(client_id=TRUST, jti="stale", expires_at=old)
                )
            assertion = client_assertion(TRUST_SIGNER, TRUST, TOKEN_URL)
            assert 200 == (await one.post_token(token_form(assertion))).status
            replay = await two.post_token(token_form(assertion))
            assert 401 == replay.status
            assert ["replayed-jti"] == [e["reason"] for e in await _refusals(two)]
            async with one.engine.connect() as conn:
                jtis = (await conn.execute(select(oauth_jtis.c.jti))).scalars().all()
            assert "stale" not in jtis
            assert 1 == len(jtis)


# -- access tokens on the API ---------------------------------------------------------------------


def _foreign_token(**changes: Any) -> str:
    """An access token with chosen claims, signed with the session's token key."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": "joined-up-api", "sub": TRUST, "iat": now, "exp": now + 600}
    payload.update(changes)
    key = load_or_create_key(TOKEN_KEY_FILE)
    return jwt.encode({"alg": "ES256", "kid": key.kid}, payload, key, algorithms=["ES256"])


def _stranger_token() -> str:
    stranger = ECKey.generate_key("P-256", private=True)
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": "joined-up-api", "sub": TRUST, "exp": now + 600}
    return jwt.encode({"alg": "ES256", "kid": "x"}, payload, stranger, algorithms=["ES256"])


BAD_TOKENS: dict[str, tuple[Callable[[], dict[str, str]], str, str | None]] = {
    "no credentials": (dict, "no-credentials", None),
    "expired": (
        lambda: {
            "Authorization": "Bearer "
            + issue(
                load_or_create_key(TOKEN_KEY_FILE), TRUST, now=time.time() - 700, lifetime=600
            ).value
        },
        "expired",
        TRUST,
    ),
    "forged (a stranger's key)": (
        lambda: {"Authorization": f"Bearer {_stranger_token()}"},
        "bad-signature",
        None,
    ),
    "claims altered": (
        lambda: {
            "Authorization": "Bearer "
            + ".".join(
                (
                    TRUST_KEY.split(".")[0],
                    _b64(orjson.dumps({"sub": COUNCIL})),
                    TRUST_KEY.split(".")[2],
                )
            )
        },
        "bad-signature",
        None,
    ),
    "wrong issuer": (
        lambda: {"Authorization": f"Bearer {_foreign_token(iss='someone-else')}"},
        "wrong-issuer",
        None,
    ),
    "a client no longer configured": (
        lambda: {"Authorization": f"Bearer {_foreign_token(sub='retired-partner')}"},
        "unknown-client",
        None,
    ),
    "a client assertion instead of a token": (
        lambda: {"Authorization": f"Bearer {client_assertion(TRUST_SIGNER, TRUST, TOKEN_URL)}"},
        "bad-signature",
        None,
    ),
    "an API key while keys are off": (
        lambda: {"Authorization": f"Bearer {TRUST_API_KEY}"},
        "api-keys-disabled",
        None,
    ),
    "X-API-Key while keys are off": (
        lambda: {"X-API-Key": TRUST_API_KEY},
        "api-keys-disabled",
        None,
    ),
}


@pytest.mark.parametrize(
    ("route", "path", "method", "content_type"),
    [
        ("/fhir/$process-message", "/fhir/$process-message", "POST", "application/fhir+json"),
        ("/csc/messages", "/csc/messages", "POST", "application/problem+json"),
        ("/api/v1/workers", "/api/v1/workers", "GET", "application/problem+json"),
        (
            "/api/v1/exchanges/{exchange_id}/receipt",
            f"/api/v1/exchanges/{uuid.UUID(int=7)}/receipt",
            "GET",
            "application/problem+json",
        ),
    ],
)
async def test_bad_access_tokens_are_401_with_a_bearer_challenge_and_recorded(
    aiohttp_client: Any, tmp_path: Path, route: str, path: str, method: str, content_type: str
) -> None:
    """Expired, forged, altered and foreign tokens, and API keys while they are off, are refused
    on every API route in its error format, challenged, and recorded by route and reason."""
    async for h in start_harness(aiohttp_client, _sqlite(tmp_path)):
        for case, (headers, code, _user) in BAD_TOKENS.items():
            response = await h.client.request(
                method, path, headers=headers(), params={"identifier": f"{NHS}|9000000009"}
            )
            expected_challenge = 'Bearer realm="joined-up"' + (
                "" if code == "no-credentials" else ', error="invalid_token"'
            )
            assert (401, content_type, expected_challenge) == (
                response.status,
                response.content_type,
                response.headers.get("WWW-Authenticate"),
            ), case
            if content_type == "application/fhir+json":
                issue_ = (await response.json())["issue"][0]
                assert ("login", "ACCESS_DENIED") == (
                    issue_["code"],
                    issue_["details"]["coding"][0]["code"],
                )
        assert [(route, code, user) for _, code, user in BAD_TOKENS.values()] == [
            (e["route"], e["reason"], e.get("user")) for e in await _refusals(h)
        ]


async def test_a_good_token_is_not_recorded_as_anything(h: Harness) -> None:
    """Successes are not recorded as refusals (the exchange records the partner)."""
    await h.post_fhir(crisis_bundle())
    assert [] == await _refusals(h)


# -- the interim API keys -------------------------------------------------------------------------


async def test_api_keys_work_only_while_allowed(aiohttp_client: Any, tmp_path: Path) -> None:
    """With oauth.allow_api_keys, a configured key works as a Bearer value or X-API-Key, an
    unknown key is refused and recorded, and access tokens keep working."""
    allowed = oauth_settings(allow_api_keys=True)
    async for h in start_harness(aiohttp_client, _sqlite(tmp_path), oauth=allowed):
        assert 202 == (await h.post_csc(child_status(), key=COUNCIL_API_KEY)).status
        assert 202 == (await h.post_fhir(crisis_bundle(), key=TRUST_API_KEY)).status
        response = await h.client.get(
            "/api/v1/workers",
            params={"identifier": f"{NHS}|9000000009", "role": "care-coordinator"},
            headers={"X-API-Key": COUNCIL_API_KEY},
        )
        assert 200 == response.status
        assert 401 == (await h.post_fhir(crisis_bundle(), key="x" * 43)).status
        assert 202 == (await h.post_fhir(crisis_bundle(), key=TRUST_KEY)).status
        assert ["unknown-api-key"] == [e["reason"] for e in await _refusals(h)]


# -- key rotation ---------------------------------------------------------------------------------


def _write_jwks(path: Path, *keys: RSAKey | ECKey) -> None:
    """Replace the file atomically, as the operators' guide says to."""
    staged = path.with_suffix(".tmp")
    staged.write_bytes(orjson.dumps(public_jwks(*keys)))
    staged.replace(path)


async def test_a_partner_rotates_its_key_in_a_jwks_file_without_a_restart(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """A new kid added to the file works at once; the old kid, once removed, is refused; a file
    that becomes invalid leaves the partner with no keys at all (fail closed)."""
    old = RSAKey.generate_key(2048, parameters={"kid": "trust-2026-11"}, private=True)
    new = ECKey.generate_key("P-256", parameters={"kid": "trust-2027-05"}, private=True)
    jwks_file = tmp_path / "trust.jwks.json"
    _write_jwks(jwks_file, old)
    configured = tuple(
        p.model_copy(update={"jwks": None, "jwks_file": jwks_file}) if p.id == TRUST else p
        for p in partners()
    )
    async for h in start_harness(aiohttp_client, _sqlite(tmp_path), partners=configured):

        async def status(key: RSAKey | ECKey, h: Harness = h) -> int:
            response = await h.post_token(token_form(client_assertion(key, TRUST, TOKEN_URL)))
            code: int = response.status
            return code

        assert (200, 401) == (await status(old), await status(new))
        _write_jwks(jwks_file, old, new)
        assert (200, 200) == (await status(old), await status(new))
        _write_jwks(jwks_file, new)
        assert (401, 200) == (await status(old), await status(new))
        jwks_file.write_text('{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}')
        assert 401 == await status(new)
        reasons = [e["reason"] for e in await _refusals(h)]
        assert ["unknown-kid", "unknown-kid", "unknown-client"] == reasons


async def test_inline_keys_and_the_token_key_rotate_with_a_restart(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """An inline JWKS changes at a restart; tokens signed by the old token key keep working while
    it is listed in verification_key_files, and stop when it is removed."""
    database = _sqlite(tmp_path)
    first_key, second_key = tmp_path / "token-1.pem", tmp_path / "token-2.pem"
    new = RSAKey.generate_key(2048, parameters={"kid": "trust-next"}, private=True)
    async for h in start_harness(
        aiohttp_client, database, oauth=oauth_settings(token_key_file=first_key)
    ):
        token = await h.token_for(TRUST)
        assert 202 == (await h.post_fhir(crisis_bundle(), key=token)).status
    rotated = tuple(
        p.model_copy(update={"jwks": public_jwks(new)}) if p.id == TRUST else p for p in partners()
    )
    both = oauth_settings(token_key_file=second_key, verification_key_files=(first_key,))
    async for h in start_harness(aiohttp_client, database, oauth=both, partners=rotated):
        assert 202 == (await h.post_fhir(crisis_bundle(), key=token)).status
        old_assertion = client_assertion(TRUST_SIGNER, TRUST, TOKEN_URL)
        assert 401 == (await h.post_token(token_form(old_assertion))).status
        fresh = await _token_with(h, new)
        assert 202 == (await h.post_fhir(crisis_bundle(), key=fresh)).status
    async for h in start_harness(
        aiohttp_client, database, oauth=oauth_settings(token_key_file=second_key), partners=rotated
    ):
        assert 401 == (await h.post_fhir(crisis_bundle(), key=token)).status
        assert 202 == (await h.post_fhir(crisis_bundle(), key=fresh)).status


async def _token_with(h: Harness, key: RSAKey | ECKey) -> str:
    response = await h.post_token(token_form(client_assertion(key, TRUST, TOKEN_URL)))
    assert 200 == response.status
    token: str = (await response.json())["access_token"]
    return token


# -- configuration --------------------------------------------------------------------------------


def _small_rsa_key() -> dict[str, str]:
    """A public 1024-bit RSA JWK (joserfc itself refuses to make one)."""
    small = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the weak key being refused
    numbers = small.public_key().public_numbers()

    def b64int(value: int) -> str:
        return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "kid": "small", "n": b64int(numbers.n), "e": b64int(numbers.e)}


@pytest.mark.parametrize(
    ("jwks", "reason"),
    [
        ({"keys": [TRUST_SIGNER.as_dict(private=True)]}, "private key members"),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k"}]}, "private key members"),
        ({"keys": [{**public_jwks(TRUST_SIGNER)["keys"][0], "kid": None}]}, "kid is required"),
        ({"keys": [public_jwks(TRUST_SIGNER)["keys"][0]] * 2}, "kid is used by another key"),
        (
            {"keys": [_small_rsa_key()]},
            "2048 bits",
        ),
        ({"keys": []}, "between 1 and"),
        ({"not-keys": []}, '"keys" list'),
    ],
)
def test_a_jwks_with_private_members_or_without_kids_is_refused_at_load(
    jwks: dict[str, Any], reason: str
) -> None:
    """Partner key sets must be public keys with unique kids: anything else stops the load, and
    the error repeats no key material."""
    partner = {"id": "p", "name": "P", "organisations": ["RX9"], "format": "fhir-r4", "jwks": jwks}
    with pytest.raises(ValidationError) as caught:
        PartnerSettings.model_validate(partner)
    assert reason in str(caught.value)
    with pytest.raises(ValidationError) as loading:
        Settings(partners=[partner])
    assert reason in str(loading.value)
    for secret in ("c2VjcmV0", str(TRUST_SIGNER.as_dict(private=True)["d"])):
        assert secret not in str(caught.value) + str(loading.value)


def test_a_jwks_file_with_a_private_key_stops_start_up(tmp_path: Path) -> None:
    """The same rules apply to a jwks_file, checked when the gateway starts."""
    path = tmp_path / "trust.jwks.json"
    path.write_bytes(orjson.dumps({"keys": [TRUST_SIGNER.as_dict(private=True)]}))
    configured = tuple(
        p.model_copy(update={"jwks": None, "jwks_file": path}) if p.id == TRUST else p
        for p in partners()
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app(make_settings(_sqlite(tmp_path), partners=configured))
    assert "partners[trust-demo].jwks_file" in str(caught.value)
    assert "private key members" in str(caught.value)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"algorithms": ("RS512", "HS256")}, "never none or an HMAC"),
        ({"algorithms": ("none",)}, "never none or an HMAC"),
        ({"access_token_lifetime": 3601}, "less than or equal to 3600"),
        ({"token_url": "http://gateway.example/oauth2/token"}, "https://"),
        ({"require_client_certificate": True}, "oauth.client_ca_file"),
    ],
)
def test_oauth_settings_refuse_weak_choices(values: dict[str, Any], reason: str) -> None:
    """No HMAC or none, tokens of at most an hour, an https token URL, complete mutual TLS."""
    with pytest.raises(ValidationError) as caught:
        OAuthSettings(**values)
    assert reason in str(caught.value)


def test_the_default_token_url_is_where_the_gateway_listens() -> None:
    """Without token_url, the audience is derived from the host and port."""
    assert "http://127.0.0.1:8080/oauth2/token" == OAuthSettings().endpoint("127.0.0.1", 8080)


# -- mutual TLS -----------------------------------------------------------------------------------


def _sqlite(tmp_path: Path) -> Database:
    return Database(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", None, "sqlite")


@pytest.fixture
async def mtls(tmp_path: Path) -> AsyncIterator[Any]:
    """A gateway serving TLS on loopback that requires client certificates at the token
    endpoint, with the test PKI from tests/tls_pki.py."""
    from tests.tls_pki import Pki, serve_tls  # noqa: PLC0415 - only these tests need it

    pki = Pki.make(tmp_path)
    async for served in serve_tls(pki, tmp_path):
        yield served


async def test_mutual_tls_issues_a_token_only_over_the_partners_certificate(mtls: Any) -> None:
    """Over TLS with the trust's certificate the trust gets a token that works; without a
    certificate, or with another partner's, the assertion is refused (and recorded); a
    certificate from another CA does not get past the handshake."""
    token_url = mtls.base + "/oauth2/token"

    async def post(
        context: ssl.SSLContext, key: RSAKey | ECKey, client_id: str
    ) -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                token_url, data=token_form(client_assertion(key, client_id, token_url)), ssl=context
            ) as response,
        ):
            return response.status, await response.json()

    status, body = await post(mtls.client_context("trust"), TRUST_SIGNER, TRUST)
    assert 200 == status
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            mtls.base + "/fhir/$process-message",
            data=orjson.dumps(crisis_bundle()),
            headers={"Authorization": f"Bearer {body['access_token']}", "Content-Type": FHIR},
            ssl=mtls.client_context(None),
        ) as response,
    ):
        assert 202 == response.status
    assert (200,) == ((await post(mtls.client_context("council"), COUNCIL_SIGNER, COUNCIL))[0],)
    refused = [
        await post(mtls.client_context(None), TRUST_SIGNER, TRUST),
        await post(mtls.client_context("trust"), COUNCIL_SIGNER, COUNCIL),
        await post(mtls.client_context("council"), TRUST_SIGNER, TRUST),
    ]
    assert [(401, "invalid_client")] * 3 == [(s, b["error"]) for s, b in refused]
    with pytest.raises((aiohttp.ClientConnectionError, ssl.SSLError)):
        await post(mtls.client_context("stranger"), TRUST_SIGNER, TRUST)
    reasons = [(e["reason"], e.get("user")) for e in await mtls.refusals()]
    assert [
        ("client-certificate-required", TRUST),
        ("client-certificate-mismatch", COUNCIL),
        ("client-certificate-mismatch", TRUST),
    ] == reasons[:3]


@pytest.mark.usefixtures("clean_env")
def test_the_example_configuration_sets_partner_keys_and_oauth() -> None:
    """deploy/config.example.yaml loads, with a JWKS file and an inline JWKS and the oauth block."""
    settings = load_settings(REPO / "deploy" / "config.example.yaml")
    assert ("https://joinedup.example.nhs.uk/oauth2/token", False) == (
        settings.oauth.token_url,
        settings.oauth.allow_api_keys,
    )
    assert [True, False] == [p.jwks_file is not None for p in settings.partners]
    assert [False, True] == [p.jwks is not None for p in settings.partners]
