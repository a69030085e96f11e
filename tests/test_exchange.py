"""The crisis-notice exchange, end to end through a real HTTP server, database and partners."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text

from adapters.base import Adapter, Loss, Rendered
from adapters.csc import CscAdapter
from adapters.fhir_r4 import FhirR4Adapter
from gateway.errors import ConfigurationError
from gateway.store.tables import exchanges, outbox, persons, social_care_episodes
from schemas.disclosure import Disclosure
from tests.conftest import COUNCIL_KEY, FIXTURES, OTHER_COUNCIL_KEY, Database
from tests.gateway_harness import Harness, child_status, crisis_bundle, start_harness

MOTHER_NHS = "9000000009"


async def _story(h: Harness) -> dict[str, Any]:
    response = await h.post_csc(child_status())
    assert 202 == response.status
    response = await h.post_fhir(crisis_bundle())
    assert 202 == response.status
    summary: dict[str, Any] = await response.json()
    return summary


async def test_crisis_notice_reaches_the_allocated_worker_without_the_diagnosis(h: Harness) -> None:
    """The council's system receives a crisis notice; the diagnosis is absent and listed as withheld."""
    summary = await _story(h)
    assert [("999", "permit")] == [(r["organisation"], r["outcome"]) for r in summary["recipients"]]
    received = await h.council.wait_for(1)
    body = received[0].body
    assert b"20010003" not in body
    assert b"ersonality" not in body
    notice = orjson.loads(body)
    assert "diagnosis" in {w["element"] for w in notice["withheld"]}
    assert received[0].idempotency_key is not None
    assert summary["request_id"] == received[0].request_id
    assert "diagnosis" in {w["element"] for w in summary["recipients"][0]["withheld"]}


async def test_every_decision_is_in_an_intact_ledger(h: Harness) -> None:
    """Receipt, index update, the permit and the delivery are ledger entries; the chain verifies."""
    summary = await _story(h)
    await h.council.wait_for(1)
    for _ in range(100):
        events = [e["event"] for e in await h.entries()]
        if "delivery.attempted" in events:
            break
        await asyncio.sleep(0.02)
    entries = await h.entries()
    ours = [e for e in entries if e.get("exchange_id") == summary["exchange_id"]]
    kinds = [e["event"] for e in ours]
    assert [
        "exchange.received",
        "index.updated",
        "disclosure.decided",
        "delivery.attempted",
    ] == kinds
    decided = ours[2]
    assert ("permit", "demo-trust-council", 1, "crisis-notice") == (
        decided["outcome"],
        decided["agreement_id"],
        decided["agreement_version"],
        decided["flow_id"],
    )
    assert "art6(1)(e)+art9(2)(h)+sch1-para2" == decided["lawful_basis"]
    assert {"element": "diagnosis", "reason_code": "sensitivity-label"} in decided["withheld"]
    assert summary["request_id"] == decided["request_id"]
    verdict = await h.verify()
    assert (True, len(entries)) == (verdict.intact, verdict.entries)
    # Never record content: no identifier in any entry.
    assert MOTHER_NHS not in orjson.dumps(entries).decode()


async def test_delivered_body_is_purged(h: Harness) -> None:
    """Once delivered, the outbox keeps the hash but not the body."""
    await _story(h)
    await h.council.wait_for(1)
    for _ in range(100):
        async with h.engine.connect() as conn:
            row = (
                await conn.execute(select(outbox.c.status, outbox.c.body, outbox.c.body_sha256))
            ).one()
        if row[0] == "delivered":
            break
        await asyncio.sleep(0.02)
    assert ("delivered", None) == (row[0], row[1])
    assert 64 == len(row[2])


