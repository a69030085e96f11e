"""Consent and sharing without it, end to end: directives recorded, honoured, and overridden only on a
ground the agreement accepts, with every such share flagged for IG review."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from adapters.base import Adapter, ParseContext
from adapters.csc import CscAdapter
from adapters.fake import CONTENT_TYPE, FakeAdapter
from adapters.fhir_r4 import FhirR4Adapter
from gateway.settings import bundled
from schemas.facts import Consent
from schemas.labels import (
    AgeBand,
    Art6Basis,
    Art9Condition,
    Dpa2018Condition,
    LawfulBasis,
    NoConsentReason,
)
from schemas.message import CanonicalMessage
from schemas.request import SharingRequest
from tests.conftest import FIXTURES, THINK_FAMILY_AGREEMENT, TRUST_KEY, Database
from tests.gateway_harness import Harness, child_status, start_harness

PARA18 = LawfulBasis(
    art6=Art6Basis.PUBLIC_TASK,
    art9=Art9Condition.SUBSTANTIAL_PUBLIC_INTEREST,
    dpa2018=Dpa2018Condition.SAFEGUARDING,
    age_band=AgeBand.CHILD,
    no_consent_reason=NoConsentReason.WOULD_PREJUDICE_PROTECTION,
)


def _canonical(fixture: str) -> CanonicalMessage:
    context = ParseContext("trust-demo", datetime.now(UTC))
    return FhirR4Adapter().parse((FIXTURES / "fhir" / fixture).read_bytes(), context)


def _full_refusal() -> CanonicalMessage:
    """The consent fixture, widened to a refusal of every sharing with the council."""
    message = _canonical("consent-directive.json")
    facts = tuple(
        f.model_copy(update={"purposes": (), "element_classes": (), "sensitivities": frozenset()})
        if isinstance(f, Consent)
        else f
        for f in message.facts
    )
    return message.model_copy(update={"facts": facts})


def _agreements(tmp_path: Path) -> Path:
    """The shipped agreements, with the crisis flow honouring refusals and accepting Sch 1 para 18."""
    directory = tmp_path / "agreements"
    # Without the think-family agreement, as agreements_for_tests (tests/conftest.py).
    shutil.copytree(
        bundled("agreements"), directory, ignore=shutil.ignore_patterns(THINK_FAMILY_AGREEMENT)
    )
    path = directory / "demo-trust-council.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for flow in document["flows"]:
        if flow["id"] == "crisis-notice":
            flow["consent"] = "honour-refusal"
            flow["lawful_bases"].append(
                PARA18.model_dump(mode="json", exclude_none=True, exclude={"no_consent_reason"})
            )
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return directory


async def _send(h: Harness, message: CanonicalMessage) -> dict[str, Any]:
    response = await h.client.post(
        "/fhir/$process-message",
        data=message.model_dump_json(),
        headers={"Authorization": f"Bearer {TRUST_KEY}", "Content-Type": CONTENT_TYPE},
    )
    assert 202 == response.status, await response.text()
    summary: dict[str, Any] = await response.json()
    return summary


async def _decisions(h: Harness) -> list[dict[str, Any]]:
    return [e for e in await h.entries() if e["event"] == "disclosure.decided"]


async def test_a_recorded_refusal_is_honoured_and_para18_overrides_it_flagged(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """Refusal on record: the crisis notice is refused. On Sch 1 para 18 it goes, flagged for review."""
    adapters: dict[str, Adapter] = {"fhir-r4": FakeAdapter("fhir-r4"), "csc": CscAdapter()}
    async for h in start_harness(
        aiohttp_client, database, adapters=adapters, agreements_dir=_agreements(tmp_path)
    ):
        assert 202 == (await h.post_csc(child_status())).status
        await _send(h, _full_refusal())
        updates = [e for e in await h.entries() if e["event"] == "index.updated"]
        assert 1 == updates[-1]["consents"]

        crisis = _canonical("crisis-s136.json")
        summary = await _send(h, crisis)
        assert [("999", "refuse", "consent-refused")] == [
            (r["organisation"], r["outcome"], r["reason_code"]) for r in summary["recipients"]
        ]
        refused = (await _decisions(h))[-1]
        # A refusal is as visible as a share: it names the agreement, flow, purpose and the
        # directive that refused.
        assert ("council-demo", "demo-trust-council", 1, "crisis-notice", "safeguarding-child") == (
            refused["recipient_partner"],
            refused["agreement_id"],
            refused["agreement_version"],
            refused["flow_id"],
            refused["purpose"],
        )
        assert refused["consent_ref"] is not None
        assert refused["consent_ref"] in refused["explanation"]

        urgent = crisis.model_copy(update={"request": SharingRequest(lawful_basis=PARA18)})
        summary = await _send(h, urgent)
        assert [("999", "permit")] == [
            (r["organisation"], r["outcome"]) for r in summary["recipients"]
        ]
        last = (await _decisions(h))[-1]
        assert (True, "art6(1)(e)+art9(2)(g)+sch1-para18") == (
            last["flagged_for_review"],
            last["lawful_basis"],
        )
        assert last["consent_ref"] == refused["consent_ref"]
        # The explanation names the basis the share rests on, not the flow's first one.
        assert "on the lawful basis art6(1)(e)+art9(2)(g)+sch1-para18" in last["explanation"]
        # The council gets the directive itself (so that it honours it too) and the one crisis
        # notice shared on para 18; the refused crisis never reaches it.
        received = await h.council.wait_for(2)
        documents = [orjson.loads(r.body) for r in received]
        kinds = sorted(str(d.get("kind") or d.get("message_type")) for d in documents)
        assert ["consent-directive", "crisis-notice"] == kinds


async def test_para18_without_its_reason_is_refused_and_recorded(
    aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """A Sch 1 para 18 request that does not say why consent was not sought is refused, with the reason."""
    adapters: dict[str, Adapter] = {"fhir-r4": FakeAdapter("fhir-r4"), "csc": CscAdapter()}
    async for h in start_harness(
        aiohttp_client, database, adapters=adapters, agreements_dir=_agreements(tmp_path)
    ):
        assert 202 == (await h.post_csc(child_status())).status
        incomplete = PARA18.model_copy(update={"no_consent_reason": None})
        crisis = _canonical("crisis-s136.json").model_copy(
            update={"request": SharingRequest(lawful_basis=incomplete)}
        )
        summary = await _send(h, crisis)
        assert ["para18-incomplete"] == [r["reason_code"] for r in summary["recipients"]]
        assert "age band" in (await _decisions(h))[-1]["explanation"]
