"""What the token endpoint and ``authenticate`` share in a running gateway, built once at start-up
(``app[OAUTH]``): the token signing key and the verification key set, the token endpoint's URL
(the audience assertions must name), and each partner's public keys.

Key rotation, and what needs a restart:

- A partner's **inline** ``jwks`` is part of the configuration: changing it (adding a new ``kid``,
  removing an old one) takes effect at the next start, as every configuration change does.
- A partner's ``jwks_file`` is re-read whenever the file changes (its size, modification time or
  inode; checked on every token request), so a partner's new key can be added and the old one
  removed **without a restart**. A file that becomes unreadable or invalid leaves that partner
  with no keys until it is fixed (fail closed; logged as ``partner_jwks_unusable``).
- The gateway's own token signing key: point ``token_key_file`` at a new key, list the old one
  in ``verification_key_files`` and restart; remove it one token lifetime later.

Access tokens verified once are remembered (token to client and expiry, at most
:data:`TOKEN_CACHE_SIZE` of them) so a partner's repeated calls cost a dictionary look-up rather
than an ECDSA verification; the expiry is checked on every use.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web
from joserfc.jwk import ECKey, KeySet

from gateway.errors import ConfigurationError
from gateway.oauth.jwks import JwksError, check_jwks, load_jwks_file
from gateway.oauth.settings import OAuthSettings
from gateway.oauth.tokens import (
    AccessToken,
    TokenRejected,
    issue,
    key_set,
    load_or_create_key,
    load_verification_key,
    verified,
)
from gateway.settings import PartnerSettings, Settings

log = structlog.get_logger(__name__)

TOKEN_CACHE_SIZE = 4096


@dataclass
class _KeyFile:
    partner: str
    path: Path
    stamp: tuple[int, int, int] | None = None
    keys: KeySet | None = None


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class ClientKeys:
    """Each partner's public keys, by partner id: inline, or from a file re-read on change."""

    def __init__(self, partners: Iterable[PartnerSettings]) -> None:
        self._inline: dict[str, KeySet] = {}
        self._files: list[_KeyFile] = []
        for partner in partners:
            if partner.jwks is not None:
                self._inline[partner.id] = check_jwks(partner.jwks)
            elif partner.jwks_file is not None:
                entry = _KeyFile(partner.id, partner.jwks_file)
                try:
                    entry.keys = load_jwks_file(entry.path)
                except JwksError as exc:
                    raise ConfigurationError(f"partners[{partner.id}].jwks_file: {exc}") from None
                entry.stamp = _stamp(entry.path)
                self._files.append(entry)

    def current(self) -> dict[str, KeySet]:
        """Every partner's key set as it is now (files re-read if they changed)."""
        keys = dict(self._inline)
        for entry in self._files:
            stamp = _stamp(entry.path)
            if stamp != entry.stamp:
                entry.stamp = stamp
                try:
                    entry.keys = load_jwks_file(entry.path)
                    log.info(
                        "partner_jwks_reloaded", partner=entry.partner, keys=len(entry.keys.keys)
                    )
                except JwksError as exc:
                    # SECURITY: fail closed. Keeping the old keys would keep a key the operator
                    # may just have removed because it leaked.
                    entry.keys = None
                    log.error("partner_jwks_unusable", partner=entry.partner, reason=str(exc))
            if entry.keys is not None:
                keys[entry.partner] = entry.keys
        return keys


class OAuthRuntime:
    """The token endpoint's and the API's shared authentication state."""

    def __init__(self, settings: Settings) -> None:
        oauth: OAuthSettings = settings.oauth
        self.settings = oauth
        self.audience = oauth.endpoint(settings.host, settings.port)
        self.partners = {p.id: p for p in settings.partners}
        self.signing_key = _signing_key(oauth.token_key_file)
        earlier = [_earlier_key(n, path) for n, path in enumerate(oauth.verification_key_files)]
        self.verification = key_set(self.signing_key, *earlier)
        self.clients = ClientKeys(settings.partners)
        unknown = sorted(set(oauth.client_certificates) - set(self.partners))
        if unknown:
            raise ConfigurationError(
                "oauth.client_certificates names partners that are not configured: "
                + ", ".join(unknown)
            )
        self._verified: dict[str, tuple[str, int]] = {}

    def issue(self, client_id: str, *, now: float) -> AccessToken:
        """A new access token for ``client_id``."""
        return issue(
            self.signing_key, client_id, now=now, lifetime=self.settings.access_token_lifetime
        )

    def partner_for_token(self, token: str, *, now: float) -> PartnerSettings:
        """The configured partner a valid access token was issued to; TokenRejected otherwise."""
        known = self._verified.get(token)
        if known is None:
            known = verified(token, self.verification, now=now)
            if len(self._verified) >= TOKEN_CACHE_SIZE:
                # Drop the oldest; dicts keep insertion order.
                del self._verified[next(iter(self._verified))]
            self._verified[token] = known
        client_id, exp = known
        if exp <= now:
            self._verified.pop(token, None)
            raise TokenRejected("expired", "the access token has expired", client_id)
        partner = self.partners.get(client_id)
        if partner is None:
            raise TokenRejected("unknown-client", "the token's client is not a configured partner")
        return partner


def _signing_key(path: Path) -> ECKey:
    try:
        return load_or_create_key(path)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"oauth.token_key_file: {path} cannot be used as an EC P-256 key ({type(exc).__name__})"
        ) from None


def _earlier_key(number: int, path: Path) -> ECKey:
    try:
        return load_verification_key(path)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"oauth.verification_key_files[{number}]: {path} cannot be used as an EC key "
            f"({type(exc).__name__})"
        ) from None


OAUTH = web.AppKey("oauth", OAuthRuntime)
