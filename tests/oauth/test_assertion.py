"""Client assertions (RFC 7523 private_key_jwt): one good assertion, and a table of bad ones, each
refused with its own reason code and nothing from the token in the refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from gateway.oauth.assertion import AssertionRejected, VerifiedClient, check_assertion

AUDIENCE = "https://gateway.example.nhs.uk/oauth2/token"
NOW = 1_800_000_000.0
TRUST = "trust-demo"
COUNCIL = "council-demo"

TRUST_KEY = RSAKey.generate_key(2048, parameters={"kid": "trust-2026-11"}, private=True)
TRUST_OLD = RSAKey.generate_key(2048, parameters={"kid": "trust-2025-11"}, private=True)
COUNCIL_KEY = ECKey.generate_key("P-256", parameters={"kid": "council-1"}, private=True)
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "trust-2026-11"}, private=True)


def _public(*keys: RSAKey | ECKey) -> KeySet:
    return KeySet.import_key_set({"keys": [k.as_dict(private=False) for k in keys]})


CLIENTS = {TRUST: _public(TRUST_KEY), COUNCIL: _public(COUNCIL_KEY)}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": TRUST,
        "sub": TRUST,
        "aud": AUDIENCE,
        "jti": str(uuid.uuid4()),
        "exp": int(NOW) + 240,
        "iat": int(NOW),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    payload: dict[str, Any] | None = None,
    *,
    key: RSAKey | ECKey = TRUST_KEY,
    alg: str = "RS512",
    header: dict[str, Any] | None = None,
) -> str:
    head = {"alg": alg, "kid": key.kid, "typ": "JWT"} if header is None else header
    return jwt.encode(head, payload or claims(), key, algorithms=[alg])


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join((_b64(orjson.dumps(header)), _b64(orjson.dumps(payload)), _b64(signature)))


def hs256_with_public_key() -> str:
    """The HS/RS confusion attack: HMAC 'signed' with the published RSA public key as secret."""
    secret = TRUST_KEY.as_pem(private=False)
    head = _b64(orjson.dumps({"alg": "HS256", "kid": TRUST_KEY.kid}))
    body = _b64(orjson.dumps(claims()))
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


@dataclass
class Seen:
    """The replay register: a set, as the database's unique constraint would be."""

    jtis: set[tuple[str, str]] = field(default_factory=set)

    async def __call__(self, client: str, jti: str, _exp: float) -> bool:
        if (client, jti) in self.jtis:
            return False
        self.jtis.add((client, jti))
        return True


async def check(token: str, seen: Seen | None = None) -> VerifiedClient:
    return await check_assertion(
        token, audience=AUDIENCE, clients=CLIENTS, now=NOW, remember_jti=seen or Seen()
    )


async def test_a_good_assertion_names_its_client() -> None:
    verified = await check(sign())
    assert (TRUST, "trust-2026-11") == (verified.client_id, verified.kid)


async def test_an_ec_key_and_an_audience_list_of_one_are_accepted() -> None:
    token = sign(claims(iss=COUNCIL, sub=COUNCIL, aud=[AUDIENCE]), key=COUNCIL_KEY, alg="ES256")
    assert COUNCIL == (await check(token)).client_id


async def test_replaying_the_same_jti_is_refused_but_another_client_may_reuse_it() -> None:
    seen = Seen()
    payload = claims(jti="same-jti")
    await check(sign(payload), seen)
    with pytest.raises(AssertionRejected) as caught:
        await check(sign(payload), seen)
    assert "replayed-jti" == caught.value.code
    other = claims(iss=COUNCIL, sub=COUNCIL, jti="same-jti")
    assert COUNCIL == (await check(sign(other, key=COUNCIL_KEY, alg="ES256"), seen)).client_id


def _tampered_payload() -> str:
    head, _, sig = sign().split(".")
    return f"{head}.{_b64(orjson.dumps(claims(sub=TRUST, iss=TRUST, exp=int(NOW) + 60)))}.{sig}"


def _truncated() -> str:
    token = sign()
    return token[: len(token) - 10]


def _wrong_audience_by_one_character() -> str:
    return sign(claims(aud=AUDIENCE[:-1] + "m"))


