"""The directory door and the worker look-up: who holds a role, and how to reach them *now*
(office hours, out of hours, bank holidays), under policy, audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.app import create_app
from gateway.errors import ConfigurationError
from tests.conftest import COUNCIL_KEY, OTHER_COUNCIL_KEY, TRUST_KEY, Database, make_settings
from tests.directory.helpers import DEMO_DIRECTORY, write_yaml
from tests.gateway_harness import (
    Harness,
    MovableClock,
    child_status,
    crisis_bundle,
    start_harness,
)

ROUTE = "/api/v1/directory/organisations/{}/roles"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
MONDAY_10AM = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # GMT in winter: 10:00 in London
SATURDAY_10PM = datetime(2026, 12, 5, 22, 0, tzinfo=UTC)
MONDAY_9AM = "2026-12-07T09:00:00+00:00"
CHRISTMAS_11AM = datetime(2026, 12, 25, 11, 0, tzinfo=UTC)  # a Friday, a bank holiday
MASH = {"system": "phone", "value": "01632 960750", "out_of_hours": False}
MASH_EMAIL = {"system": "email", "value": "mash@council999.example", "out_of_hours": False}
EDT = {"system": "phone", "value": "01632 960800", "out_of_hours": True}
EDT_LINE = {"system": "phone", "value": "01632 960800", "out_of_hours": False}


@pytest.fixture
async def clock() -> MovableClock:
    return MovableClock(MONDAY_10AM)


@pytest.fixture
async def hd(
    aiohttp_client: Any, database: Database, clock: MovableClock
) -> AsyncIterator[Harness]:
    """A gateway with the demo directory loaded at start-up and a clock the test sets."""
    async for h in start_harness(
        aiohttp_client, database, clock=clock, directory_file=DEMO_DIRECTORY
    ):
        yield h


async def _ask(h: Harness, key: str, code: str, role: str | None) -> tuple[int, dict[str, Any]]:
    params = {"role": role} if role is not None else {}
    response = await h.client.get(
        ROUTE.format(code), params=params, headers={"Authorization": f"Bearer {key}"}
    )
    return response.status, await response.json(content_type=None)


async def _lookups(h: Harness) -> list[tuple[str, str, str, str | None]]:
    return [
        (e["outcome"], e["reason_code"], e["role"], e.get("agreement_id"))
        for e in await h.entries()
        if e["event"] == "lookup.decided"
    ]


async def test_front_door_in_office_hours(hd: Harness) -> None:
    """On a Monday morning the council's front door is the MASH's office line, and the answer
    says the offices are open; the look-up is audited under the agreement the two share."""
    status, body = await _ask(hd, TRUST_KEY, "999", "front-door")
    assert 200 == status
    assert (True, "front-door") == (body["in_hours"], body["role"])
    assert "next_opening" not in body
    assert {"code": "999", "kind": "local-authority"} == {
        k: body["organisation"][k] for k in ("code", "kind")
    }
    [entry] = body["entries"]
    assert "reach_now" == next(iter(entry))
    assert {"via": "office", "contacts": [MASH, MASH_EMAIL]} == entry["reach_now"]
    assert ("Northtown Multi-Agency Safeguarding Hub (MASH)", "file") == (
        entry["team"],
        entry["source"],
    )
    assert [EDT] == entry["out_of_hours"]
    assert [("permit", "agreement-parties", "front-door", "demo-trust-council")] == await _lookups(
        hd
    )


async def test_front_door_out_of_hours_leads_with_the_duty_line(
    hd: Harness, clock: MovableClock
) -> None:
    """On a Saturday night the answer says in_hours false, when the offices next open, and leads
    with the front door's own out-of-hours number (the emergency duty team)."""
    clock.now = SATURDAY_10PM
    status, body = await _ask(hd, TRUST_KEY, "999", "front-door")
    assert 200 == status
    assert (False, MONDAY_9AM) == (body["in_hours"], body["next_opening"])
    assert {"via": "out-of-hours", "contacts": [EDT]} == body["entries"][0]["reach_now"]


