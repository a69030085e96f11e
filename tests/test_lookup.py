"""The look-up door: who is the worker for this person, answered from the index under policy."""

from __future__ import annotations

from typing import Any

from tests.conftest import COUNCIL_KEY, OTHER_COUNCIL_KEY, TRUST_KEY
from tests.gateway_harness import Harness, child_status, crisis_bundle

NHS = "https://fhir.nhs.uk/Id/nhs-number"


async def _lookup(
    h: Harness, key: str, identifier: str, role: str
) -> tuple[int, dict[str, Any], str]:
    response = await h.client.get(
        "/api/v1/workers",
        params={"identifier": identifier, "role": role},
        headers={"Authorization": f"Bearer {key}"},
    )
    return response.status, await response.json(content_type=None), response.content_type


async def test_council_learns_the_care_coordinator(h: Harness) -> None:
    """After a crisis message, the council can ask who the mother's care coordinator is."""
    assert 202 == (await h.post_csc(child_status())).status
    assert 202 == (await h.post_fhir(crisis_bundle())).status
    status, body, _ = await _lookup(h, COUNCIL_KEY, f"{NHS}|9000000009", "care-coordinator")
    assert 200 == status
    workers = body["workers"]
    assert isinstance(workers, list)
    assert ["RX9"] == [w["organisation"] for w in workers]
    assert workers[0]["telecom"]
    assert "care-coordinator-contact" == workers[0]["agreement"]["flow"]
    entries = [e for e in await h.entries() if e["event"] == "lookup.decided"]
    assert ["permit"] == [e["outcome"] for e in entries]


async def test_trust_learns_the_allocated_social_worker(h: Harness) -> None:
    """The trust can ask who the child's allocated social worker is, once it knows the child's
    mother (its own patient): the look-up covers the trust's patients and their children."""
    assert 202 == (await h.post_csc(child_status())).status
    assert 202 == (await h.post_fhir(crisis_bundle())).status
    status, body, _ = await _lookup(h, TRUST_KEY, f"{NHS}|9000000017", "allocated-social-worker")
    assert 200 == status
    assert ["999"] == [w["organisation"] for w in body["workers"]]


async def test_unknown_and_not_allowed_look_the_same(h: Harness) -> None:
    """A council without an agreement gets the same 404 as for an unknown person; both are audited."""
    assert 202 == (await h.post_csc(child_status())).status
    refused = await _lookup(h, OTHER_COUNCIL_KEY, f"{NHS}|9000000017", "allocated-social-worker")
    unknown = await _lookup(h, TRUST_KEY, f"{NHS}|9000000025", "allocated-social-worker")
    assert (404, 404) == (refused[0], unknown[0])
    assert refused[1]["detail"] == unknown[1]["detail"]
    outcomes = [e["outcome"] for e in await h.entries() if e["event"] == "lookup.decided"]
    assert ["refuse", "not-found"] == outcomes


async def test_bad_identifier_names_the_parameter(h: Harness) -> None:
    """An invalid NHS number is a problem+json 400 naming `identifier`, without echoing it."""
    status, body, ctype = await _lookup(h, TRUST_KEY, f"{NHS}|9000000008", "care-coordinator")
    assert (400, "application/problem+json") == (status, ctype)
    assert [{"element": "identifier", "code": "value"}] == [
        {k: e[k] for k in ("element", "code")} for e in body["errors"]
    ]
    assert "9000000008" not in str(body)


async def test_unknown_role_is_refused(h: Harness) -> None:
    """An unknown role is a 400 naming `role`."""
    status, body, _ = await _lookup(h, TRUST_KEY, f"{NHS}|9000000009", "astrologer")
    assert 400 == status
    assert "role" == body["errors"][0]["element"]


async def test_lookup_needs_a_key(h: Harness) -> None:
    """No key, no answer."""
    response = await h.client.get("/api/v1/workers", params={"identifier": f"{NHS}|9000000009"})
    assert 401 == response.status
    assert "application/problem+json" == response.content_type
