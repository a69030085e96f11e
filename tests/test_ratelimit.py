"""Per-partner rate limits: the token bucket, and 429 with Retry-After through the real server."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from gateway.conventions import PartnerRate, RateLimitSettings
from gateway.ratelimit import RateLimiter, RefusalRecorder, TokenBucket
from gateway.store.tables import exchanges
from tests.conftest import COUNCIL_KEY, TRUST_KEY, Database
from tests.gateway_harness import FHIR, Harness, crisis_bundle, start_harness

LOOKUP = "/api/v1/workers"
PARAMS = {"identifier": "https://fhir.nhs.uk/Id/nhs-number|9000000009"}


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    """Burst at once; then one token every 1/rate seconds; never more than the burst."""
    bucket = TokenBucket(rate=2.0, burst=3.0, tokens=3.0, updated=0.0)
    assert [0.0, 0.0, 0.0] == [bucket.take(0.0) for _ in range(3)]
    assert 0.5 == bucket.take(0.0)
    assert 0.0 == bucket.take(0.5)
    assert 0.5 == bucket.take(0.5)
    assert [0.0, 0.0, 0.0] == [bucket.take(100.0) for _ in range(3)]
    assert 0.0 < bucket.take(100.0)


def test_the_limiter_keeps_a_bucket_per_partner_with_overrides() -> None:
    """Retry-After is whole seconds (at least 1); partners do not share buckets; an override
    gives a partner its own limit; disabled means never refused."""
    clock = Clock()
    settings = RateLimitSettings(
        rate=0.25, burst=2, partners={"big": PartnerRate(rate=100.0, burst=50)}
    )
    limiter = RateLimiter(settings, clock)
    assert [0, 0, 4] == [limiter.check("small") for _ in range(3)]
    assert 0 == limiter.check("other")
    assert [0] * 50 == [limiter.check("big") for _ in range(50)]
    assert 1 == limiter.check("big")
    clock.now += 4.0
    assert 0 == limiter.check("small")
    off = RateLimiter(settings.model_copy(update={"enabled": False}), clock)
    assert [0] * 10 == [off.check("small") for _ in range(10)]


def test_refusals_are_recorded_at_most_once_a_second_per_partner_and_reason() -> None:
    """The recorder says yes once per partner, reason and second."""
    clock = Clock()
    recorder = RefusalRecorder(clock=clock)
    assert recorder.due("a", "rate-limited")
    assert not recorder.due("a", "rate-limited")
    assert recorder.due("b", "rate-limited")
    assert recorder.due("a", "idempotency-key-reused")
    clock.now += 1.0
    assert recorder.due("a", "rate-limited")


async def _lookup(h: Harness, key: str) -> Any:
    return await h.client.get(LOOKUP, params=PARAMS, headers={"Authorization": f"Bearer {key}"})


async def test_a_spent_limit_answers_429_with_retry_after(
    aiohttp_client: Any, database: Database
) -> None:
    """Past its burst a partner gets 429 (problem+json, or OperationOutcome with the Spine code
    on the FHIR door) with an integer Retry-After; other partners are unaffected; the refusal is
    recorded once, not once per request; nothing is processed."""
    limits = RateLimitSettings(rate=0.1, burst=2)
    async for h in start_harness(aiohttp_client, database, rate_limit=limits):
        assert [404, 404] == [(await _lookup(h, COUNCIL_KEY)).status for _ in range(2)]
        refused = [await _lookup(h, COUNCIL_KEY) for _ in range(5)]
        assert [429] * 5 == [r.status for r in refused]
        assert {r.headers["Retry-After"] for r in refused} <= {"9", "10"}  # 1 token / 10 s
        problem = await refused[0].json()
        assert "application/problem+json" == refused[0].content_type
        assert (429, "Too many requests") == (problem["status"], problem["title"])
        assert 404 == (await _lookup(h, TRUST_KEY)).status

        body = orjson.dumps(crisis_bundle())
        assert 202 == (await h.post_fhir(body)).status
        throttled = await h.post_fhir(body)
        assert 429 == throttled.status
        assert throttled.headers["Retry-After"].isdigit()
        outcome = await throttled.json()
        (issue,) = outcome["issue"]
        assert "throttled" == issue["code"]
        assert "TOO_MANY_REQUESTS" == issue["details"]["coding"][0]["code"]
        assert 1 == await h.count(exchanges)

        recorded = [
            (e["partner"], e["route"])
            for e in await h.entries()
            if e["event"] == "access.refused" and e["reason"] == "rate-limited"
        ]
        assert sorted(recorded) == [
            ("council-demo", "/api/v1/workers"),
            ("trust-demo", "/fhir/$process-message"),
        ]


async def test_a_partner_override_and_the_refill(aiohttp_client: Any, database: Database) -> None:
    """A partner with its own limit is not held to the default; a spent bucket refills."""
    limits = RateLimitSettings(
        rate=20.0, burst=1, partners={"trust-demo": PartnerRate(rate=1000.0, burst=100)}
    )
    async for h in start_harness(aiohttp_client, database, rate_limit=limits):
        assert [404] * 20 == [(await _lookup(h, TRUST_KEY)).status for _ in range(20)]
        assert 404 == (await _lookup(h, COUNCIL_KEY)).status
        assert 429 == (await _lookup(h, COUNCIL_KEY)).status
        await asyncio.sleep(0.1)
        assert 404 == (await _lookup(h, COUNCIL_KEY)).status


async def test_unauthenticated_requests_do_not_spend_a_partner_limit(
    aiohttp_client: Any, database: Database
) -> None:
    """No credentials: 401 from the route, however many; the partner's own budget is intact."""
    limits = RateLimitSettings(rate=0.1, burst=1)
    async for h in start_harness(aiohttp_client, database, rate_limit=limits):
        for _ in range(3):
            response = await h.client.post(
                "/fhir/$process-message", data=b"{}", headers={"Content-Type": FHIR}
            )
            assert 401 == response.status
        assert 404 == (await _lookup(h, TRUST_KEY)).status
