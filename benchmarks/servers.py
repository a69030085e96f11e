"""The two servers a benchmark compares, each run in its own process.

    python -m benchmarks.servers echo PORT
    python -m benchmarks.servers gateway PORT DATABASE_URL

``echo`` is a bare aiohttp handler that reads the body and returns the same bytes: the baseline.
``gateway`` is the real gateway (``create_app``) with the test partners and the example agreement;
the delivery worker is off so the figure is the inbound exchange alone (parse → decide → render →
durable ledger and outbox commit → 202).
"""

from __future__ import annotations

import sys

from aiohttp import web

from gateway.app import create_app
from gateway.logging import configure_logging
from gateway.settings import DeliverySettings, PartnerSettings, Settings, bundled, hash_api_key

TRUST_KEY = "bench-trust-key-0123456789abcdef0123456789"
COUNCIL_KEY = "bench-council-key-0123456789abcdef012345678"


async def _echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type="application/json")


def echo_app() -> web.Application:
    """The baseline: read the bytes, send them back."""
    app = web.Application(client_max_size=1_048_576)
    app.router.add_post("/fhir/$process-message", _echo)
    return app


def gateway_app(database_url: str) -> web.Application:
    """The real gateway, on ``database_url``."""
    settings = Settings(
        database_url=database_url,
        agreements_dir=bundled("agreements"),
        partners=(
            PartnerSettings(
                id="trust-demo",
                name="trust",
                organisations=("RX9",),
                format="fhir-r4",
                api_key_sha256=(hash_api_key(TRUST_KEY),),
            ),
            PartnerSettings(
                id="council-demo",
                name="council",
                organisations=("999",),
                format="csc",
                api_key_sha256=(hash_api_key(COUNCIL_KEY),),
            ),
        ),
        delivery=DeliverySettings(enabled=False),
        log_level="warning",
    )
    configure_logging("warning")
    return create_app(settings)


def main() -> None:
    """Run the named server until killed."""
    kind, port = sys.argv[1], int(sys.argv[2])
    app = echo_app() if kind == "echo" else gateway_app(sys.argv[3])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
