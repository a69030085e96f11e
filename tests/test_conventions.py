"""Request conventions through the real server: 405 with Allow, 415, JSON depth and size, body
size, and the body read timeout; the JSON depth scanner against parsed values."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.conventions import LimitSettings
from gateway.middlewares import json_too_deep
from gateway.store.tables import exchanges
from tests.conftest import COUNCIL_KEY, TRUST_KEY, Database
from tests.gateway_harness import JSON, Harness, child_status, start_harness

COUNCIL = {"Authorization": f"Bearer {COUNCIL_KEY}"}


NOT_SERVED = [
    ("PUT", "/csc/messages", {"POST"}),
    ("GET", "/fhir/$process-message", {"POST"}),
    ("DELETE", "/api/v1/workers", {"GET", "HEAD"}),
    ("POST", "/openapi.json", {"GET", "HEAD"}),
    ("PATCH", "/api/v1/exchanges/00000000-0000-0000-0000-000000000000/receipt", {"GET", "HEAD"}),
    ("GET", "/oauth2/token", {"POST"}),
    ("PUT", "/_ping", {"GET", "HEAD"}),
    ("PUT", "/review/", {"GET", "HEAD"}),
    ("DELETE", "/review/login", {"GET", "HEAD", "POST"}),
]


async def test_405_names_the_allowed_methods(h: Harness) -> None:
    """Every route answers a method it does not serve with 405 and an Allow header, in the
    route's error format (OperationOutcome, problem+json, or the review pages' HTML)."""
    for method, path, allowed in NOT_SERVED:
        response = await h.client.request(method, path, headers=COUNCIL)
        assert 405 == response.status, path
        assert allowed == {m.strip() for m in response.headers["Allow"].split(",")}, path
        if path.startswith("/review/"):
            assert "text/html" == response.content_type
            continue
        body = await response.json()
        if path.startswith("/fhir/"):
            (issue,) = body["issue"]
            assert "INVALID_METHOD" == issue["details"]["coding"][0]["code"]
        else:
            assert (405, "application/problem+json") == (body["status"], response.content_type)


@pytest.mark.parametrize(
    ("path", "key"), [("/csc/messages", COUNCIL_KEY), ("/fhir/$process-message", TRUST_KEY)]
)
async def test_415_for_a_content_type_the_door_does_not_take(
    h: Harness, path: str, key: str
) -> None:
    """text/plain on a message door: 415 naming what it takes."""
    response = await h.client.post(
        path,
        data=orjson.dumps(child_status()),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"},
    )
    assert 415 == response.status
    assert "application/" in await response.text()


def _nested(depth: int) -> bytes:
    """A CSC message with a member nested ``depth`` levels deep (the message itself is 1)."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    return orjson.dumps(child_status())[:-1] + b',"extra":' + inner + b"}"


async def test_json_deeper_than_the_limit_is_refused_naming_it(
    aiohttp_client: Any, database: Database
) -> None:
    """400 naming limits.json_max_depth before the adapter reads a thing; at the limit, the body
    goes on to the adapter (which refuses the unknown member for its own reason)."""
    async for h in start_harness(aiohttp_client, database, limits=LimitSettings(json_max_depth=8)):
        deep = await h.client.post(
            "/csc/messages", data=_nested(9), headers={**COUNCIL, "Content-Type": JSON}
        )
        assert 400 == deep.status
        problem = await deep.json()
        assert "limits.json_max_depth" in problem["detail"]
        assert [("(body)", "is nested more than 8 levels deep")] == [
            (e["element"], e["reason"]) for e in problem["errors"]
        ]
        at_limit = await h.client.post(
            "/csc/messages", data=_nested(8), headers={**COUNCIL, "Content-Type": JSON}
        )
        assert 400 == at_limit.status
        assert "json_max_depth" not in await at_limit.text()
        assert 0 == await h.count(exchanges)


async def test_the_default_depth_limit_is_64(h: Harness) -> None:
    """A thousand nested arrays: refused by the limit, not by a parser's recursion."""
    response = await h.client.post(
        "/csc/messages", data=_nested(1000), headers={**COUNCIL, "Content-Type": JSON}
    )
    assert 400 == response.status
    assert "more than 64 levels" in (await response.json())["detail"]


async def test_json_larger_than_its_limit_is_413_naming_it(
    aiohttp_client: Any, database: Database
) -> None:
    """limits.json_max_bytes (413), and max_body_bytes for any body (413), each named."""
    async for h in start_harness(
        aiohttp_client, database, limits=LimitSettings(json_max_bytes=2000), max_body_bytes=8000
    ):
        message = child_status()
        message["padding"] = "x" * 3000
        response = await h.client.post(
            "/csc/messages", data=orjson.dumps(message), headers={**COUNCIL, "Content-Type": JSON}
        )
        assert 413 == response.status
        assert "limits.json_max_bytes" in (await response.json())["detail"]
        message["padding"] = "x" * 9000
        response = await h.client.post(
            "/csc/messages", data=orjson.dumps(message), headers={**COUNCIL, "Content-Type": JSON}
        )
        assert 413 == response.status
        assert "8000 bytes" in (await response.json())["detail"]
        big = await h.post_fhir(b"{" + b" " * 9000 + b"}")
        assert 413 == big.status
        assert "OperationOutcome" == (await big.json())["resourceType"]


async def test_a_body_that_stalls_is_cut_off_with_408(
    aiohttp_client: Any, database: Database
) -> None:
    """A client that sends its headers and then stalls gets 408 after limits.body_read_timeout
    (the connection is not kept alive); nothing is processed."""
    async for h in start_harness(
        aiohttp_client, database, limits=LimitSettings(body_read_timeout=0.3)
    ):
        server = h.client.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(
            b"POST /csc/messages HTTP/1.1\r\nHost: gateway\r\n"
            + f"Authorization: Bearer {COUNCIL_KEY}\r\n".encode()
            + b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"message'
        )
        await writer.drain()
        started = asyncio.get_running_loop().time()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        waited = asyncio.get_running_loop().time() - started
        writer.close()
        lines = head.decode().split("\r\n")
        assert lines[0].startswith("HTTP/1.1 408 ")
        assert 0.25 < waited < 3
        assert "Connection: close" in lines
        assert 0 == await h.count(exchanges)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(alphabet='[]{}"\\ax'),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(alphabet='[]{}"\\ab'), children, max_size=3)
        ),
        max_leaves=30,
    ),
    st.integers(min_value=1, max_value=12),
)
@settings(max_examples=300, deadline=None)
def test_the_depth_scanner_agrees_with_the_parsed_value(value: Any, limit: int) -> None:
    """Brackets and quotes inside strings do not count; the answer is exact for valid JSON."""
    assert json_too_deep(orjson.dumps(value), limit) == (_depth(value) > limit)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def test_malformed_brackets_are_left_to_the_parser() -> None:
    """Unbalanced brackets are not "deep": the route's parser names the real fault."""
    assert not json_too_deep(b"[[[[[[[[[[[[", 4)
    assert json_too_deep(b"[[[[[[]]]]]]", 4)
    assert not json_too_deep(b'["[[[[[[[[", "\\"]]]]]]"]', 2)