BAD: dict[str, tuple[Callable[[], str], str]] = {
    "alg none": (
        lambda: unsigned({"alg": "none", "kid": TRUST_KEY.kid}, claims()),
        "alg-not-allowed",
    ),
    "alg missing": (lambda: unsigned({"kid": TRUST_KEY.kid}, claims()), "alg-not-allowed"),
    "HS256 with the public key as secret": (hs256_with_public_key, "alg-not-allowed"),
    "RS256 (not on the allowed list)": (lambda: sign(alg="RS256"), "alg-not-allowed"),
    "ES256 header on an RSA key": (
        lambda: sign(header={"alg": "ES256", "kid": TRUST_KEY.kid}, key=COUNCIL_KEY, alg="ES256"),
        "key-alg-mismatch",
    ),
    "unknown kid": (lambda: sign(header={"alg": "RS512", "kid": "nobody"}), "unknown-kid"),
    "rotated-out kid": (lambda: sign(key=TRUST_OLD), "unknown-kid"),
    "kid missing": (lambda: sign(header={"alg": "RS512"}), "kid-missing"),
    "crit header": (
        lambda: unsigned(
            {"alg": "RS512", "kid": TRUST_KEY.kid, "crit": ["exp"], "exp": 1}, claims(), b"s" * 256
        ),
        "crit-not-understood",
    ),
    "wrong audience by one character": (_wrong_audience_by_one_character, "wrong-audience"),
    "audience missing": (lambda: sign(claims(aud=None)), "wrong-audience"),
    "two audiences": (lambda: sign(claims(aud=[AUDIENCE, "https://x.example"])), "wrong-audience"),
    "expired": (lambda: sign(claims(exp=int(NOW) - 1)), "expired"),
    "exp missing": (lambda: sign(claims(exp=None)), "malformed"),
    "exp not a number": (lambda: sign(claims(exp="soon")), "malformed"),
    "too far in the future": (lambda: sign(claims(exp=int(NOW) + 3600)), "lifetime-too-long"),
    "issued in the future": (lambda: sign(claims(iat=int(NOW) + 600)), "not-yet-valid"),
    "not before in the future": (lambda: sign(claims(nbf=int(NOW) + 600)), "not-yet-valid"),
    "iss differs from sub": (lambda: sign(claims(sub=COUNCIL)), "iss-sub-mismatch"),
    "sub missing": (lambda: sign(claims(sub=None)), "iss-sub-mismatch"),
    "unknown client": (lambda: sign(claims(iss="intruder", sub="intruder")), "unknown-client"),
    "signed by another client's key": (
        lambda: sign(
            claims(), key=COUNCIL_KEY, alg="ES256", header={"alg": "ES256", "kid": "council-1"}
        ),
        "unknown-kid",
    ),
    "right kid, stranger's key": (lambda: sign(key=STRANGER), "bad-signature"),
    "bad signature (payload changed)": (_tampered_payload, "bad-signature"),
    "signature stripped": (lambda: sign().rsplit(".", 1)[0] + ".", "malformed"),
    "truncated": (_truncated, "bad-signature"),
    "two parts only": (lambda: ".".join(sign().split(".")[:2]), "malformed"),
    "header not JSON": (lambda: "bm90IGpzb24." + sign().split(".", 1)[1], "malformed"),
    "not a JWT at all": (lambda: "let-me-in", "malformed"),
    "empty": (lambda: "", "malformed"),
    "jti missing": (lambda: sign(claims(jti=None)), "jti-missing"),
    "jti too long": (lambda: sign(claims(jti="j" * 256)), "jti-missing"),
}


@pytest.mark.parametrize(("case"), sorted(BAD))
async def test_bad_assertions_are_refused_with_their_reason(case: str) -> None:
    make, code = BAD[case]
    token = make()
    with pytest.raises(AssertionRejected) as caught:
        await check(token)
    assert code == caught.value.code
    # Nothing from the token appears in the refusal.
    for part in (p for p in token.split(".") if len(p) > 8):
        assert part not in str(caught.value)


def test_the_table_has_at_least_twenty_cases() -> None:
    assert len(BAD) >= 20
