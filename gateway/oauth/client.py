"""The partner's side of ``private_key_jwt``: sign a client assertion, trade it for an access token.

Used by the demo's partner systems and the tests; a partner's own system does the same in a few
lines (``docs/partners.md`` has a standalone example).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import aiohttp
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGORITHM_FOR = {"RSA": "RS512", "EC:P-256": "ES256", "EC:P-384": "ES384", "EC:P-521": "ES512"}


def default_algorithm(key: RSAKey | ECKey) -> str:
    """RS512 for RSA keys (as NHS England asks), ESxxx for an EC key's curve."""
    if isinstance(key, RSAKey):
        return "RS512"
    return _ALGORITHM_FOR[f"EC:{key.curve_name}"]


def client_assertion(
    key: RSAKey | ECKey,
    client_id: str,
    audience: str,
    *,
    now: float | None = None,
    lifetime: int = 60,
    algorithm: str | None = None,
) -> str:
    """A signed client assertion (RFC 7523): ``iss`` = ``sub`` = the client id, a fresh ``jti``."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + lifetime,
    }
    alg = algorithm or default_algorithm(key)
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[alg])


def token_form(assertion: str) -> dict[str, str]:
    """The token request's form fields."""
    return {
        "grant_type": GRANT_TYPE,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }


async def fetch_token(
    session: aiohttp.ClientSession,
    token_url: str,
    key: RSAKey | ECKey,
    client_id: str,
    **request_options: Any,
) -> dict[str, Any]:
    """POST a fresh assertion to ``token_url``; the token response (raises on a refusal)."""
    async with session.post(
        token_url, data=token_form(client_assertion(key, client_id, token_url)), **request_options
    ) as response:
        body: dict[str, Any] = await response.json(content_type=None)
        if response.status != 200:
            raise PermissionError(
                f"token request refused ({response.status}): {body.get('error')}: "
                f"{body.get('error_description')}"
            )
        return body
