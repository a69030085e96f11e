"""Ordering per recipient and per person: one delivery at a time per ordering key, oldest first; a
dead letter holds back later deliveries with its key (and no other) until it is replayed; rows
without a key are unordered; two workers sharing the outbox keep the order too."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from gateway.appkeys import DELIVERY, METRICS, SERVICES
from gateway.delivery import DeliveryWorker, replay
from gateway.settings import DeliverySettings
from gateway.simulators import PartnerSimulator
from tests.conftest import Database, partners
from tests.delivery_helpers import Family, change, introduce, rows, send_crisis
from tests.gateway_harness import start_harness

A, B = Family(10), Family(11)
# The worker runs only when a test calls run_once; a failed attempt is dead at once.
MANUAL = DeliverySettings(enabled=False, max_attempts=1, backoff_base=0.01, backoff_cap=0.02)


@dataclass
class SlowCouncil(PartnerSimulator):
    """The council's endpoint, taking 50 ms per delivery and noting which are in flight at once."""

    in_flight: set[str] = field(default_factory=set)
    overlaps: list[frozenset[str]] = field(default_factory=list)

    async def _deliveries(self, request: web.Request) -> web.Response:
        rid = request.headers.get("X-Request-ID", "")
        self.in_flight.add(rid)
        self.overlaps.append(frozenset(self.in_flight))
        try:
            await asyncio.sleep(0.05)
            return await super()._deliveries(request)
        finally:
            self.in_flight.discard(rid)


async def test_one_delivery_at_a_time_per_person_and_recipient(
    aiohttp_client: Any, database: Database
) -> None:
    """Two crises about A and one about B: A's older and B's go together; A's newer only once
    A's older is delivered (then at once, leased as A's older is recorded). Keys name the
    recipient and the index's person id, never an identifier."""
    council = SlowCouncil("slow council")
    url = await council.start()
    try:
        async for h in start_harness(
            aiohttp_client, database, delivery=MANUAL, partners=partners(**{"council-demo": url})
        ):
            await introduce(h, A, B)
            a1 = await send_crisis(h, A)
            a2 = await send_crisis(h, A)
            b1 = await send_crisis(h, B)
            stored = await rows(h.engine)
            keys = [r["ordering_key"] for r in stored]
            assert keys[0] == keys[1] != keys[2]
            assert all(k.startswith("council-demo:") for k in keys)
            assert not any(n in "".join(keys) for n in (A.child_nhs, B.child_nhs, A.la_child_id))
            assert 3 == await h.client.app[DELIVERY].run_once()
            assert 0 == await h.client.app[DELIVERY].run_once()
            # Delivered rows no longer need their key (the ordering index keeps to the rest).
            assert [None, None, None] == [r["ordering_key"] for r in await rows(h.engine)]
    finally:
        await council.stop()
    received = [r.request_id for r in council.received]
    assert received.index(a1) < received.index(a2)
    assert {a1, b1} in [set(overlap) for overlap in council.overlaps]
    assert not [o for o in council.overlaps if {a1, a2} <= o]


async def test_a_dead_letter_holds_back_its_key_until_replayed(
    aiohttp_client: Any, database: Database
) -> None:
    """A's first delivery dies; A's second waits (never attempted) while B's goes; after the
    replay both of A's go, in order. An unkeyed row is not held back."""
    async for h in start_harness(aiohttp_client, database, council_fail_first=1, delivery=MANUAL):
        await introduce(h, A, B)
        a1 = await send_crisis(h, A)
        worker = h.client.app[DELIVERY]
        assert 1 == await worker.run_once()
        (dead,) = await rows(h.engine)
        assert ("dead", "HTTP 503") == (dead["status"], dead["last_error"])

        a2 = await send_crisis(h, A)
        b1 = await send_crisis(h, B)
        assert 1 == await worker.run_once()
        assert 0 == await worker.run_once()
        assert [b1] == [r.request_id for r in h.council.received]
        held = next(r for r in await rows(h.engine) if r["request_id"] == a2)
        assert ("pending", 0) == (held["status"], held["attempts"])

        done = await replay(
            h.client.app[SERVICES], dead["id"], operator="ops.engineer", request_id=None
        )
        assert done is not None
        assert 2 == await worker.run_once()  # the replayed one, then the one held behind it
        assert 0 == await worker.run_once()
        assert [b1, a1, a2] == [r.request_id for r in h.council.received]
        assert {"delivered"} == {r["status"] for r in await rows(h.engine)}

        # A row without a key goes whatever is ahead of it.
        a3 = await send_crisis(h, A)
        h.council.fail_first = h.council.attempts + 1  # the next attempt fails: a3 dies
        assert 1 == await worker.run_once()
        a4 = await send_crisis(h, A)
        unkeyed = next(r for r in await rows(h.engine) if r["request_id"] == a4)
        await change(h.engine, unkeyed["id"], ordering_key=None)
        assert 1 == await worker.run_once()
        assert a4 == h.council.received[-1].request_id
        assert "dead" == next(r for r in await rows(h.engine) if r["request_id"] == a3)["status"]


async def test_two_workers_sharing_the_outbox_keep_the_order(
    aiohttp_client: Any, database: Database
) -> None:
    """Two workers (as two gateway processes) claiming at the same moment: never two deliveries
    about one person in flight at once, each delivered once, in order."""
    council = SlowCouncil("slow council")
    url = await council.start()
    try:
        async for h in start_harness(
            aiohttp_client, database, delivery=MANUAL, partners=partners(**{"council-demo": url})
        ):
            await introduce(h, A, B)
            sent = [await send_crisis(h, family) for family in (A, A, B, B, A)]
            services = h.client.app[SERVICES]
            async with aiohttp.ClientSession() as session:
                other = DeliveryWorker(services, session, h.client.app[METRICS])
                mine = h.client.app[DELIVERY]
                for _ in range(10):
                    if 0 == sum(await asyncio.gather(mine.run_once(), other.run_once())):
                        break
    finally:
        await council.stop()
    received = [r.request_id for r in council.received]
    assert 5 == len(received) == len(set(received))
    families = {"A": [sent[0], sent[1], sent[4]], "B": [sent[2], sent[3]]}
    for name, ids in families.items():
        assert ids == [r for r in received if r in ids], name
        assert all(len(overlap & set(ids)) <= 1 for overlap in council.overlaps), name
    assert any(len(overlap) == 2 for overlap in council.overlaps)  # A and B did go together


async def test_stopping_gives_back_the_next_lease(aiohttp_client: Any, database: Database) -> None:
    """A worker stopped while delivering A's first finishes and records it, and gives back the
    lease it took on A's second, which is left pending for whoever runs next."""
    council = SlowCouncil("slow council")
    url = await council.start()
    running = DeliverySettings(poll_interval=0.02, backoff_base=0.01, backoff_cap=0.02)
    try:
        async for h in start_harness(
            aiohttp_client, database, delivery=running, partners=partners(**{"council-demo": url})
        ):
            await introduce(h, A)
            first = await send_crisis(h, A)
            second = await send_crisis(h, A)
            for _ in range(250):
                if council.in_flight:
                    break
                await asyncio.sleep(0.01)
            assert {first} == council.in_flight
            await h.client.app[DELIVERY].stop()
            done, waiting = await rows(h.engine)
            assert "delivered" == done["status"]
            assert ("pending", 0, None) == (
                waiting["status"],
                waiting["attempts"],
                waiting["lease_until"],
            )
            assert [first] == [r.request_id for r in council.received]
            assert second == waiting["request_id"]
    finally:
        await council.stop()
