"""Interim partner authentication: per-partner API keys from configuration, stored hashed.

Issue 6 replaces this with OAuth 2.0 client credentials and signed JWT client assertions.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from gateway.errors import Unauthenticated
from gateway.settings import PartnerSettings, Settings, hash_api_key


def _presented_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key") or None


def authenticate(request: web.Request, settings: Settings) -> PartnerSettings:
    """The partner whose key the request presents; Unauthenticated otherwise."""
    key = _presented_key(request)
    if key is None:
        raise Unauthenticated("no API key: send 'Authorization: Bearer <key>'")
    digest = hash_api_key(key)
    found: PartnerSettings | None = None
    # SECURITY: compare against every configured hash in constant time, and do not stop early,
    # so timing says nothing about which partner (if any) a key nearly matched.
    for partner in settings.partners:
        for expected in partner.api_key_sha256:
            if hmac.compare_digest(digest, expected):
                found = partner
    if found is None:
        raise Unauthenticated("unknown API key")
    return found
