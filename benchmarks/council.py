"""The receiving council for the crash and outage tests (``benchmarks/crash.py``), run as its own
process: ``python -m benchmarks.council PORT LOG``.

It applies each ``Idempotency-Key`` once, as a partner's system should: every delivery is a line
in LOG (``applied`` true the first time a key is seen, false for a duplicate), appended with one
``write(2)`` *before* the answer, so that what it applied survives the process being killed, and
read back at start so that a duplicate is recognised across its restarts. It imports nothing of
the gateway, so it starts fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiohttp import web


@dataclass(frozen=True, slots=True)
class Application:
    """One line of the council's log: a delivery it applied, or a duplicate it recognised."""

    applied: bool
    key: str  # the delivery's Idempotency-Key
    request_id: str | None  # its X-Request-ID
    exchange_id: str | None  # the crisis notice's exchange_id


def read_log(path: Path) -> list[Application]:
    """The council's log, in order (a torn last line, from a kill mid-write, is ignored)."""
    if not path.exists():
        return []
    found = []
    for line in path.read_bytes().splitlines():
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        found.append(
            Application(item["applied"], item["key"], item["request_id"], item["exchange_id"])
        )
    return found


class Council:
    """The receiving council's system: applies each Idempotency-Key once; logs before answering."""

    def __init__(self, log_path: Path) -> None:
        self._applied = {a.key for a in read_log(log_path) if a.applied}
        # O_APPEND: each line is one write(2), which survives this process being killed.
        self._fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    async def deliveries(self, request: web.Request) -> web.Response:
        """Apply a delivery once per Idempotency-Key: 202 the first time, 200 for a duplicate."""
        body = await request.read()
        key = request.headers.get("Idempotency-Key")
        if not key:
            return web.json_response({"error": "Idempotency-Key is required"}, status=400)
        try:
            exchange_id = orjson.loads(body).get("exchange_id")
        except (orjson.JSONDecodeError, AttributeError):
            exchange_id = None
        applied = key not in self._applied
        line = {
            "applied": applied,
            "key": key,
            "request_id": request.headers.get("X-Request-ID"),
            "exchange_id": exchange_id if isinstance(exchange_id, str) else None,
        }
        # No await between the check and the record: one delivery at a time passes here.
        os.write(self._fd, orjson.dumps(line) + b"\n")
        self._applied.add(key)
        return web.json_response(
            {"status": "applied" if applied else "duplicate"}, status=202 if applied else 200
        )

    async def ping(self, _request: web.Request) -> web.Response:
        """Alive."""
        return web.json_response({"status": "pass"})


def main() -> None:
    """Serve on loopback until killed."""
    port, log_path = int(sys.argv[1]), Path(sys.argv[2])
    council = Council(log_path)
    app = web.Application()
    app.router.add_post("/deliveries", council.deliveries)
    app.router.add_get("/_ping", council.ping)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
