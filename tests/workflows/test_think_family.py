"""Think family (issue 7 item 2), end to end: a trust patient with a care coordinator becomes known
as the parent of a child open to the council's social care; both sides are told, once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from gateway.store.tables import person_identifiers, think_family_flags
from tests.conftest import FIXTURES, Database, agreements_for_tests
from tests.gateway_harness import Harness, child_status, crisis_bundle, start_harness
from tests.gateway_harness import fresh_message as fresh

MOTHER, CHILD = "9000000009", "9000000017"


async def think_family_harness(aiohttp_client: Any, database: Database) -> AsyncIterator[Harness]:
    """The test gateway with the think-family agreement (deploy/agreements/demo-think-family.yaml,
    which the other tests leave out: see tests/conftest.py)."""
    directory = agreements_for_tests(think_family=True)
    async for harness in start_harness(aiohttp_client, database, agreements_dir=directory):
        yield harness


@pytest.fixture
async def h(aiohttp_client: Any, database: Database) -> AsyncIterator[Harness]:
    """The harness with the think-family agreement."""
    async for harness in think_family_harness(aiohttp_client, database):
        yield harness


def status(**changes: Any) -> dict[str, Any]:
    message = child_status()
    message["message_id"] = f"csc-999-{uuid.uuid4().hex[:8]}"
    message.update(changes)
    return message


async def flags(h: Harness) -> list[tuple[str, str, str]]:
    async with h.engine.connect() as conn:
        rows = await conn.execute(
            select(
                think_family_flags.c.parent_id,
                think_family_flags.c.child_id,
                think_family_flags.c.recipient_organisation,
            )
        )
        return sorted((str(a), str(b), str(c)) for a, b, c in rows)


def think_family(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e for e in entries if e["event"] == "disclosure.decided" and e["kind"] == "think-family"
    ]


def by_kind(received: list[Any], kind: str) -> list[dict[str, Any]]:
    bodies = [orjson.loads(r.body) for r in received]
    return [b for b in bodies if b.get("kind") == kind]


def fhir_flags(received: list[Any]) -> list[dict[str, Any]]:
    found = []
    for r in received:
        bundle = orjson.loads(r.body)
        header = bundle["entry"][0]["resource"]
        if header["eventCoding"]["code"] == "think-family":
            found.append(bundle)
    return found


async def test_a_crisis_naming_the_councils_child_raises_both_flags_once(h: Harness) -> None:
    """The council's child-status names the mother; the trust's message gives her care
    coordinator: the trust gets a FHIR Flag with the social worker's contact and nothing about
    the child, the council a summary naming the care coordinator. Repeats raise nothing."""
    assert 202 == (await h.post_csc(status())).status
    assert [] == think_family(await h.entries())  # the mother has no care coordinator yet
    response = await h.post_fhir(fresh(crisis_bundle()))
    assert 202 == response.status
    summary = await response.json()
    # The sender's 202 shows its own recipients only (the crisis notice), not the flags.
    assert ["999"] == [r["organisation"] for r in summary["recipients"]]
    decided = think_family(await h.entries())
    assert ["999", "RX9"] == sorted(e["recipient_organisation"] for e in decided)
    assert ["permit", "permit"] == [e["outcome"] for e in decided]
    flows = sorted(e["flow_id"] for e in decided)
    assert [
        "think-family-care-coordinator-to-council",
        "think-family-flag-to-care-coordinator",
    ] == flows
    (to_trust,) = fhir_flags(await h.trust.wait_for(1))
    resources = [e["resource"] for e in to_trust["entry"]]
    types = sorted(r["resourceType"] for r in resources)
    flag = next(r for r in resources if r["resourceType"] == "Flag")
    assert "think-family" == flag["category"][0]["text"]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    assert MOTHER in [i["value"] for i in patient["identifier"]]
    # Nothing about the child: no RelatedPerson, no child's NHS number anywhere.
    assert "RelatedPerson" not in types
    assert CHILD.encode() not in orjson.dumps(to_trust)
    assert b"Priya" in orjson.dumps(to_trust)  # the allocated social worker's contact
    received = await h.council.wait_for(2)
    (to_council,) = by_kind(received, "think-family")
    assert to_council["child"]["la_child_id"] == "CH000123"
    roles = [c["role"] for c in to_council["worker_contacts"]]
    assert "care-coordinator" in roles
    assert [] == to_council["diagnoses"]
    assert 2 == len(await flags(h))
    # Once only: the same messages again raise nothing.
    assert 202 == (await h.post_fhir(fresh(crisis_bundle()))).status
    assert 202 == (await h.post_csc(status())).status
    assert 2 == len(think_family(await h.entries()))
    await h.council.wait_for(3)  # the second crisis notice, and no second flag
    assert 1 == len(fhir_flags(h.trust.received))
    await delivered(h, 4)
    assert (await h.verify()).intact


def without(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """The bundle without its resources of one type."""
    bundle = fresh(bundle)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != resource_type]
    return bundle


def new_worker(message: dict[str, Any], worker_id: str, name: str, phone: str) -> dict[str, Any]:
    worker = message["social_care_episodes"][-1]["care_worker_details"][-1]
    worker.update(worker_id=worker_id, worker_name=name, phone=phone)
    worker.pop("email", None)
    return message


async def test_a_new_worker_raises_the_flag_again_a_new_phone_number_does_not(h: Harness) -> None:
    """The trust's flag names the allocated social worker: when the council allocates another,
    the trust is told again; the council is not (the care coordinator has not changed)."""
    assert 202 == (await h.post_csc(status())).status
    assert 202 == (await h.post_fhir(fresh(crisis_bundle()))).status
    assert 2 == len(think_family(await h.entries()))
    changed = new_worker(status(), "SW0077", "Robin Hale", "01632 960777")
    assert 202 == (await h.post_csc(changed)).status
    again = think_family(await h.entries())[2:]
    assert [("RX9", "permit")] == [(e["recipient_organisation"], e["outcome"]) for e in again]
    flags_to_trust = fhir_flags(await h.trust.wait_for(2))
    assert b"Robin" in orjson.dumps(flags_to_trust[-1])
    # The same worker with a new phone number: not a new worker.
    renumbered = new_worker(status(), "SW0077", "Robin Hale", "01632 960778")
    assert 202 == (await h.post_csc(renumbered)).status
    assert 3 == len(think_family(await h.entries()))
    assert 2 == len(await flags(h))


async def test_a_child_new_to_the_index_is_flagged_in_the_message_that_adds_it(
    h: Harness,
) -> None:
    """The trust's patient has a care coordinator; the council's first message about her child
    names her as mother: both flags go in that message's commit, recorded under the child's new
    indexed id."""
    assert 202 == (await h.post_fhir(without(crisis_bundle(), "RelatedPerson"))).status
    assert [] == think_family(await h.entries())  # no child known yet
    assert 202 == (await h.post_csc(status())).status
    decided = think_family(await h.entries())
    assert ["permit", "permit"] == [e["outcome"] for e in decided]
    async with h.engine.connect() as conn:
        child_id = (
            await conn.execute(
                select(person_identifiers.c.person_id).where(
                    person_identifiers.c.key == f"nhs:{CHILD}"
                )
            )
        ).scalar_one()
    raised = await flags(h)
    assert {child_id} == {c for _, c, _ in raised}
    to_council = next(e for e in decided if e["recipient_organisation"] == "999")
    assert child_id in to_council["person_ids"]
    received = await h.council.wait_for(1)
    (summary,) = by_kind(received, "think-family")
    assert "CH000123" == summary["child"]["la_child_id"]


def refusal() -> dict[str, Any]:
    """The mother refuses any sharing with council 999 for care coordination."""
    bundle = fresh(orjson.loads((FIXTURES / "fhir" / "consent-directive.json").read_bytes()))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Consent":
            del resource["provision"]["class"]
            del resource["provision"]["securityLabel"]
    return bundle


async def test_a_parents_refusal_is_honoured(h: Harness) -> None:
    """The mother has refused sharing with the council for care coordination: the council is not
    told she has a care coordinator (refused, recorded, not marked raised); the trust's flag,
    which goes to her own trust, is."""
    assert 202 == (await h.post_fhir(refusal())).status
    assert 202 == (await h.post_csc(status())).status
    assert 202 == (await h.post_fhir(fresh(crisis_bundle()))).status
    decided = {e["recipient_organisation"]: e for e in think_family(await h.entries())}
    assert ("refuse", "permit") == (decided["999"]["outcome"], decided["RX9"]["outcome"])
    assert "consent" in decided["999"]["reason_code"]
    assert ["RX9"] == [org for _, _, org in await flags(h)]
    await h.trust.wait_for(1)
    received = await h.council.wait_for(1)  # the crisis notice only
    assert [] == by_kind(received, "think-family")


async def test_no_flag_without_a_care_coordinator_or_an_open_child(h: Harness) -> None:
    """The mother has a care coordinator, but the council has closed the child's episodes and no
    worker is allocated: no flag. A mother without a care coordinator: no flag either."""
    closed = status()
    closed["social_care_episodes"] = closed["social_care_episodes"][:1]  # closed in 2023
    assert 202 == (await h.post_csc(closed)).status
    assert 202 == (await h.post_fhir(fresh(crisis_bundle()))).status
    assert [] == think_family(await h.entries())
    assert [] == await flags(h)
    # Another family: an open child whose mother has no care coordinator anywhere.
    other = orjson.loads(
        orjson.dumps(status())
        .replace(MOTHER.encode(), b"9000000068")
        .replace(CHILD.encode(), b"9000000076")
    )
    other["la_child_id"] = "CH000999"
    del other["child_details"]["unique_pupil_number"]
    assert 202 == (await h.post_csc(other)).status
    assert [] == think_family(await h.entries())


async def delivered(h: Harness, count: int) -> None:
    """Wait until ``count`` deliveries are in the ledger (verifying while one is being written
    would read a tree node beyond the entries it read)."""
    for _ in range(100):
        entries = await h.entries()
        if len([e for e in entries if e["event"] == "delivery.attempted"]) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the deliveries were not recorded")


async def test_no_flag_between_organisations_that_have_not_agreed_to_it(
    aiohttp_client: Any, database: Database
) -> None:
    """Without a think-family flow between the trust and the council, the same story proposes no
    flag at all: nothing to refuse, nothing recorded."""
    async for plain in start_harness(aiohttp_client, database):
        assert 202 == (await plain.post_csc(status())).status
        assert 202 == (await plain.post_fhir(fresh(crisis_bundle()))).status
        assert [] == think_family(await plain.entries())
        assert [] == await flags(plain)