async def test_council_without_agreement_is_refused_and_recorded(h: Harness) -> None:
    """A child also known to a council with no agreement: refused there, recorded, nothing sent."""
    response = await h.post_csc(child_status("998", "OTHER-77"), key=OTHER_COUNCIL_KEY)
    assert 202 == response.status
    summary = await _story(h)
    outcomes = sorted(
        (r["organisation"], r["outcome"], r["reason_code"]) for r in summary["recipients"]
    )
    assert [("998", "refuse", "no-agreement"), ("999", "permit", "flow-permits")] == outcomes
    await h.council.wait_for(1)
    assert [] == h.other.received
    refusals = [
        e
        for e in await h.entries()
        if e["event"] == "disclosure.decided" and e["outcome"] == "refuse"
    ]
    assert ["998"] == [e["recipient_organisation"] for e in refusals]
    assert "No data-sharing agreement" in refusals[0]["explanation"]


async def test_parent_with_no_known_children_is_accepted_with_no_recipient(h: Harness) -> None:
    """Not an error: 202, and the ledger records that there was no recipient."""
    response = await h.post_fhir(crisis_bundle())
    assert 202 == response.status
    summary = await response.json()
    assert [] == summary["recipients"]
    assert summary["no_recipient"]
    assert "exchange.no-recipient" in [e["event"] for e in await h.entries()]
    assert [] == h.council.received


async def _nothing_committed(h: Harness) -> None:
    assert (0, 0, 0, 0) == (
        await h.count(exchanges),
        await h.count(outbox),
        await h.count(persons),
        len(await h.entries()),
    )


async def _only_the_refusal_recorded(
    h: Harness, status: int, error: str, element: str | None = None
) -> None:
    """Nothing of the message applied; one ``exchange.refused`` entry naming the error (and the
    element, where one is given), with no record content."""
    assert (0, 0, 0) == (await h.count(exchanges), await h.count(outbox), await h.count(persons))
    entries = await h.entries()
    assert [("exchange.refused", status, error)] == [
        (e["event"], e["status"], e["error"]) for e in entries
    ]
    if element is not None:
        assert any(element in e for e in entries[0]["elements"])
    text = orjson.dumps(entries).decode()
    assert "9000000008" not in text
    assert MOTHER_NHS not in text


def _mutate(path: str) -> Any:
    def apply(bundle: dict[str, Any]) -> bytes:
        if path == "malformed":
            return b'{"resourceType": "Bundle", '
        if path == "not-fhir":
            return orjson.dumps({"id": "x"})
        if path == "unmatchable-patient":
            return orjson.dumps({"resourceType": "Patient", "id": "x"})
        if path == "collection":
            bundle["type"] = "collection"
        elif path == "bad-nhs-number":
            for entry in bundle["entry"]:
                resource = entry["resource"]
                if resource["resourceType"] == "Patient":
                    resource["identifier"][0]["value"] = "9000000008"
        elif path == "no-legal-status":
            for entry in bundle["entry"]:
                resource = entry["resource"]
                if resource["resourceType"] == "Encounter":
                    resource["extension"] = [
                        e for e in resource.get("extension", []) if "LegalStatus" not in e["url"]
                    ]
        return orjson.dumps(bundle)

    return apply


@pytest.mark.parametrize(
    ("case", "expression"),
    [
        ("malformed", "(body)"),
        ("not-fhir", "resourceType"),
        ("unmatchable-patient", "Patient.identifier"),
        ("bad-nhs-number", "identifier"),
        ("no-legal-status", "LegalStatus"),
    ],
)
async def test_bad_fhir_is_a_specific_operation_outcome_and_commits_nothing(
    h: Harness, case: str, expression: str
) -> None:
    """Each kind of bad message gets a 4xx OperationOutcome naming the element; nothing of it is
    stored, and the refusal is recorded."""
    response = await h.post_fhir(_mutate(case)(crisis_bundle()))
    assert 400 == response.status
    assert "application/fhir+json" == response.content_type
    outcome = await response.json()
    assert "OperationOutcome" == outcome["resourceType"]
    expressions = " ".join(
        e for issue in outcome["issue"] for e in issue.get("expression", ["(body)"])
    )
    assert expression in expressions
    text_body = orjson.dumps(outcome).decode()
    assert "9000000008" not in text_body
    assert MOTHER_NHS not in text_body
    await _only_the_refusal_recorded(
        h, 400, "InvalidMessage", None if expression == "(body)" else expression
    )


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authorization": "Bearer not-a-key"}, 401),
        ({"Authorization": ""}, 401),
        ({"Content-Type": "application/xml"}, 415),
    ],
)
async def test_refused_before_parsing(h: Harness, headers: dict[str, str], status: int) -> None:
    """Unknown keys and unsupported media types are refused with OperationOutcome; nothing stored
    but, for a 401, the refusal itself (access.refused)."""
    response = await h.post_fhir(crisis_bundle(), **headers)
    assert status == response.status
    assert "OperationOutcome" == (await response.json())["resourceType"]
    if status == 401:
        assert ["access.refused"] == [e["event"] for e in await h.entries()]
        return
    await _nothing_committed(h)


