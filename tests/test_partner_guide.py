"""The partner onboarding guide's client runs exactly as printed, against a real gateway.

docs/partners.md ends with a complete client (key pair, client assertion, token source, API call).
This module loads that code block from the Markdown and drives it over real HTTP: the gateway is
configured with the JWKS the guide's code wrote, and the guide's code gets a token through
``POST /oauth2/token`` and sends a FHIR message with it. The guide cannot drift from the gateway
without this failing.
"""

from __future__ import annotations

import asyncio
import re
import types
from pathlib import Path

import orjson
from aiohttp import web
from aiohttp.test_utils import unused_port

from gateway.app import create_app
from gateway.oauth.settings import OAuthSettings
from tests.conftest import FIXTURES, Database, make_settings, oauth_settings, partners

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "partners.md"


def _client() -> types.ModuleType:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("## A complete client")
    match = re.compile(r"```python\n(.*?)```", re.DOTALL).search(text, start)
    assert match is not None, "no python block under 'A complete client'"
    module = types.ModuleType("partner_client")
    module.__file__ = f"{GUIDE}#a-complete-client"
    exec(compile(match.group(1), module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own documentation
    return module


async def test_the_guides_client_gets_a_token_and_sends_a_message(tmp_path: Path) -> None:
    """make_key_pair writes a JWKS the gateway accepts; TokenSource gets a token and reuses it;
    call() sends the trust's crisis message (202); a look-up without a known person is 404."""
    client = _client()
    private_key = await asyncio.to_thread(client.make_key_pair, tmp_path, "trust-epr-2026-11")
    assert 0o600 == private_key.stat().st_mode & 0o777
    jwks_file = tmp_path / "trust-epr-2026-11.jwks.json"
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    configured = tuple(
        p.model_copy(update={"jwks": None, "jwks_file": jwks_file}) if p.id == "trust-demo" else p
        for p in partners()
    )
    oauth: OAuthSettings = oauth_settings(token_url=f"{base}/oauth2/token")
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", None, "sqlite")
    app = create_app(make_settings(database, partners=configured, oauth=oauth))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        tokens = client.TokenSource(
            f"{base}/oauth2/token", "trust-demo", private_key, "trust-epr-2026-11"
        )
        first = await asyncio.to_thread(tokens.token)
        assert first == await asyncio.to_thread(tokens.token)  # reused, not fetched again
        bundle = (FIXTURES / "fhir" / "crisis-s136.json").read_bytes()
        status, summary = await asyncio.to_thread(
            client.call,
            tokens,
            "POST",
            f"{base}/fhir/$process-message",
            bundle,
            "application/fhir+json",
        )
        assert (202, "crisis-event") == (status, summary["kind"])
        status, problem = await asyncio.to_thread(
            client.call,
            tokens,
            "GET",
            f"{base}/api/v1/workers?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000025",
        )
        assert (404, 404) == (status, problem["status"])
        assert "trust-epr-2026-11" == orjson.loads(jwks_file.read_bytes())["keys"][0]["kid"]
    finally:
        await runner.cleanup()
