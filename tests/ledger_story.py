"""A ledger with something in it, for the export and archive tests: real exchanges through the
running gateway (a share, a refusal, a delivery, a look-up), and the `joinedup` command run
against the same database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.cli import main
from tests.conftest import OTHER_COUNCIL_KEY, TRUST_KEY, Database
from tests.gateway_harness import Harness, child_status, crisis_bundle

MOTHER_NHS = "9000000009"
CHILD_NHS = "9000000017"
NHS = "https://fhir.nhs.uk/Id/nhs-number"


@dataclass(frozen=True)
class Story:
    """What the story left in the ledger."""

    entries: list[dict[str, Any]]
    permit: dict[str, Any]  # the share to council 999
    refusal: dict[str, Any]  # the refusal to council 998 (no agreement)
    subject: str  # the mother's person id
    child: str  # the child's person id (999's record)
    request_id: str


async def wait_for_event(h: Harness, event: str, count: int = 1) -> list[dict[str, Any]]:
    """The ledger's entries once ``count`` entries of ``event`` are there (or fail after 5 s)."""
    for _ in range(250):
        entries = await h.entries()
        if sum(1 for e in entries if e["event"] == event) >= count:
            return entries
        await asyncio.sleep(0.02)
    pytest.fail(f"no {event} entry in the ledger after 5 s")


async def share_and_refuse(h: Harness) -> Story:
    """The crisis story with a second council that has no agreement, then a look-up."""
    assert 202 == (await h.post_csc(child_status())).status
    assert 202 == (await h.post_csc(child_status("998", "OTHER-77"), key=OTHER_COUNCIL_KEY)).status
    response = await h.post_fhir(crisis_bundle())
    assert 202 == response.status
    summary = await response.json()
    await h.council.wait_for(1)
    lookup = await h.client.get(
        "/api/v1/workers",
        params={"identifier": f"{NHS}|{CHILD_NHS}", "role": "allocated-social-worker"},
        headers={"Authorization": f"Bearer {TRUST_KEY}"},
    )
    assert 200 == lookup.status
    entries = await wait_for_event(h, "delivery.attempted")
    decisions = [
        e
        for e in entries
        if e["event"] == "disclosure.decided" and e["exchange_id"] == summary["exchange_id"]
    ]
    permit = next(e for e in decisions if e["outcome"] == "permit")
    refusal = next(e for e in decisions if e["outcome"] == "refuse")
    received = next(
        e
        for e in entries
        if e["event"] == "exchange.received" and e["exchange_id"] == summary["exchange_id"]
    )
    (subject,) = received["person_ids"]
    (child,) = [p for p in permit["person_ids"] if p != subject]
    return Story(entries, permit, refusal, subject, child, summary["request_id"])


def use_database(monkeypatch: pytest.MonkeyPatch, database: Database) -> None:
    """Point the `joinedup` command at the test database through its environment."""
    monkeypatch.setenv("JOINEDUP_DATABASE_URL", database.url)
    if database.schema:
        monkeypatch.setenv("JOINEDUP_DATABASE_SCHEMA", database.schema)


async def joinedup(*argv: str) -> int:
    """Run the `joinedup` command in a thread (it runs its own event loop)."""
    return await asyncio.to_thread(main, list(argv))