async def test_partner_cannot_send_in_another_organisations_name(h: Harness) -> None:
    """The council's key cannot submit a message whose sender is the trust."""
    response = await h.post_fhir(crisis_bundle(), key=COUNCIL_KEY)
    assert 403 == response.status
    await _only_the_refusal_recorded(h, 403, "Forbidden")


async def test_oversized_body_is_413(aiohttp_client: Any, database: Database) -> None:
    """A body over max_body_bytes is refused with 413 and nothing is stored."""
    async for h in start_harness(aiohttp_client, database, max_body_bytes=1024):
        response = await h.post_fhir(crisis_bundle())
        assert 413 == response.status
        assert "OperationOutcome" == (await response.json())["resourceType"]
        await _nothing_committed(h)


async def test_unwritable_ledger_is_503_and_nothing_committed(
    h: Harness, database: Database
) -> None:
    """Fail closed: when the ledger refuses writes, the exchange is refused with 503."""
    async with h.engine.begin() as conn:
        if database.backend == "sqlite":
            await conn.execute(
                text(
                    "CREATE TRIGGER deny BEFORE INSERT ON ledger BEGIN SELECT RAISE(ABORT, 'no'); END"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE FUNCTION deny() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no'; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER deny BEFORE INSERT ON ledger FOR EACH ROW EXECUTE FUNCTION deny()"
                )
            )
    response = await h.post_fhir(crisis_bundle())
    assert 503 == response.status
    assert "OperationOutcome" == (await response.json())["resourceType"]
    await _nothing_committed(h)


async def test_request_ids(h: Harness) -> None:
    """X-Request-ID is echoed, generated when absent, and must be a UUID; X-Correlation-ID echoes."""
    rid = "2b0f8a52-8f1e-4a53-9a37-5a1b0e5d2c11"
    response = await h.client.get(
        "/_ping", headers={"X-Request-ID": rid, "X-Correlation-ID": "abc"}
    )
    assert (rid, "abc") == (response.headers["X-Request-ID"], response.headers["X-Correlation-ID"])
    generated = (await h.client.get("/_ping")).headers["X-Request-ID"]
    assert 36 == len(generated)
    bad = await h.client.get("/_ping", headers={"X-Request-ID": "nope"})
    assert 400 == bad.status
    assert "application/problem+json" == bad.content_type


async def _index_updates(h: Harness) -> list[dict[str, Any]]:
    return [e for e in await h.entries() if e["event"] == "index.updated"]


async def test_a_repeated_message_teaches_the_index_nothing(h: Harness) -> None:
    """The same child-status twice: the index learns once; the second is received, not re-learnt."""
    assert 202 == (await h.post_csc(child_status())).status
    assert 202 == (await h.post_csc(child_status())).status
    updates = await _index_updates(h)
    assert 1 == len(updates)
    assert (2, 1, 1) == (
        updates[0]["persons"],
        updates[0]["family_links"],
        updates[0]["worker_roles"],
    )
    received = [e for e in await h.entries() if e["event"] == "exchange.received"]
    assert 2 == len(received)


