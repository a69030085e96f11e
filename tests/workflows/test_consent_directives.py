"""Consent directives reach every other organisation working with the person or their family,
end to end through both adapters, so that each honours them (the example agreement's
consent-directives-to-council and -to-trust flows)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import orjson

from tests.conftest import FIXTURES
from tests.gateway_harness import Harness
from tests.workflows.test_meetings import (
    csc_bodies,
    decisions,
    known_family,
    resources,
    wait_for_kind,
)


def trust_directive() -> dict[str, Any]:
    """The mother's directive, recorded by the trust (FHIR Consent)."""
    bundle: dict[str, Any] = orjson.loads(
        (FIXTURES / "fhir" / "consent-directive.json").read_bytes()
    )
    bundle = copy.deepcopy(bundle)
    bundle["id"] = str(uuid.uuid4())
    bundle["entry"][0]["resource"]["id"] = str(uuid.uuid4())
    return bundle


def council_directive() -> dict[str, Any]:
    """A parent's directive about the child, recorded by the council (CSC)."""
    data: dict[str, Any] = orjson.loads((FIXTURES / "csc" / "consent-directive.json").read_bytes())
    data["message_id"] = f"csc-999-{uuid.uuid4().hex[:8]}"
    data["purpose"] = "care-coordination"
    return data


async def test_the_trusts_directive_reaches_the_childs_social_worker(h: Harness) -> None:
    """The mother's directive goes to the council holding her child's record, addressed to the
    child's allocated social worker; the decision names the consent-directive flow."""
    await known_family(h)
    response = await h.post_fhir(trust_directive())
    summary = await response.json()
    assert 202 == response.status, summary
    assert [("999", "permit", "consent-directives-to-council")] == [
        (r["organisation"], r["outcome"], r["agreement"]["flow"]) for r in summary["recipients"]
    ]
    (document,) = await wait_for_kind(h.council.received, 1, "consent-directive", fhir=False)
    assert "SW0042" == document["to"]["worker_id"]
    assert [] != document.get("consents"), document.keys()
    (decided,) = await decisions(h, "consent-directive")
    assert ("permit", "consent-directives-to-council") == (decided["outcome"], decided["flow_id"])


async def test_the_councils_directive_reaches_the_parents_care_coordinator(h: Harness) -> None:
    """A directive about the child, recorded by the council, reaches the trust as a FHIR Consent
    for the mother's care coordinator."""
    await known_family(h)
    response = await h.post_csc(council_directive())
    summary = await response.json()
    assert 202 == response.status, summary
    assert [("RX9", "permit", "consent-directives-to-trust")] == [
        (r["organisation"], r["outcome"], r["agreement"]["flow"]) for r in summary["recipients"]
    ]
    (bundle,) = await wait_for_kind(h.trust.received, 1, "consent-directive", fhir=True)
    (consent,) = resources(bundle, "Consent")
    assert "deny" == consent["provision"]["type"]
    assert [] == csc_bodies(h.council.received, "consent-directive")  # never back to its sender


async def test_a_directive_about_someone_nobody_else_works_with_goes_nowhere(h: Harness) -> None:
    """Accepted and learnt, with no recipient: the ledger says why."""
    response = await h.post_fhir(trust_directive())
    summary = await response.json()
    assert (202, []) == (response.status, summary["recipients"])
    assert "no other organisation" in summary["no_recipient"]
    assert ["exchange.no-recipient"] == [
        e["event"] for e in await h.entries() if e["event"] == "exchange.no-recipient"
    ]
