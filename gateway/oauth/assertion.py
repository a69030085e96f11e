"""Signed-JWT client assertions (RFC 7523, OAuth ``private_key_jwt``), as NHS England's
application-restricted APIs take them.

A partner system proves who it is by signing a short-lived JWT with a private key whose public half
is in the partner's configured JWKS. :func:`check_assertion` decides, in this order, and refuses
with the first reason that applies (each a stable code, recorded for the security team):

1. the token is three base64url parts with a JSON header (``malformed``);
2. the header's ``alg`` is one the gateway allows — never ``none``, never an HMAC algorithm, whose
   "secret" an attacker could take from the published public key (``alg-not-allowed``); ``crit``
   is refused (``crit-not-understood``); a ``kid`` is required (``kid-missing``);
3. ``iss`` names a configured partner (``unknown-client``) and ``sub`` equals it
   (``iss-sub-mismatch``);
4. that partner's JWKS has the ``kid`` (``unknown-kid``: a rotated-out key stops working the moment
   it leaves the configuration), of the algorithm's key type (``key-alg-mismatch``);
5. the signature verifies under that key (``bad-signature``) — by joserfc, not by hand;
6. ``aud`` is exactly the token endpoint's URL (``wrong-audience``); ``exp`` is present, in the
   future, and at most five minutes away (``expired``, ``lifetime-too-long``); ``nbf`` and ``iat``
   are not in the future beyond a small clock skew (``not-yet-valid``); ``jti`` is present and
   short (``jti-missing``);
7. the ``jti`` has not been seen before from this client while it could still be valid
   (``replayed-jti``) — the caller's ``remember_jti`` decides, atomically, so that several gateway
   processes sharing a database agree.

Nothing from the token is echoed in the refusal: the codes and fixed texts only.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

# NHS England's APIs take RS512; ES256/ES384 and PS512 are offered for partners with EC or PSS keys.
DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS512", "ES256", "ES384", "PS512")
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
MAX_LIFETIME_SECONDS = 300  # an assertion may be valid for at most five minutes
CLOCK_SKEW_SECONDS = 30
MAX_JTI_LENGTH = 255
MAX_ASSERTION_BYTES = 16_384

RememberJti = Callable[[str, str, float], Awaitable[bool]]  # (client, jti, exp) -> was it new?


class AssertionRejected(Exception):
    """The assertion is refused; ``code`` is stable (for the audit), ``reason`` is fixed text."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VerifiedClient:
    """Who the assertion proves the caller to be."""

    client_id: str
    kid: str
    jti: str
    expires_at: float


def _b64_json(part: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise AssertionRejected("malformed", f"the {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise AssertionRejected("malformed", f"the {what} is not a JSON object")
    return value


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AssertionRejected("malformed", f"the {name} claim is not a number")
    return float(value)


def _header(token: str, algorithms: Collection[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    if not token or len(token) > MAX_ASSERTION_BYTES:
        raise AssertionRejected("malformed", "the assertion is empty or too long")
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise AssertionRejected("malformed", "the assertion is not a signed JWT (three parts)")
    header = _b64_json(parts[0], "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise AssertionRejected(
            "alg-not-allowed", f"the signing algorithm must be one of {', '.join(algorithms)}"
        )
    if not parts[2]:
        raise AssertionRejected("malformed", "the assertion carries no signature")
    claims = _b64_json(parts[1], "payload")
    if "crit" in header:
        raise AssertionRejected("crit-not-understood", "critical header parameters are refused")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise AssertionRejected("kid-missing", "the header must name its key (kid)")
    return header, claims


def _key(header: Mapping[str, Any], keys: KeySet) -> Any:
    kid, alg = header["kid"], header["alg"]
    key = next((k for k in keys.keys if k.kid == kid), None)
    if key is None:
        raise AssertionRejected("unknown-kid", "no key with this kid is registered for the client")
    if _KEY_TYPES.get(alg[:2]) != key.key_type:
        raise AssertionRejected("key-alg-mismatch", "the algorithm does not fit the key's type")
    return key


def _check_claims(claims: Mapping[str, Any], audience: str, now: float) -> tuple[str, float]:
    aud = claims.get("aud")
    if aud not in (audience, [audience]):
        raise AssertionRejected("wrong-audience", "aud must be exactly the token endpoint's URL")
    exp = _number(claims, "exp")
    if exp is None:
        raise AssertionRejected("malformed", "the exp claim is required")
    if exp <= now:
        raise AssertionRejected("expired", "the assertion has expired")
    if exp - now > MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
        raise AssertionRejected(
            "lifetime-too-long", "an assertion may be valid for at most five minutes"
        )
    for name in ("nbf", "iat"):
        value = _number(claims, name)
        if value is not None and value > now + CLOCK_SKEW_SECONDS:
            raise AssertionRejected("not-yet-valid", f"the {name} claim is in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise AssertionRejected("jti-missing", "a unique jti (at most 255 characters) is required")
    return jti, exp


async def check_assertion(
    token: str,
    *,
    audience: str,
    clients: Mapping[str, KeySet],
    now: float,
    remember_jti: RememberJti,
    algorithms: Collection[str] = DEFAULT_ALGORITHMS,
) -> VerifiedClient:
    """Verify a client assertion; raise :class:`AssertionRejected` with the first reason."""
    header, claims = _header(token, algorithms)
    client_id = claims.get("iss")
    if not isinstance(client_id, str) or client_id not in clients:
        raise AssertionRejected("unknown-client", "the issuer is not a registered client")
    if claims.get("sub") != client_id:
        raise AssertionRejected("iss-sub-mismatch", "sub must equal iss (the client id)")
    key = _key(header, clients[client_id])
    try:
        jws.deserialize_compact(token, key, algorithms=[header["alg"]])
    except (JoseError, ValueError):
        raise AssertionRejected("bad-signature", "the signature does not verify") from None
    jti, exp = _check_claims(claims, audience, now)
    if not await remember_jti(client_id, jti, exp):
        raise AssertionRejected("replayed-jti", "this jti has been used before")
    return VerifiedClient(client_id, header["kid"], jti, exp)