async def test_a_new_allocated_worker_replaces_the_old(h: Harness) -> None:
    """When the council allocates a new worker, the next crisis notice goes to them."""
    assert 202 == (await h.post_csc(child_status())).status
    changed = child_status()
    episode = changed["social_care_episodes"][-1]
    episode["care_worker_details"][-1]["end_date"] = "2025-06-01"
    episode["care_worker_details"].append(
        {
            "worker_id": "SW0099",
            "worker_name": "Morgan Lee",
            "phone": "01632 960777",
            "start_date": "2025-06-02",
        }
    )
    changed["message_id"] = "csc-999-000482"
    assert 202 == (await h.post_csc(changed)).status
    updates = await _index_updates(h)
    assert [1, 1] == [u["worker_roles"] for u in updates]
    assert 202 == (await h.post_fhir(crisis_bundle())).status
    notice = orjson.loads((await h.council.wait_for(1))[0].body)
    assert "SW0099" == notice["to"]["worker_id"]


class _UnrenderableCsc(CscAdapter):
    """A CSC adapter whose render always fails, as a recipient format that cannot carry a fact."""

    def render(self, disclosure: Disclosure) -> Rendered:
        raise ConfigurationError("the notice needs a field this disclosure lacks")


async def test_a_recipient_whose_format_fails_is_refused_and_recorded(
    aiohttp_client: Any, database: Database
) -> None:
    """A render failure refuses that recipient with its reason; the exchange is still accepted."""
    adapters: dict[str, Adapter] = {"fhir-r4": FhirR4Adapter(), "csc": _UnrenderableCsc()}
    async for h in start_harness(aiohttp_client, database, adapters=adapters):
        assert 202 == (await h.post_csc(child_status())).status
        response = await h.post_fhir(crisis_bundle())
        assert 202 == response.status
        summary = await response.json()
        assert [("999", "refuse", "render-failed")] == [
            (r["organisation"], r["outcome"], r["reason_code"]) for r in summary["recipients"]
        ]
        decided = [e for e in await h.entries() if e["event"] == "disclosure.decided"]
        assert "cannot carry this disclosure" in decided[0]["explanation"]
        assert 0 == await h.count(outbox)


async def test_child_status_records_the_episode_once(h: Harness) -> None:
    """The council's episodes (with plans) are indexed once, and a repeat changes nothing."""
    assert 202 == (await h.post_csc(child_status())).status
    assert 202 == (await h.post_csc(child_status())).status
    updates = await _index_updates(h)
    assert 1 == len(updates)
    assert 1 <= updates[0]["episodes"]
    assert updates[0]["episodes"] == await h.count(social_care_episodes)


class _LossyCsc(CscAdapter):
    """The real CSC adapter, reporting one more element it could not carry."""

    def render(self, disclosure: Disclosure) -> Rendered:
        rendered = super().render(disclosure)
        extra = Loss("crisis-event.period", "this test's format has no field for it")
        return Rendered(rendered.body, rendered.content_type, (*rendered.losses, extra))


async def test_losses_are_recorded_in_the_ledger(aiohttp_client: Any, database: Database) -> None:
    """What the recipient's format cannot carry is named in the decision's ledger entry."""
    adapters: dict[str, Adapter] = {"fhir-r4": FhirR4Adapter(), "csc": _LossyCsc()}
    async for h in start_harness(aiohttp_client, database, adapters=adapters):
        assert 202 == (await h.post_csc(child_status())).status
        assert 202 == (await h.post_fhir(crisis_bundle())).status
        decided = [e for e in await h.entries() if e["event"] == "disclosure.decided"]
        assert "crisis-event.period" in decided[-1]["losses"]


async def test_operation_outcome_is_shaped_like_the_spine_apis(h: Harness) -> None:
    """Errors on the FHIR door carry the Spine error code beside the FHIR issue code, as PDS does."""
    bundle = crisis_bundle()
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["identifier"][0]["value"] = "9000000008"
    outcome = await (await h.post_fhir(bundle)).json()
    issue = outcome["issue"][0]
    assert ["severity", "code", "details", "diagnostics", "expression"] == list(issue)
    coding = issue["details"]["coding"][0]
    assert ("https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode", "INVALID_VALUE") == (
        coding["system"],
        coding["code"],
    )
    unauthenticated = await (await h.post_fhir(crisis_bundle(), key="nope")).json()
    assert "ACCESS_DENIED" == unauthenticated["issue"][0]["details"]["coding"][0]["code"]