async def test_a_role_without_its_own_out_of_hours_falls_back_to_the_organisations_edt(
    hd: Harness, clock: MovableClock
) -> None:
    """The council's safeguarding lead has office contacts only: out of hours the answer gives
    the council's out-of-hours entry (the EDT), named; in hours the lead's own contacts."""
    status, body = await _ask(hd, TRUST_KEY, "999", "safeguarding-lead-children")
    assert 200 == status
    [entry] = body["entries"]
    assert "office" == entry["reach_now"]["via"]
    assert ({"given": ["Owen"], "family": "Price"}, "SW118802") == (
        entry["name"],
        entry["registration"],
    )
    clock.now = CHRISTMAS_11AM
    status, body = await _ask(hd, TRUST_KEY, "999", "safeguarding-lead-children")
    assert (200, False) == (status, body["in_hours"])
    assert {
        "via": "organisation-out-of-hours",
        "contacts": [EDT_LINE],
        "team": "Emergency Duty Team",
    } == body["entries"][0]["reach_now"]


async def test_the_trusts_roles_with_professional_registration(hd: Harness) -> None:
    """The council can find the trust's adult safeguarding lead, a nurse with an NMC PIN."""
    status, body = await _ask(hd, COUNCIL_KEY, "RX9", "safeguarding-lead-adults")
    assert 200 == status
    [entry] = body["entries"]
    assert ("12A3456E", "RX9-W0101") == (entry["professional_registration"], entry["worker_id"])
    assert "Demo Mental Health NHS Trust" == body["organisation"]["name"]


async def test_default_deny_unknown_and_not_allowed_look_the_same(hd: Harness) -> None:
    """The other council (998) shares no agreement with council 999, and no agreement names an
    organisation 997: those look-ups get the same 404 as the trust asking about 998 (a party to
    an agreement with it, with no directory entries) or about an empty role. Each is audited.
    998 may read the trust's directory (they share an agreement); a council may read its own."""
    refused = await _ask(hd, OTHER_COUNCIL_KEY, "999", "front-door")
    no_party = await _ask(hd, TRUST_KEY, "997", "front-door")
    unknown = await _ask(hd, TRUST_KEY, "998", "front-door")
    empty = await _ask(hd, TRUST_KEY, "999", "amhp")
    assert [404] * 4 == [refused[0], no_party[0], unknown[0], empty[0]]
    assert 1 == len({refused[1]["detail"], no_party[1]["detail"], unknown[1]["detail"]})
    assert refused[1]["detail"] == empty[1]["detail"]
    allowed = await _ask(hd, OTHER_COUNCIL_KEY, "RX9", "safeguarding-lead-children")
    own = await _ask(hd, COUNCIL_KEY, "999", "link-worker")
    assert (200, 200) == (allowed[0], own[0])
    assert [
        ("refuse", "no-agreement", "front-door", None),
        ("refuse", "no-agreement", "front-door", None),
        ("not-found", "unknown-organisation", "front-door", None),
        ("not-found", "no-entry-in-role", "amhp", None),
        ("permit", "agreement-parties", "safeguarding-lead-children", "test-other-council"),
        ("permit", "own-organisation", "link-worker", None),
    ] == await _lookups(hd)
    assert (await hd.verify()).intact


@pytest.mark.parametrize(
    ("code", "role", "element"),
    [
        ("999", "astrologer", "role"),
        ("999", "care-coordinator", "role"),
        ("999", None, "role"),
        ("9999", "front-door", "code"),
        ("rx9", "front-door", "code"),
        ("R-9", "front-door", "code"),
    ],
)
async def test_bad_code_or_role_is_a_400_naming_it(
    h: Harness, code: str, role: str | None, element: str
) -> None:
    """An unknown or per-person role, or a malformed code, is a problem+json 400 naming the
    parameter, without repeating what was sent; nothing is looked up."""
    response = await h.client.get(
        ROUTE.format(code),
        params={"role": role} if role else {},
        headers={"Authorization": f"Bearer {TRUST_KEY}"},
    )
    body = await response.json(content_type=None)
    assert (400, "application/problem+json") == (response.status, response.content_type)
    assert [element] == [e["element"] for e in body["errors"]]
    assert "astrologer" not in str(body)
    assert [] == [e for e in await h.entries() if e["event"] == "lookup.decided"]


