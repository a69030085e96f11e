"""Think family from a CIN census import: the import writes the index without the pipeline, and
each child it makes open to social care whose parent has a care coordinator is flagged after the
batch, through the same stages, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gateway.appkeys import SETTINGS
from gateway.imports import import_cin_census
from schemas.identifiers import UPN_SYSTEM
from tests.conftest import FIXTURES, Database
from tests.gateway_harness import Harness, crisis_bundle
from tests.gateway_harness import fresh_message as fresh
from tests.workflows.test_think_family import (
    by_kind,
    fhir_flags,
    flags,
    think_family,
    think_family_harness,
)

CENSUS = FIXTURES / "cin" / "clean-2021.xml"
UPN = "A123456789012"  # the census's first child, open since 2020 with a child protection plan


@pytest.fixture
async def h(aiohttp_client: Any, database: Database) -> AsyncIterator[Harness]:
    """The harness with the think-family agreement."""
    async for harness in think_family_harness(aiohttp_client, database):
        yield harness


def crisis_naming_the_childs_upn() -> dict[str, Any]:
    """The trust's crisis message, its RelatedPerson child known by NHS number and UPN."""
    bundle = fresh(crisis_bundle())
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "RelatedPerson":
            resource["identifier"] = [
                i for i in resource["identifier"] if "la-child-id" not in i["system"]
            ] + [{"system": UPN_SYSTEM, "value": UPN}]
    return bundle


async def test_a_census_child_made_open_is_flagged_once(h: Harness) -> None:
    """The trust's patient has a care coordinator and a child the council has not told the
    gateway about; the council's census return opens the child: both flags, naming the council
    (no worker is allocated in a census), once; importing again raises nothing."""
    assert 202 == (await h.post_fhir(crisis_naming_the_childs_upn())).status
    assert [] == think_family(await h.entries())
    settings = h.client.app[SETTINGS]
    report = await import_cin_census([CENSUS], settings, progress=False)
    assert 0 == report.exit_code
    decided = think_family(await h.entries())
    assert [("999", "permit"), ("RX9", "permit")] == sorted(
        (e["recipient_organisation"], e["outcome"]) for e in decided
    )
    received = [e for e in await h.entries() if e["event"] == "exchange.received"]
    assert "cin-census-child" == received[-1]["kind"]
    (to_trust,) = fhir_flags(await h.trust.wait_for(1))
    resources = [e["resource"]["resourceType"] for e in to_trust["entry"]]
    assert "Flag" in resources
    assert "RelatedPerson" not in resources
    assert UPN.encode() not in orjson.dumps(to_trust)
    (to_council,) = by_kind(await h.council.wait_for(1), "think-family")
    assert "TEST-CH-0001" == to_council["child"]["la_child_id"]
    assert "care-coordinator" in [c["role"] for c in to_council["worker_contacts"]]
    assert 2 == len(await flags(h))
    again = await import_cin_census([CENSUS], settings, progress=False)
    assert 0 == again.exit_code
    assert 2 == len(think_family(await h.entries()))
