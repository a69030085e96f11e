"""A running gateway for end-to-end tests: real HTTP server, real database, real partner servers."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.base import Adapter
from gateway.app import create_app
from gateway.appkeys import SERVICES
from gateway.audit.verify import Verdict, verify_ledger
from gateway.oauth.client import client_assertion, token_form
from gateway.settings import DeliverySettings
from gateway.simulators import PartnerSimulator
from gateway.store.tables import ledger
from gateway.workcal import Clock, system_clock
from tests.conftest import (
    COUNCIL_KEY,
    FIXTURES,
    PARTNER_KEYS,
    TOKEN_URL,
    TRUST_KEY,
    Database,
    make_settings,
    partners,
)

FHIR = "application/fhir+json"
JSON = "application/json"


def crisis_bundle() -> dict[str, Any]:
    """The s136 crisis message fixture, as a dict to vary."""
    loaded: dict[str, Any] = orjson.loads((FIXTURES / "fhir" / "crisis-s136.json").read_bytes())
    return loaded


class MovableClock:
    """A clock the test sets (``start_harness(..., clock=...)``)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fresh_message(bundle: dict[str, Any]) -> dict[str, Any]:
    """A copy of a message Bundle with a new Bundle id and MessageHeader id: a new message,
    saying the same."""
    bundle = copy.deepcopy(bundle)
    bundle["id"] = str(uuid.uuid4())
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "MessageHeader":
            entry["resource"]["id"] = str(uuid.uuid4())
    return bundle


def child_status(la_code: str = "999", la_child_id: str | None = None) -> dict[str, Any]:
    """The council's child-status fixture, optionally for another council."""
    loaded: dict[str, Any] = orjson.loads((FIXTURES / "csc" / "child-status.json").read_bytes())
    loaded["la_code"] = la_code
    if la_child_id is not None:
        loaded["la_child_id"] = la_child_id
    return loaded


@dataclass
class Harness:
    """The gateway under test and the partner systems around it."""

    client: TestClient[Any, Any]
    council: PartnerSimulator
    other: PartnerSimulator
    trust: PartnerSimulator

    @property
    def engine(self) -> AsyncEngine:
        engine: AsyncEngine = self.client.app[SERVICES].engine
        return engine

    async def post_fhir(
        self, body: bytes | dict[str, Any], key: str = TRUST_KEY, **headers: str
    ) -> Any:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self.client.post(
            "/fhir/$process-message",
            data=data,
            headers={"Authorization": f"Bearer {key}", "Content-Type": FHIR, **headers},
        )

    async def post_csc(self, body: bytes | dict[str, Any], key: str = COUNCIL_KEY) -> Any:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return await self.client.post(
            "/csc/messages",
            data=data,
            headers={"Authorization": f"Bearer {key}", "Content-Type": JSON},
        )

    async def post_token(self, form: dict[str, str] | bytes, **headers: str) -> Any:
        """POST a token request (a form, or raw bytes) to the real token endpoint."""
        values = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        return await self.client.post("/oauth2/token", data=form, headers=values)

    async def token_for(self, partner_id: str) -> str:
        """An access token for ``partner_id``, obtained as a partner's system does: a client
        assertion signed with the partner's own key, traded at ``POST /oauth2/token``."""
        assertion = client_assertion(PARTNER_KEYS[partner_id], partner_id, TOKEN_URL)
        response = await self.post_token(token_form(assertion))
        body = await response.json()
        assert 200 == response.status, body
        token: str = body["access_token"]
        return token

    async def entries(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(ledger.c.entry).order_by(ledger.c.seq))
            return [orjson.loads(r[0]) for r in rows]

    async def count(self, table: Any) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())

    async def verify(self) -> Verdict:
        async with self.engine.connect() as conn:
            return await verify_ledger(conn)


async def start_harness(
    aiohttp_client: Any,
    database: Database,
    *,
    council_fail_first: int = 0,
    council_redirects: bool = False,
    adapters: dict[str, Adapter] | None = None,
    clock: Clock = system_clock,
    **overrides: Any,
) -> AsyncIterator[Harness]:
    """Start the partner simulators, then the gateway pointed at them."""
    other, trust = PartnerSimulator("other council"), PartnerSimulator("trust")
    other_url = await other.start()
    council = PartnerSimulator(
        "council",
        fail_first=council_fail_first,
        redirect_to=other_url if council_redirects else None,
    )
    endpoints = {
        "council-demo": await council.start(),
        "council-other": other_url,
        "trust-demo": await trust.start(),
    }
    values: dict[str, Any] = {
        "partners": partners(**endpoints),
        "delivery": DeliverySettings(poll_interval=0.02, backoff_base=0.02, backoff_cap=0.1),
    }
    values.update(overrides)
    client = await aiohttp_client(
        create_app(make_settings(database, **values), adapters=adapters, clock=clock)
    )
    try:
        yield Harness(client, council, other, trust)
    finally:
        await client.close()
        for sim in (council, other, trust):
            await sim.stop()


@pytest.fixture
async def h(aiohttp_client: Any, database: Database) -> AsyncIterator[Harness]:
    """The default harness."""
    async for h in start_harness(aiohttp_client, database):
        yield h