async def test_directory_needs_a_token(h: Harness) -> None:
    """No token, no answer (and no hint whether the code is valid)."""
    response = await h.client.get(ROUTE.format("999"), params={"role": "front-door"})
    assert 401 == response.status


async def test_worker_lookup_says_how_to_reach_the_worker_now(
    hd: Harness, clock: MovableClock
) -> None:
    """The trust asks for the child's allocated social worker: in hours the worker's office
    contacts; out of hours, as the worker has none of their own here, the council's EDT from the
    directory."""
    status_body = child_status()
    del status_body["out_of_hours"]
    assert 202 == (await hd.post_csc(status_body)).status
    assert 202 == (await hd.post_fhir(crisis_bundle())).status
    params = {"identifier": f"{NHS}|9000000017", "role": "allocated-social-worker"}
    headers = {"Authorization": f"Bearer {TRUST_KEY}"}

    response = await hd.client.get("/api/v1/workers", params=params, headers=headers)
    body = await response.json()
    assert (200, True) == (response.status, body["in_hours"])
    [worker] = body["workers"]
    assert "office" == worker["reach_now"]["via"]
    assert {"system": "phone", "value": "01632 960555", "out_of_hours": False} in worker[
        "reach_now"
    ]["contacts"]

    clock.now = SATURDAY_10PM
    response = await hd.client.get("/api/v1/workers", params=params, headers=headers)
    body = await response.json()
    assert (200, False, MONDAY_9AM) == (response.status, body["in_hours"], body["next_opening"])
    assert {
        "via": "organisation-out-of-hours",
        "contacts": [EDT_LINE],
        "team": "Emergency Duty Team",
    } == body["workers"][0]["reach_now"]


async def test_worker_lookup_out_of_hours_prefers_the_workers_own_line(
    hd: Harness, clock: MovableClock
) -> None:
    """A worker whose record gives an out-of-hours contact is reached on it out of hours."""
    assert 202 == (await hd.post_csc(child_status())).status
    assert 202 == (await hd.post_fhir(crisis_bundle())).status
    clock.now = SATURDAY_10PM
    response = await hd.client.get(
        "/api/v1/workers",
        params={"identifier": f"{NHS}|9000000017", "role": "allocated-social-worker"},
        headers={"Authorization": f"Bearer {TRUST_KEY}"},
    )
    body = await response.json()
    assert {"via": "out-of-hours", "contacts": [EDT]} == body["workers"][0]["reach_now"]


async def test_startup_load_is_recorded_once_and_a_bad_file_stops_startup(
    aiohttp_client: Any, database: Database, tmp_path: Any
) -> None:
    """The configured directory_file is loaded at start-up with one directory.loaded entry; a
    restart with the same file records nothing more; an invalid file stops start-up, naming the
    element and the rule, never the value."""
    for _ in range(2):
        async for h in start_harness(aiohttp_client, database, directory_file=DEMO_DIRECTORY):
            loaded = [e for e in await h.entries() if e["event"] == "directory.loaded"]
            assert [("start-up", 12)] == [(e["by"], e["entries"]) for e in loaded]
    bad = write_yaml(
        tmp_path / "bad.yaml",
        {
            "organisations": [
                {
                    "code": "999",
                    "kind": "local-authority",
                    "name": "Demo Council",
                    "telecom": [{"system": "phone", "value": "01632 9607"}],
                }
            ]
        },
    )
    app = create_app(make_settings(database, directory_file=bad))
    app.on_startup.freeze()
    app.on_cleanup.freeze()
    with pytest.raises(
        ConfigurationError,
        match=r"organisations\[0\]\.telecom\[0\]\.value: is not a UK telephone number",
    ) as err:
        await app.startup()
    await app.cleanup()
    assert "01632 9607" not in err.value.detail
