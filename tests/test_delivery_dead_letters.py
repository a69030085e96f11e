"""The dead-letter page (``/review/dead-letters``) and its Replay form, over the real server: who
may see and use it, what it shows (never a body), and the replay's ledger entry naming the
operator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import DeliverySettings
from tests.conftest import Database
from tests.delivery_helpers import Family, introduce, rows, send_crisis, until_rows
from tests.gateway_harness import Harness
from tests.review_helpers import (
    OFFICER,
    OFFICER_PASSWORD,
    OPS,
    OPS_PASSWORD,
    Browser,
    assert_no_record_content,
    csrf_of,
    events,
    review_harness,
)

MOTHER = Family(20)
PAGE = "/review/dead-letters"


@pytest.fixture
async def dead(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> AsyncIterator[tuple[Harness, str, str]]:
    """A gateway whose council refused its first delivery (dead at once: one attempt allowed);
    a second crisis about the same mother waits behind it."""
    delivery = DeliverySettings(
        poll_interval=0.02, backoff_base=0.01, backoff_cap=0.02, max_attempts=1
    )
    async for h in review_harness(
        aiohttp_client, database, tmp_path, council_fail_first=1, delivery=delivery
    ):
        await introduce(h, MOTHER)
        await send_crisis(h, MOTHER)

        await until_rows(
            h.engine,
            lambda found: [("dead", "HTTP 503")] == [(r["status"], r["last_error"]) for r in found],
            what="the first delivery's dead-lettering",
        )
        await send_crisis(h, MOTHER)
        first, second = await rows(h.engine)
        yield h, first["id"], second["id"]


async def test_ops_see_dead_letters_without_any_content(dead: tuple[Harness, str, str]) -> None:
    """Partner, kind, attempts, last error, age and what it holds back; never the body."""
    h, dead_id, _ = dead
    page = await (await Browser(h).signed_in(OPS, OPS_PASSWORD)).page(PAGE)
    assert dead_id in page
    for shown in ("council-demo", "crisis-event", "HTTP 503", "Replay", "Dead letters"):
        assert shown in page
    assert ">1</td>" in page  # one attempt, one delivery held back
    assert_no_record_content(page)
    for content in (MOTHER.mother_nhs, MOTHER.child_nhs, MOTHER.la_child_id, "Jane", "Priya"):
        assert content not in page
    assert "/review/exchanges/" not in page  # the exchange pages are for IG officers
    officer = await (await Browser(h).signed_in(OFFICER, OFFICER_PASSWORD)).page(PAGE)
    assert "/review/exchanges/" in officer


async def test_replay_is_recorded_naming_the_operator_and_delivers_in_order(
    dead: tuple[Harness, str, str],
) -> None:
    """Replay puts the row back (attempts kept), records delivery.replayed with the ops account;
    the council (now up) receives the replayed delivery, then the one held behind it."""
    h, dead_id, waiting_id = dead
    b = await Browser(h).signed_in(OPS, OPS_PASSWORD)
    response = await b.post_form(f"{PAGE}/{dead_id}/replay", {}, token_from=PAGE)
    assert 303 == response.status
    assert f"{PAGE}?replayed={dead_id}" == response.headers["Location"]
    (replayed,) = await events(h, "delivery.replayed")
    assert (dead_id, OPS, 1, "council-demo") == (
        replayed["outbox_id"],
        replayed["operator"],
        replayed["attempts_before"],
        replayed["partner"],
    )
    assert replayed["request_id"]
    await h.council.wait_for(2)
    assert [dead_id, waiting_id] == [r.idempotency_key for r in h.council.received]

    await until_rows(
        h.engine, lambda found: {"delivered"} == {r["status"] for r in found}, what="both"
    )
    first = next(r for r in await rows(h.engine) if r["id"] == dead_id)
    assert 2 == first["attempts"]  # kept for the record: the failed one and the replayed one
    notice = await b.page(f"{PAGE}?replayed={dead_id}")
    assert "back in the outbox" in notice
    assert "There are no dead-lettered deliveries." in notice
    # A second replay of the same row changes nothing and records nothing.
    again = await b.post_form(f"{PAGE}/{dead_id}/replay", {}, token_from=PAGE)
    assert 409 == again.status
    assert 1 == len(await events(h, "delivery.replayed"))
    assert (await h.verify()).intact


async def test_replay_needs_a_signed_in_operator_and_the_form_token(
    dead: tuple[Harness, str, str],
) -> None:
    """Without a session: sent to sign in; without or with a wrong CSRF token: 403; each refusal
    recorded, and the row still dead. A malformed id is a 404 page."""
    h, dead_id, _ = dead
    anonymous = Browser(h)
    response = await anonymous.get(PAGE)
    assert 303 == response.status
    assert response.headers["Location"].startswith("/review/login")
    posted = await anonymous.post_form(f"{PAGE}/{dead_id}/replay", {})
    assert 303 == posted.status
    b = await Browser(h).signed_in(OPS, OPS_PASSWORD)
    assert 403 == (await b.post_form(f"{PAGE}/{dead_id}/replay", {})).status
    forged = await b.post_form(f"{PAGE}/{dead_id}/replay", {"csrf_token": "forged"})
    assert 403 == forged.status
    token = csrf_of(await b.page(PAGE))
    malformed = await b.post_form(f"{PAGE}/not-a-uuid/replay", {"csrf_token": token})
    assert 404 == malformed.status
    assert "There is no delivery with this id." in await malformed.text()
    reasons = [e["reason"] for e in await events(h, "access.refused")]
    assert ["not-authenticated", "not-authenticated", "csrf", "csrf"] == reasons
    assert [] == await events(h, "delivery.replayed")
    assert "dead" == next(r for r in await rows(h.engine) if r["id"] == dead_id)["status"]
