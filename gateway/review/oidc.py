"""Sign-in through an OpenID Connect provider: authorisation code flow with PKCE, state and nonce.

1. ``/review/oidc/start`` makes a random ``state``, ``nonce`` and PKCE ``code_verifier``, seals them
   in a short-lived cookie, and sends the browser to the provider's authorisation endpoint with
   the S256 challenge.
2. The provider sends the browser back to ``/review/oidc/callback`` with a code and the state; the
   state must be the one sealed in this browser's cookie (so nobody can splice their own sign-in
   into someone else's browser).
3. The code is exchanged at the token endpoint with the verifier (so a stolen code is useless).
4. The ID token is checked with joserfc against the provider's published keys (JWKS): the
   signature (asymmetric algorithms only), ``iss``, ``aud`` (and ``azp`` when there are several
   audiences), ``exp``, ``iat`` and the ``nonce``. Roles come from ``roles_claim`` mapped by
   ``role_map``; a provider role not in the map grants nothing.

Every failure is an :class:`OidcError` with a reason code the refusal is recorded under; the
provider's own words never reach the page or the ledger.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import aiohttp
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import KeySet

from gateway.review.settings import OidcSettings

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
TIMEOUT = aiohttp.ClientTimeout(total=10)
CLOCK_LEEWAY = 60  # seconds of clock difference tolerated on exp and iat
METADATA_SECONDS = 3600  # how long discovery and keys are reused before being fetched again


class OidcError(Exception):
    """A sign-in through the provider failed; ``reason`` is recorded (a code, no provider text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Flow:
    """A sign-in in flight, sealed in the browser's cookie between start and callback."""

    state: str
    nonce: str
    verifier: str
    next: str

    @classmethod
    def start(cls, next_path: str) -> Flow:
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),  # 86 characters: RFC 7636 asks for 43 to 128
            next=next_path,
        )

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def as_dict(self) -> dict[str, str]:
        return {
            "state": self.state,
            "nonce": self.nonce,
            "verifier": self.verifier,
            "next": self.next,
        }

    @classmethod
    def from_dict(cls, document: dict[str, str]) -> Flow | None:
        try:
            return cls(document["state"], document["nonce"], document["verifier"], document["next"])
        except KeyError:
            return None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed in, as the gateway records them."""

    name: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Metadata:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    fetched: float


class OidcClient:
    """The relying party for one provider."""

    def __init__(self, settings: OidcSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._metadata: _Metadata | None = None
        self._keys: KeySet | None = None
        self._keys_fetched = 0.0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def _get_json(self, url: str, reason: str) -> dict[str, Any]:
        try:
            async with self._http().get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise OidcError(reason)
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise OidcError(reason) from None
        if not isinstance(document, dict):
            raise OidcError(reason)
        return document

    async def metadata(self) -> _Metadata:
        """The provider's discovery document (cached for an hour); its issuer must be ours."""
        cached = self._metadata
        if cached is not None and time.monotonic() - cached.fetched < METADATA_SECONDS:
            return cached
        issuer = self._settings.issuer
        document = await self._get_json(
            f"{issuer}/.well-known/openid-configuration", "oidc-discovery"
        )
        endpoints = [
            document.get(k) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        ]
        if str(document.get("issuer", "")).rstrip("/") != issuer or not all(
            isinstance(e, str) and e.startswith(("https://", "http://")) for e in endpoints
        ):
            raise OidcError("oidc-discovery")
        self._metadata = _Metadata(
            str(endpoints[0]), str(endpoints[1]), str(endpoints[2]), time.monotonic()
        )
        return self._metadata

    async def authorization_url(self, flow: Flow) -> str:
        """Where to send the browser to sign in."""
        metadata = await self.metadata()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._settings.client_id,
                "redirect_uri": self._settings.redirect_uri,
                "scope": self._settings.scope,
                "state": flow.state,
                "nonce": flow.nonce,
                "code_challenge": flow.challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return f"{metadata.authorization_endpoint}{separator}{query}"

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        stale = time.monotonic() - self._keys_fetched >= METADATA_SECONDS
        if self._keys is None or refresh or stale:
            metadata = await self.metadata()
            document = await self._get_json(metadata.jwks_uri, "oidc-keys")
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (jose_errors.JoseError, ValueError, KeyError, TypeError):
                raise OidcError("oidc-keys") from None
            self._keys_fetched = time.monotonic()
        return self._keys

    async def exchange(self, code: str, flow: Flow) -> str:
        """Exchange the authorisation code (with the PKCE verifier) for an ID token."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._settings.redirect_uri,
            "code_verifier": flow.verifier,
        }
        headers = {"Accept": "application/json"}
        if self._settings.client_secret is not None:
            # client_secret_basic: each part form-urlencoded first (RFC 6749 section 2.3.1).
            headers["Authorization"] = aiohttp.encode_basic_auth(
                quote_plus(self._settings.client_id), quote_plus(self._settings.client_secret)
            )
        else:
            form["client_id"] = self._settings.client_id
        try:
            async with self._http().post(
                metadata.token_endpoint,
                data=form,
                headers=headers,
                allow_redirects=False,
            ) as response:
                if response.status != 200:
                    raise OidcError("oidc-token-exchange")
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise OidcError("oidc-token-exchange") from None
        id_token = document.get("id_token") if isinstance(document, dict) else None
        if not isinstance(id_token, str):
            raise OidcError("oidc-token-exchange")
        return id_token

    async def identity(self, id_token: str, flow: Flow) -> Identity:
        """Check the ID token; return who signed in and their gateway roles."""
        claims = await self._verified_claims(id_token)
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": self._settings.issuer},
            aud={"essential": True, "value": self._settings.client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": flow.nonce},
        )
        try:
            registry.validate(claims)
        except jose_errors.ExpiredTokenError:
            raise OidcError("oidc-expired") from None
        except jose_errors.ClaimError as exc:
            claim = getattr(exc, "claim", "")
            named = {"iss": "issuer", "aud": "audience", "nonce": "nonce", "sub": "subject"}
            raise OidcError(f"oidc-wrong-{named.get(claim, 'claim')}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self._settings.client_id:
            raise OidcError("oidc-wrong-audience")
        iat = claims.get("iat")
        if isinstance(iat, int | float) and iat > time.time() + CLOCK_LEEWAY:
            raise OidcError("oidc-issued-in-future")
        return Identity(self._name(claims), self._roles(claims))

    async def _verified_claims(self, id_token: str) -> dict[str, Any]:
        for refresh in (False, True):  # keys rotate: on an unknown key id, fetch them once more
            keys = await self._key_set(refresh=refresh)
            try:
                token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
            except (jose_errors.InvalidKeyIdError, jose_errors.MissingKeyError, ValueError):
                if refresh:
                    raise OidcError("oidc-unknown-key") from None
                continue
            except jose_errors.BadSignatureError:
                raise OidcError("oidc-bad-signature") from None
            except jose_errors.UnsupportedAlgorithmError:
                raise OidcError("oidc-algorithm") from None
            except jose_errors.JoseError:
                raise OidcError("oidc-malformed-token") from None
            return dict(token.claims)
        raise OidcError("oidc-unknown-key")  # pragma: no cover - the loop returns or raises

    def _name(self, claims: dict[str, Any]) -> str:
        value = claims.get(self._settings.username_claim) or claims.get("sub")
        name = str(value).strip()
        if not name or len(name) > 128 or not name.isprintable():
            raise OidcError("oidc-no-username")
        return name

    def _roles(self, claims: dict[str, Any]) -> tuple[str, ...]:
        value = claims.get(self._settings.roles_claim, [])
        provider_roles = [value] if isinstance(value, str) else value
        if not isinstance(provider_roles, list):
            return ()
        mapped = {
            self._settings.role_map[r]
            for r in provider_roles
            if isinstance(r, str) and r in self._settings.role_map
        }
        return tuple(sorted(mapped))
