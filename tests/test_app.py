"""create_app wiring: settings reach the adapters."""

from __future__ import annotations

from typing import Any

import orjson

from tests.conftest import Database
from tests.gateway_harness import crisis_bundle, start_harness


async def test_full_fhir_validation_when_configured(
    aiohttp_client: Any, database: Database
) -> None:
    """With validate_fhir_models on, an element only fhir.resources checks is refused by name."""
    bundle = crisis_bundle()
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Encounter":
            entry["resource"]["status"] = ["not", "a", "code"]
    body = orjson.dumps(bundle)
    async for h in start_harness(aiohttp_client, database, validate_fhir_models=True):
        response = await h.post_fhir(body)
        assert 400 == response.status
        outcome = await response.json()
        expressions = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
        assert "Bundle.entry[3].resource.status" in expressions


async def test_focused_checks_alone_by_default(aiohttp_client: Any, database: Database) -> None:
    """By default the hot path does not build full models, so that same element passes."""
    bundle = crisis_bundle()
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Encounter":
            entry["resource"]["status"] = ["not", "a", "code"]
    async for h in start_harness(aiohttp_client, database):
        assert 202 == (await h.post_fhir(orjson.dumps(bundle))).status
