"""Access tokens: short-lived JWTs the gateway signs for a partner it has authenticated.

Stateless so that every gateway process sharing the signing key accepts every other's tokens
without a database round trip per request. ES256 (P-256), with the key's RFC 7638 thumbprint as
``kid`` so that a key can be rotated: tokens signed by any key in the verification set are
accepted until they expire (at most ``lifetime`` seconds, ten minutes by default, as NHS England's
tokens last).

Refusals carry a stable code and fixed text; nothing from the token is echoed.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from gateway.secretfiles import write_once

ALGORITHM = "ES256"
ISSUER = "joined-up-gateway"
AUDIENCE = "joined-up-api"


class TokenRejected(Exception):
    """The bearer token is refused; ``code`` is stable, ``reason`` fixed text."""

    def __init__(self, code: str, reason: str, client_id: str | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        # The client a genuine but unusable (expired) token was issued to; None when unproven.
        self.client_id = client_id


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A token as issued: the compact JWT and its lifetime."""

    value: str
    expires_in: int


def load_or_create_key(path: Path) -> ECKey:
    """The gateway's token signing key from ``path`` (PEM), created (mode 0600) if absent."""
    if not path.exists():
        write_once(path, ECKey.generate_key("P-256", private=True).as_pem(private=True))
    key = ECKey.import_key(path.read_bytes())
    return ECKey.import_key(key.as_dict(private=True), {"kid": key.thumbprint()})


def load_verification_key(path: Path) -> ECKey:
    """An earlier signing key (PEM, public or private) whose tokens are still to be accepted;
    only its public half is kept. ValueError if the file is not an EC key."""
    key = ECKey.import_key(path.read_bytes())
    return ECKey.import_key(key.as_dict(private=False), {"kid": key.thumbprint()})


def key_set(*keys: ECKey) -> KeySet:
    """The public halves of ``keys`` as a verification set (kid = thumbprint)."""
    return KeySet.import_key_set({"keys": [k.as_dict(private=False) for k in keys]})


def issue(key: ECKey, client_id: str, *, now: float, lifetime: int) -> AccessToken:
    """Sign an access token for ``client_id``."""
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": client_id,
        "iat": int(now),
        "exp": int(now) + lifetime,
        "jti": str(uuid.uuid4()),
    }
    value = jwt.encode({"alg": ALGORITHM, "kid": key.kid}, claims, key, algorithms=[ALGORITHM])
    return AccessToken(value, lifetime)


def _check_header(token: str) -> None:
    """Only the header the gateway writes: ES256, a kid, nothing critical. Checked before the
    library sees the token, so an odd header is a refusal rather than a library error."""
    part = token.split(".", 1)[0]
    try:
        header = orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        raise TokenRejected("malformed", "the bearer token is not an access token") from None
    if (
        not isinstance(header, dict)
        or header.get("alg") != ALGORITHM
        or not isinstance(header.get("kid"), str)
        or not set(header) <= {"alg", "kid", "typ"}
    ):
        raise TokenRejected("bad-signature", "the access token does not verify")


def verify(token: str, keys: KeySet, *, now: float) -> str:
    """The client id a valid access token was issued to; TokenRejected otherwise."""
    return verified(token, keys, now=now)[0]


def verified(token: str, keys: KeySet, *, now: float) -> tuple[str, int]:
    """The client id a valid access token was issued to, and when it expires; TokenRejected
    otherwise (with the client id when only the expiry is wrong)."""
    if not token or len(token) > 4096 or token.count(".") != 2:
        raise TokenRejected("malformed", "the bearer token is not an access token")
    _check_header(token)
    try:
        decoded = jwt.decode(token, keys, algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError):
        raise TokenRejected("bad-signature", "the access token does not verify") from None
    claims = decoded.claims
    exp = claims.get("exp")
    if claims.get("iss") != ISSUER or claims.get("aud") != AUDIENCE:
        raise TokenRejected("wrong-issuer", "the access token was not issued by this gateway")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenRejected("malformed", "the access token names no client")
    if isinstance(exp, bool) or not isinstance(exp, int) or exp <= now:
        raise TokenRejected("expired", "the access token has expired", subject)
    return subject, exp
