"""The OpenAPI document: valid OpenAPI 3.1, served, committed, and true to the CSC adapter."""

from __future__ import annotations

from pathlib import Path

import orjson
from openapi_spec_validator import validate

from gateway.openapi import build_openapi
from tests.gateway_harness import Harness

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def test_document_is_valid_openapi_31() -> None:
    """openapi-spec-validator accepts the document."""
    validate(build_openapi())


def test_committed_copy_is_current() -> None:
    """docs/openapi.json is what `joinedup openapi` writes today (regenerate it if this fails)."""
    expected = orjson.dumps(build_openapi(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    assert expected + b"\n" == COMMITTED.read_bytes()


def test_every_csc_message_is_described() -> None:
    """Each CSC message schema is a component: inbound on the door, outbound as a webhook."""
    document = build_openapi()
    inbound = document["paths"]["/csc/messages"]["post"]["requestBody"]["content"]
    outbound = document["webhooks"]["cscDelivery"]["post"]["requestBody"]["content"]
    refs_in = {r["$ref"].rsplit("/", 1)[1] for r in inbound["application/json"]["schema"]["oneOf"]}
    refs_out = {
        r["$ref"].rsplit("/", 1)[1] for r in outbound["application/json"]["schema"]["oneOf"]
    }
    assert "csc-child-status" in refs_in
    assert "csc-crisis-notice" in refs_out
    assert set() == refs_in & refs_out
    assert not any(
        "$defs" in orjson.dumps(s).decode() for s in document["components"]["schemas"].values()
    )


async def test_served_at_openapi_json(h: Harness) -> None:
    """GET /openapi.json returns the document, without authentication."""
    response = await h.client.get("/openapi.json")
    assert 200 == response.status
    assert build_openapi() == orjson.loads(await response.read())