async def test_council_events_add_to_the_stored_episode(h: Harness) -> None:
    """A CP plan ending updates that plan in the stored episode and keeps everything else."""
    assert 202 == (await h.post_csc(child_status())).status
    ended = orjson.loads((FIXTURES / "csc" / "cp-plan-ended.json").read_bytes())
    assert 202 == (await h.post_csc(ended)).status
    async with h.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(social_care_episodes.c.referral_date, social_care_episodes.c.details)
            )
        ).all()
    stored = {r[0]: orjson.loads(r[1]) for r in rows}
    episode = stored["2024-11-02"]
    assert [("child-protection", "2025-01-20", "2025-07-21")] == [
        (p["kind"], p["period"]["start"], p["period"]["end"]) for p in episode["plans"]
    ]
    assert "2023-02-14" in stored  # the earlier, closed episode is untouched


async def test_a_whole_record_replaces_the_stored_episode(h: Harness) -> None:
    """A later child-status (a whole statement) removes a plan an earlier one recorded."""
    assert 202 == (await h.post_csc(child_status())).status
    corrected = child_status()
    corrected["message_id"] = "csc-999-000483"
    corrected["social_care_episodes"][-1].pop("child_protection_plans", None)
    assert 202 == (await h.post_csc(corrected)).status
    async with h.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(social_care_episodes.c.referral_date, social_care_episodes.c.details)
            )
        ).all()
    stored = {r[0]: orjson.loads(r[1]) for r in rows}
    assert [] == stored["2024-11-02"]["plans"]


async def test_a_collection_is_a_record_update_from_the_partner(h: Harness) -> None:
    """A collection Bundle names no sender: it is the authenticated trust's, and teaches the index."""
    bundle = crisis_bundle()
    bundle["type"] = "collection"
    bundle["entry"] = [
        e for e in bundle["entry"] if e["resource"]["resourceType"] != "MessageHeader"
    ]
    response = await h.post_fhir(bundle)
    assert 202 == response.status
    summary = await response.json()
    assert ("record-update", []) == (summary["kind"], summary["recipients"])
    received = [e for e in await h.entries() if e["event"] == "exchange.received"]
    assert "RX9" == received[0]["sender_organisation"]
    assert 1 == len(await _index_updates(h))


async def test_a_message_without_a_purpose_is_refused_and_recorded(h: Harness) -> None:
    """No purpose of use, no disclosure: refused for the recipient, and the refusal is in the ledger."""
    assert 202 == (await h.post_csc(child_status())).status
    bundle = crisis_bundle()
    bundle["entry"][0]["resource"].pop("reason", None)
    summary = await (await h.post_fhir(bundle)).json()
    assert [("999", "refuse", "purpose-missing")] == [
        (r["organisation"], r["outcome"], r["reason_code"]) for r in summary["recipients"]
    ]
    assert [] == h.council.received


async def test_a_kind_no_agreement_lets_the_sender_send_is_refused_at_the_door(
    aiohttp_client: Any, database: Database
) -> None:
    """Council 998's agreement covers child status to the trust, not referral acknowledgements:
    such a message is refused (403) and nothing is learnt from it; its child status is taken."""
    async for h in start_harness(aiohttp_client, database):
        status = orjson.loads((FIXTURES / "csc" / "referral-status.json").read_bytes())
        status["la_code"] = "998"
        response = await h.post_csc(status, key=OTHER_COUNCIL_KEY)
        assert 403 == response.status
        assert "referral-status" in (await response.json())["detail"]
        assert 0 == await h.count(persons)
        assert [("exchange.refused", "referral-status")] == [
            (e["event"], e["kind"]) for e in await h.entries()
        ]
        assert (
            202 == (await h.post_csc(child_status("998", "OTHER-1"), key=OTHER_COUNCIL_KEY)).status
        )
        assert 0 < await h.count(persons)
