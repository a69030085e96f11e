"""Access notification (issue 7 item 6), end to end: a trust user looks up a child's protection
status; the answer is the CP-IS dataset under the council's flow, and the child's allocated social
worker's system is told who looked and why, in the same commit as the look-up's audit entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from gateway.store.tables import outbox
from tests.conftest import COUNCIL_KEY, OTHER_COUNCIL_KEY, TRUST_KEY, Database
from tests.gateway_harness import Harness, child_status
from tests.workflows.test_think_family import delivered, think_family_harness

NHS = "https://fhir.nhs.uk/Id/nhs-number"
CHILD, UNKNOWN = "9000000017", "9000000025"
WHO = {
    "X-Accessing-User": "uid-555123456789",
    "X-Accessing-Role": "unscheduled-care-clinician",  # an emergency department clinician
    "X-Accessing-Organisation": "RX9",
}


@pytest.fixture
async def h(aiohttp_client: Any, database: Database) -> AsyncIterator[Harness]:
    """The harness with the think-family agreement (the access-notification flow is in it)."""
    async for harness in think_family_harness(aiohttp_client, database):
        yield harness


async def look(
    h: Harness,
    nhs: str = CHILD,
    *,
    key: str = TRUST_KEY,
    purpose: str | None = "safeguarding-child",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    params = {"identifier": f"{NHS}|{nhs}"}
    if purpose is not None:
        params["purpose"] = purpose
    response = await h.client.get(
        "/api/v1/children/status",
        params=params,
        headers={"Authorization": f"Bearer {key}", **(WHO if headers is None else headers)},
    )
    return response.status, await response.json(content_type=None)


def events(entries: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["event"] == name]


async def test_a_trust_users_look_up_is_answered_and_the_social_worker_told(h: Harness) -> None:
    """The answer holds the current plan (kind and start, no category), the allocated worker and
    the out-of-hours line; the council receives who looked (user id, role, organisation), when
    and why, and not what was seen; the look-up and the notification share one commit."""
    assert 202 == (await h.post_csc(child_status())).status
    status, body = await look(h)
    assert 200 == status, body
    (answer,) = body["statuses"]
    assert "999" == answer["organisation"]
    assert [{"kind": "child-protection", "start": "2025-01-20"}] == answer["plans"]
    assert {"given": ["Priya"], "family": "Shah"} == answer["allocated_worker"]["name"]
    assert "01632 960800" in [t["value"] for t in answer["out_of_hours"]]
    assert b"EMO" not in orjson.dumps(body)  # the plan's category is not in the CP-IS dataset
    assert ["999"] == body["notified"]
    (received,) = await h.council.wait_for(1)
    notice = orjson.loads(received.body)
    assert "access-notification" == notice["kind"]
    assert "safeguarding-child" == notice["purpose"]
    assert "CH000123" == notice["child"]["la_child_id"]
    assert "SW0042" == notice["to"]["worker_id"]
    (who,) = [c for c in notice["worker_contacts"] if c["role"] == "unscheduled-care-clinician"]
    assert "uid-555123456789" == who["worker"]["worker_id"]
    assert "RX9" in [o["ods_code"] for o in notice["organisations"]]
    # Not what was seen: no plan, no episode, no name of the child.
    assert [] == notice["social_care_episodes"]
    assert None is notice["child"]["surname"]
    entries = await h.entries()
    (lookup,) = events(entries, "lookup.decided")
    (decided,) = events(entries, "disclosure.decided")
    assert ("permit", "child-status") == (lookup["outcome"], lookup["role"])
    assert ("permit", "access-notification-to-council") == (
        decided["outcome"],
        decided["flow_id"],
    )
    assert lookup["request_id"] == decided["request_id"]
    assert lookup["seq"] + 1 == decided["seq"] or decided["seq"] + 1 == lookup["seq"]
    # The user's id is the council's to know, not the ledger's.
    assert b"uid-555123456789" not in orjson.dumps(entries)
    await delivered(h, 1)
    assert (await h.verify()).intact


async def test_refusals_look_alike_and_are_recorded(h: Harness) -> None:
    """An unknown child, a child of the council asked by another council, and a purpose no flow
    covers: the same 404, each recorded, nothing sent. A missing header is a 400 naming it."""
    assert 202 == (await h.post_csc(child_status())).status
    unknown = await look(h, UNKNOWN)
    other_headers = WHO | {"X-Accessing-Organisation": "998"}
    other = await look(h, key=OTHER_COUNCIL_KEY, headers=other_headers)
    wrong_purpose = await look(h, purpose="referral")
    answers = [(status, body["detail"]) for status, body in (unknown, other, wrong_purpose)]
    assert [answers[0]] * 3 == answers
    assert 404 == unknown[0]
    lookups = events(await h.entries(), "lookup.decided")
    assert [("not-found", "unknown-person"), ("refuse", "no-agreement")] == [
        (e["outcome"], e["reason_code"]) for e in lookups[:2]
    ]
    assert "refuse" == lookups[2]["outcome"]
    for header in WHO:
        status, body = await look(h, headers={k: v for k, v in WHO.items() if k != header})
        assert 400 == status
        assert header in orjson.dumps(body).decode()
    status, body = await look(h, purpose=None)
    assert 400 == status
    refused = events(await h.entries(), "exchange.refused")
    assert [["X-Accessing-User"], ["X-Accessing-Role"], ["X-Accessing-Organisation"]] == [
        e["elements"] for e in refused[:3]
    ]
    assert 4 == len(refused)
    # Another organisation's users cannot be vouched for.
    status, _ = await look(h, headers=WHO | {"X-Accessing-Organisation": "999"})
    assert 403 == status
    # A user id that is not one (spaces: a name) is refused, naming the header only.
    status, body = await look(h, headers=WHO | {"X-Accessing-User": "Jane Smith"})
    assert 400 == status
    assert "Jane" not in orjson.dumps(body).decode()
    async with h.engine.connect() as conn:
        assert 0 == (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()


async def test_the_council_cannot_use_the_trusts_door_for_its_own_child(h: Harness) -> None:
    """The council asking about its own child: no flow runs from an organisation to itself."""
    assert 202 == (await h.post_csc(child_status())).status
    status, _ = await look(h, key=COUNCIL_KEY, headers=WHO | {"X-Accessing-Organisation": "999"})
    assert 404 == status


async def test_a_council_without_a_notification_flow_answers_but_is_not_told(h: Harness) -> None:
    """Council 998 shares child status with the trust but has no access-notification flow: the
    trust's look-up is answered under 998's own child-status flow; 998 is not told, and the
    refused notification is in the ledger."""
    other = child_status("998", "NB-0033")
    other["message_id"] = "csc-998-000001"
    del other["child_details"]["unique_pupil_number"]
    raw = orjson.dumps(other).replace(CHILD.encode(), b"9000000033")
    raw = raw.replace(b"9000000009", b"9000000041")
    assert 202 == (await h.post_csc(raw, key=OTHER_COUNCIL_KEY)).status
    status, body = await look(h, "9000000033")
    assert 200 == status, body
    assert (["998"], []) == ([s["organisation"] for s in body["statuses"]], body["notified"])
    (decided,) = events(await h.entries(), "disclosure.decided")
    assert ("refuse", "998", "access-notification") == (
        decided["outcome"],
        decided["recipient_organisation"],
        decided["kind"],
    )
    async with h.engine.connect() as conn:
        assert 0 == (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
