"""The escalation timer (issue 7 item 3): a referral not acknowledged within its working hours is
brought to both organisations' safeguarding leads, once, through the agreements; with a clock the
test moves, over a weekend and over a bank holiday."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from adapters.base import ParseContext
from adapters.fhir_r4 import FhirR4Adapter
from gateway.cli import main
from gateway.workcal import WorkingCalendar
from gateway.workflows.escalation import CATEGORY, escalate_overdue
from schemas.facts import Referral, Risk
from schemas.message import MessageKind
from tests.conftest import Database
from tests.gateway_harness import Harness, MovableClock, start_harness
from tests.workflows.test_referrals import (
    FRIDAY_4PM,
    QUIET,
    Family,
    consent_withdrawal,
    decisions,
    load_directory,
    referral_bundle,
    referral_status,
    rows,
    services,
    settled,
)

MONDAY_4PM = datetime(2025, 3, 17, 16, 0, tzinfo=UTC)


async def _escalations(h: Harness) -> list[dict[str, Any]]:
    return [e for e in await h.entries() if e["event"] == "referral.escalated"]


async def test_an_unacknowledged_referral_is_escalated_to_both_leads_once(
    hr: Harness, clock: MovableClock
) -> None:
    """Friday 16:00 + 8 working hours is Monday 16:00: nothing before (not on Saturday, not at
    15:59 on Monday), both leads told at 16:00 (the council's as a CSC summary, the trust's two
    as FHIR), once; the notices carry the reference and the referrer, never the concerns."""
    h, family = hr, Family(20)
    await load_directory(h)
    assert 202 == (await h.post_fhir(referral_bundle(family))).status
    await h.council.wait_for(1)
    gateway = services(h)
    for early in (
        datetime(2025, 3, 15, 12, 0, tzinfo=UTC),  # Saturday
        datetime(2025, 3, 17, 15, 59, tzinfo=UTC),
    ):
        assert 0 == await escalate_overdue(gateway, early)
    assert [] == await _escalations(h)

    assert 1 == await escalate_overdue(gateway, MONDAY_4PM)
    assert 0 == await escalate_overdue(gateway, datetime(2025, 3, 18, 9, 0, tzinfo=UTC))
    (entry,) = await _escalations(h)
    (row,) = await rows(h)
    assert (row["id"], "RX9", "999", MONDAY_4PM) == (
        entry["referral_id"],
        entry["referrer_organisation"],
        entry["front_door_organisation"],
        row["escalated_at"],
    )
    assert row["child_person_id"] in entry["person_ids"]
    notices = await decisions(h, "referral-escalation")
    assert [
        ("999", "escalation-to-council-lead", "permit"),
        ("RX9", "escalation-to-trust-lead", "permit"),
        ("RX9", "escalation-to-trust-lead", "permit"),
    ] == sorted((d["recipient_organisation"], d["flow_id"], d["outcome"]) for d in notices)

    council = orjson.loads((await h.council.wait_for(2))[1].body)
    assert ("disclosure-summary", "referral-escalation") == (
        council["message_type"],
        council["kind"],
    )
    assert "RX9-REF-0042" == council["referrals"][0]["reference"]
    assert council["to"]["worker_id"] == "LEAD"
    (risk,) = council["risks"]
    assert (CATEGORY, "2025-03-14") == (risk["category"], risk["start"][:10])
    assert "2025-03-14 16:00 UTC" in risk["summary"]
    assert "Morgan" in orjson.dumps(council["worker_contacts"]).decode()
    bodies = [r.body for r in await h.trust.wait_for(2)]
    for body in [*bodies, (h.council.received[1]).body]:
        assert b"section 136" not in body  # the concerns never travel in an escalation
    addressees = set()
    for body in bodies:
        bundle = orjson.loads(body)
        resources = [e["resource"] for e in bundle["entry"]]
        header = resources[0]
        assert "referral-escalation" == header["eventCoding"]["code"]
        (focus,) = [r for r in resources if r["resourceType"] == "ServiceRequest"]
        assert "RX9-REF-0042" == focus["identifier"][0]["value"]
        addressees |= {
            p["name"][0]["family"] for p in resources if p["resourceType"] == "Practitioner"
        }
        # LA child ids are the council's: the trust's notices carry national identifiers only.
        assert family.la_child_id.encode() not in body
    assert {"Adults", "Kids", "Morgan"} == addressees
    await settled(h)
    assert (await h.verify()).intact


async def test_the_escalation_notice_round_trips_through_fhir(
    hr: Harness, clock: MovableClock
) -> None:
    """The trust's notice parses back to the referral (reference, no concerns) and the gateway's
    line about its deadline, as a risk of category referral-not-acknowledged."""
    h, family = hr, Family(21)
    await load_directory(h)
    assert 202 == (await h.post_fhir(referral_bundle(family))).status
    assert 1 == await escalate_overdue(services(h), MONDAY_4PM)
    body = (await h.trust.wait_for(1))[0].body
    message = FhirR4Adapter().parse(body, ParseContext("trust-demo", MONDAY_4PM))
    assert MessageKind.REFERRAL_ESCALATION is message.kind
    (referral,) = [f for f in message.facts if isinstance(f, Referral)]
    (risk,) = [f for f in message.facts if isinstance(f, Risk)]
    assert ("RX9-REF-0042", "", (risk.id,)) == (
        referral.reference,
        referral.concerns,
        referral.risks,
    )
    assert CATEGORY == risk.category
    assert message.subject == referral.subject


async def test_an_acknowledged_referral_is_not_escalated(hr: Harness, clock: MovableClock) -> None:
    """Received on Monday morning: nothing to escalate at 16:00, or ever."""
    h, family = hr, Family(22)
    assert 202 == (await h.post_fhir(referral_bundle(family))).status
    clock.now = datetime(2025, 3, 17, 9, 30, tzinfo=UTC)
    assert 202 == (await h.post_csc(referral_status(family, "received"))).status
    assert 0 == await escalate_overdue(services(h), datetime(2025, 3, 24, 9, 0, tzinfo=UTC))
    assert [] == await _escalations(h)


async def test_a_bank_holiday_does_not_count(aiohttp_client: Any, database: Database) -> None:
    """Sent Thursday 17 April 2025 at 16:00 (BST): Good Friday and Easter Monday are bank
    holidays, so the deadline is Tuesday 22 April 16:00 (1 hour Thursday, 7 Tuesday)."""
    sent = datetime(2025, 4, 17, 15, 0, tzinfo=UTC)  # 16:00 in London
    clock = MovableClock(sent)
    async for h in start_harness(aiohttp_client, database, clock=clock, workflows=QUIET):
        assert 202 == (await h.post_fhir(referral_bundle(Family(23)))).status
        (row,) = await rows(h)
        deadline = datetime(2025, 4, 22, 15, 0, tzinfo=UTC)
        assert deadline == row["ack_deadline"]
        assert deadline == WorkingCalendar().add_working_hours(sent, 8)
        gateway = services(h)
        assert 0 == await escalate_overdue(gateway, datetime(2025, 4, 21, 16, 0, tzinfo=UTC))
        assert 1 == await escalate_overdue(gateway, deadline)
        # No safeguarding lead in the directory: the organisations themselves are told.
        notices = await decisions(h, "referral-escalation")
        assert ["999", "RX9"] == sorted(d["recipient_organisation"] for d in notices)
        council = orjson.loads((await h.council.wait_for(2))[1].body)
        assert ("999", None) == (council["to"]["la_code"], council["to"]["worker_id"])


async def test_escalation_after_consent_is_withdrawn(hr: Harness, clock: MovableClock) -> None:
    """The mother withdraws consent to sharing with the council after the referral went. The
    escalation still reaches both leads: its flows rest on public task, not consent (it tells
    each organisation about a referral already made, and carries no concerns); the directive in
    force is named in each decision, for the IG officer to see."""
    h, family = hr, Family(24)
    await load_directory(h)
    assert 202 == (await h.post_fhir(referral_bundle(family))).status
    assert 202 == (await h.post_fhir(consent_withdrawal(family))).status
    assert 1 == await escalate_overdue(services(h), MONDAY_4PM)
    notices = await decisions(h, "referral-escalation")
    assert ["permit", "permit", "permit"] == [d["outcome"] for d in notices]
    to_council = next(d for d in notices if d["recipient_organisation"] == "999")
    assert to_council["consent_ref"] is not None
    assert to_council["consent_ref"] in to_council["explanation"]


async def test_the_timer_escalates_in_the_running_gateway(
    aiohttp_client: Any, database: Database
) -> None:
    """With escalation_interval set, the app's own timer escalates an overdue referral by the
    workflow clock, and the notices are delivered."""
    clock = MovableClock(FRIDAY_4PM)
    fast = QUIET.model_copy(update={"escalation_interval": 0.05})
    async for h in start_harness(aiohttp_client, database, clock=clock, workflows=fast):
        await load_directory(h)
        assert 202 == (await h.post_fhir(referral_bundle(Family(25)))).status
        await asyncio.sleep(0.2)
        assert [] == await _escalations(h)
        clock.now = MONDAY_4PM
        await h.trust.wait_for(2)  # both of the trust's leads are told
        await asyncio.sleep(0.2)  # and the timer, still running, escalates nothing more
        assert 1 == len(await _escalations(h))


async def test_joinedup_workflows_escalate(
    aiohttp_client: Any,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    """`joinedup workflows escalate --now ISO` escalates what is overdue at that time, once; the
    running gateway delivers the notices it committed. A time without an offset is refused."""
    clock = MovableClock(FRIDAY_4PM)
    async for h in start_harness(aiohttp_client, database, clock=clock, workflows=QUIET):
        assert 202 == (await h.post_fhir(referral_bundle(Family(26)))).status
        await h.council.wait_for(1)
        monkeypatch.setenv("JOINEDUP_DATABASE_URL", database.url)
        if database.schema:
            monkeypatch.setenv("JOINEDUP_DATABASE_SCHEMA", database.schema)
        capsys.readouterr()
        for now, escalated in (
            ("2025-03-17T15:59:00+00:00", 0),
            ("2025-03-17T16:00:00+00:00", 1),
            ("2025-03-18T09:00:00+00:00", 0),
        ):
            code = await asyncio.to_thread(main, ["workflows", "escalate", "--now", now])
            assert (0, f"{escalated} referral(s) escalated") == (
                code,
                capsys.readouterr().out.strip().splitlines()[-1],
            )
        assert 2 == await asyncio.to_thread(
            main, ["workflows", "escalate", "--now", "2025-03-17T16:00:00"]
        )
        assert 1 == len(await _escalations(h))
        await h.trust.wait_for(1)  # no lead in the directory: the trust itself is told
        await h.council.wait_for(2)
