"""Partner simulators: real HTTP servers on loopback that receive the gateway's deliveries.

Used by the demo and by the tests, so delivery is always tested over real HTTP. A simulator can be
told to fail its first N deliveries, to exercise retries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Received:
    """One delivery as the partner system saw it."""

    body: bytes
    content_type: str
    idempotency_key: str | None
    request_id: str | None


@dataclass
class PartnerSimulator:
    """A partner system's inbound endpoint."""

    name: str
    fail_first: int = 0
    redirect_to: str | None = None  # answer every delivery with a 307 to this URL
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def _deliveries(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.redirect_to is not None:
            raise web.HTTPTemporaryRedirect(self.redirect_to)
        if self.attempts <= self.fail_first:
            return web.Response(status=503, text="simulated outage")
        self.received.append(
            Received(
                body=await request.read(),
                content_type=request.content_type,
                idempotency_key=request.headers.get("Idempotency-Key"),
                request_id=request.headers.get("X-Request-ID"),
            )
        )
        self._arrived.set()
        return web.json_response({"status": "accepted"}, status=202)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on loopback; return the delivery URL."""
        app = web.Application()
        app.router.add_post("/deliveries", self._deliveries)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound}/deliveries"
        return self.url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int, seconds: float = 10.0) -> list[Received]:
        """Wait until ``count`` deliveries have arrived (TimeoutError otherwise)."""
        async with asyncio.timeout(seconds):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received
