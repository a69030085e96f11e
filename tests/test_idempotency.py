"""Idempotency-Key on the partner API's POST doors, through the real server on SQLite and
PostgreSQL: replays, misuse, concurrency, scope, expiry and the key committing with its exchange."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, insert, select

from gateway.appkeys import SERVICES
from gateway.conventions import IdempotencySettings
from gateway.idempotency import DONE, IN_FLIGHT, IdempotencyKeys, request_digest
from gateway.store.reader import Reader
from gateway.store.tables import exchanges, idempotency_keys
from tests.conftest import COUNCIL_KEY, TRUST_KEY, Database
from tests.gateway_harness import FHIR, JSON, Harness, child_status, crisis_bundle, start_harness

KEY = "Idempotency-Key"


async def _post_csc(h: Harness, body: dict[str, Any], key: str | None, **headers: str) -> Any:
    sent = {"Authorization": f"Bearer {COUNCIL_KEY}", "Content-Type": JSON, **headers}
    if key is not None:
        sent[KEY] = key
    return await h.client.post("/csc/messages", data=orjson.dumps(body), headers=sent)


async def _post_fhir(h: Harness, body: bytes, key: str) -> Any:
    return await h.post_fhir(body, **{KEY: key})


async def _rows(h: Harness) -> list[Any]:
    async with h.engine.connect() as conn:
        return list(
            await conn.execute(select(idempotency_keys).order_by(idempotency_keys.c.partner))
        )


async def _eventually_no_rows(h: Harness) -> None:
    """Nothing is stored for a request that changed nothing (an answer is written after the
    response, so wait briefly to be sure none is)."""
    for _ in range(100):
        if not await _rows(h):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the key was not released")


async def _refusals(h: Harness, reason: str) -> list[dict[str, Any]]:
    return [
        e for e in await h.entries() if e["event"] == "access.refused" and e.get("reason") == reason
    ]


async def test_a_replay_returns_the_stored_answer_and_changes_nothing(h: Harness) -> None:
    """Same key, same request: the first answer again, byte for byte, marked as a replay, with
    its own X-Request-ID; one exchange, one set of ledger entries, one delivery."""
    body = orjson.dumps(crisis_bundle())
    await _post_csc(h, child_status(), None)
    first = await _post_fhir(h, body, "crisis-1")
    assert 202 == first.status
    original = await first.read()
    assert "Idempotent-Replayed" not in first.headers
    again = await _post_fhir(h, body, "crisis-1")
    assert 202 == again.status
    assert original == await again.read()
    assert "true" == again.headers["Idempotent-Replayed"]
    assert first.headers["Content-Type"] == again.headers["Content-Type"]
    assert first.headers["X-Request-ID"] != again.headers["X-Request-ID"]
    summary = orjson.loads(original)
    assert first.headers["X-Request-ID"] == summary["request_id"]
    async with h.engine.connect() as conn:
        fhir_exchanges = await conn.execute(
            select(func.count()).select_from(exchanges).where(exchanges.c.partner == "trust-demo")
        )
        assert 1 == fhir_exchanges.scalar_one()
    received = [
        e
        for e in await h.entries()
        if e["event"] == "exchange.received" and e["partner"] == "trust-demo"
    ]
    assert 1 == len(received)
    assert not [
        e for e in await h.entries() if e.get("request_id") == again.headers["X-Request-ID"]
    ]
    assert 1 == len(await h.council.wait_for(1))
    (row,) = [r for r in await _rows(h) if r.partner == "trust-demo"]
    assert (DONE, 202, original) == (row.state, row.response_status, row.response_body)
    for _ in range(100):  # the delivery's own entry, then nothing more is being written
        if any(e["event"] == "delivery.attempted" for e in await h.entries()):
            break
        await asyncio.sleep(0.02)
    assert (await h.verify()).intact


async def test_the_same_key_for_a_different_request_is_refused_and_recorded(h: Harness) -> None:
    """422 naming the header (problem+json on the CSC door, OperationOutcome on the FHIR door);
    the misuse is recorded; the first answer still replays."""
    first = await _post_csc(h, child_status(), "k-1")
    assert 202 == first.status
    changed = child_status()
    changed["message_id"] = "another-message"
    refused = await _post_csc(h, changed, "k-1")
    assert 422 == refused.status
    assert "application/problem+json" == refused.content_type
    problem = await refused.json()
    assert ["Idempotency-Key"] == [e["element"] for e in problem["errors"]]
    assert 1 == await h.count(exchanges)
    assert 1 == len(await _refusals(h, "idempotency-key-reused"))
    assert 202 == (await _post_csc(h, child_status(), "k-1")).status

    body = orjson.dumps(crisis_bundle())
    assert 202 == (await _post_fhir(h, body, "k-2")).status
    other = await _post_fhir(h, orjson.dumps(crisis_bundle()) + b" ", "k-2")
    assert 422 == other.status
    outcome = await other.json()
    assert "OperationOutcome" == outcome["resourceType"]
    (issue,) = outcome["issue"]
    assert ["Idempotency-Key"] == issue["expression"]
    assert "INVALID_VALUE" == issue["details"]["coding"][0]["code"]


async def _held_in_resolve(h: Harness, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Hold every exchange in its resolve stage until the returned event is set."""
    release = asyncio.Event()
    real = Reader.run

    async def held(reader: Reader, fn: Any) -> Any:
        if getattr(fn, "__name__", "") == "<lambda>":  # the pipeline's resolve, not a key check
            await release.wait()
        return await real(reader, fn)

    monkeypatch.setattr(Reader, "run", held)
    return release


async def test_a_key_in_flight_answers_409_with_retry_after(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the first request holds the key, a duplicate is refused with 409 and Retry-After;
    once the first has answered, the duplicate gets its answer replayed."""
    release = await _held_in_resolve(h, monkeypatch)
    first = asyncio.create_task(_post_csc(h, child_status(), "held"))
    await asyncio.sleep(0.2)  # the first request is in its resolve stage, holding the key
    assert not first.done()
    held = await _post_csc(h, child_status(), "held")
    assert 409 == held.status
    assert "1" == held.headers["Retry-After"]
    assert "Idempotency-Key" in (await held.json())["detail"]
    assert 0 == await h.count(exchanges)
    release.set()
    assert 202 == (await first).status
    replay = await _post_csc(h, child_status(), "held")
    assert (202, "true") == (replay.status, replay.headers.get("Idempotent-Replayed"))
    assert 1 == await h.count(exchanges)


async def test_a_duplicate_stored_by_another_process_first_is_refused_whole(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process commits the same key while this one processes the request (both looked
    it up first): this request's unit fails whole at commit, 409 with Retry-After, nothing of it
    applied, and the refusal recorded."""
    release = await _held_in_resolve(h, monkeypatch)
    body = orjson.dumps(child_status())
    first = asyncio.create_task(_post_csc(h, child_status(), "raced"))
    await asyncio.sleep(0.2)  # looked up (free), now held in resolve
    now = datetime.now(UTC)
    async with h.engine.begin() as conn:  # the other process's commit
        await conn.execute(
            insert(idempotency_keys).values(
                partner="council-demo",
                key="raced",
                request_sha256=request_digest("POST", "/csc/messages", JSON, body),
                state=DONE,
                response_status=202,
                response_headers='{"Content-Type": "application/json"}',
                response_body=b'{"exchange_id": "from-the-other-process"}',
                created_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )
    release.set()
    response = await first
    assert 409 == response.status
    assert "1" == response.headers["Retry-After"]
    assert 0 == await h.count(exchanges)
    assert [("exchange.refused", 409, "ClaimLost")] == [
        (e["event"], e["status"], e["error"]) for e in await h.entries()
    ]
    replay = await _post_csc(h, child_status(), "raced")
    assert b'{"exchange_id": "from-the-other-process"}' == await replay.read()


async def test_an_expired_or_abandoned_key_row_is_taken_over(h: Harness) -> None:
    """A done key past its ttl, and an in-flight row left by an older gateway version, are free:
    the request is processed and the row replaced with its answer."""
    body = orjson.dumps(child_status())
    digest = request_digest("POST", "/csc/messages", JSON, body)
    now = datetime.now(UTC)
    async with h.engine.begin() as conn:
        for key, state, expires in (
            ("expired", DONE, now - timedelta(seconds=1)),
            ("abandoned", IN_FLIGHT, now + timedelta(minutes=1)),
        ):
            await conn.execute(
                insert(idempotency_keys).values(
                    partner="council-demo",
                    key=key,
                    request_sha256=digest,
                    state=state,
                    created_at=now - timedelta(minutes=5),
                    expires_at=expires,
                )
            )
    for key in ("expired", "abandoned"):
        response = await _post_csc(h, child_status(), key)
        assert 202 == response.status
        assert "Idempotent-Replayed" not in response.headers
    assert 2 == await h.count(exchanges)
    assert {(DONE, 202)} == {(r.state, r.response_status) for r in await _rows(h)}


async def test_concurrent_duplicates_make_one_exchange(h: Harness) -> None:
    """Ten copies sent at once: one exchange; every other copy is a 409 or the replayed answer."""
    body = orjson.dumps(child_status())
    sent = {"Authorization": f"Bearer {COUNCIL_KEY}", "Content-Type": JSON, KEY: "burst"}
    responses = await asyncio.gather(
        *(h.client.post("/csc/messages", data=body, headers=sent) for _ in range(10))
    )
    statuses = sorted(r.status for r in responses)
    assert set(statuses) <= {202, 409}, statuses
    fresh = [r for r in responses if r.status == 202 and "Idempotent-Replayed" not in r.headers]
    assert 1 == len(fresh)
    assert 1 == await h.count(exchanges)


async def test_keys_are_scoped_to_the_partner(h: Harness) -> None:
    """Two partners may use the same key: each gets its own exchange."""
    assert 202 == (await _post_csc(h, child_status(), "shared")).status
    trust = await _post_fhir(h, orjson.dumps(crisis_bundle()), "shared")
    assert 202 == trust.status
    assert "Idempotent-Replayed" not in trust.headers
    assert 2 == await h.count(exchanges)
    assert ["council-demo", "trust-demo"] == [r.partner for r in await _rows(h)]


async def test_a_malformed_key_is_refused_naming_the_header(h: Harness) -> None:
    """1 to 255 printable ASCII characters, or 400 naming Idempotency-Key; nothing processed."""
    for key in ("x" * 256, "caf\u00e9", "tab\there"):  # too long, not ASCII, a control character
        raw = {"Authorization": f"Bearer {COUNCIL_KEY}", "Content-Type": JSON}
        headers = [*raw.items(), (KEY, key)]
        response = await h.client.post(
            "/csc/messages", data=orjson.dumps(child_status()), headers=headers
        )
        assert 400 == response.status
        problem = await response.json()
        expected = [("Idempotency-Key", "value")]
        assert expected == [(e["element"], e["code"]) for e in problem["errors"]]
    assert 0 == await h.count(exchanges)
    await _eventually_no_rows(h)


async def test_an_answer_other_than_2xx_releases_the_key(h: Harness) -> None:
    """A refused request changed nothing: the fixed request may reuse its key."""
    broken = child_status()
    del broken["la_child_id"]
    assert 400 == (await _post_csc(h, broken, "fix-me")).status
    await _eventually_no_rows(h)
    assert 202 == (await _post_csc(h, child_status(), "fix-me")).status
    unauthenticated = await h.client.post(
        "/csc/messages",
        data=orjson.dumps(child_status()),
        headers={"Content-Type": JSON, KEY: "fix-me"},
    )
    assert 401 == unauthenticated.status


async def test_no_key_no_record(h: Harness) -> None:
    """Without the header nothing is kept: the same message twice is two exchanges."""
    assert 202 == (await _post_csc(h, child_status(), None)).status
    assert 202 == (await _post_csc(h, child_status(), None)).status
    assert 2 == await h.count(exchanges)
    assert [] == await _rows(h)


async def test_the_key_commits_with_the_exchange(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is marked done, with the door's answer, in the exchange's own transaction: with
    nothing written after the answer (as if the process stopped as it answered), a replay still
    gets that answer byte for byte, and nothing is processed twice."""

    async def never_written(*_args: object) -> None:
        raise AssertionError("an exchange's answer is written with its key")

    monkeypatch.setattr(IdempotencyKeys, "answer", never_written)
    committer = h.client.app[SERVICES].committer
    units = committer.units
    first = await _post_csc(h, child_status(), "crash")
    assert 202 == first.status
    (row,) = await _rows(h)
    assert (DONE, 202, await first.read()) == (row.state, row.response_status, row.response_body)
    assert 1 == committer.units - units  # one commit for the keyed request, as for an unkeyed one
    replay = await _post_csc(h, child_status(), "crash")
    assert 202 == replay.status
    assert "true" == replay.headers["Idempotent-Replayed"]
    assert await first.read() == await replay.read()
    assert 1 == await h.count(exchanges)


async def test_a_request_that_fails_to_commit_leaves_its_key_free(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger cannot be written: 503, nothing stored, the key not done; the retry is
    processed as new."""
    committer = h.client.app[SERVICES].committer
    real = committer._write  # the writer thread's transaction, made to fail once

    def failing(units: list[Any]) -> Any:
        if any(table is exchanges for unit in units for table, _ in unit.rows):
            raise OSError("disk full")
        return real(units)

    monkeypatch.setattr(committer, "_write", failing)
    assert 503 == (await _post_csc(h, child_status(), "retry-me")).status
    monkeypatch.undo()
    await _eventually_no_rows(h)
    assert 0 == await h.count(exchanges)
    again = await _post_csc(h, child_status(), "retry-me")
    assert 202 == again.status
    assert "Idempotent-Replayed" not in again.headers
    assert 1 == await h.count(exchanges)


async def test_expired_keys_are_free_and_purged(aiohttp_client: Any, database: Database) -> None:
    """A done key past its ttl is free again; expired rows are deleted by a later claim."""
    settings = IdempotencySettings(ttl=0.2, purge_interval=0.1)
    async for h in start_harness(aiohttp_client, database, idempotency=settings):
        assert 202 == (await _post_csc(h, child_status(), "old")).status
        assert 202 == (await _post_csc(h, child_status(), "older")).status
        await asyncio.sleep(0.3)
        changed = child_status()
        changed["message_id"] = "a-later-message"
        assert 202 == (await _post_csc(h, changed, "old")).status
        assert 3 == await h.count(exchanges)
        assert ["old"] == [r.key for r in await _rows(h)]


async def test_only_partner_post_routes_take_keys(h: Harness) -> None:
    """A GET with a key is served as usual, and nothing is kept."""
    response = await h.client.get(
        "/api/v1/workers",
        params={"identifier": "https://fhir.nhs.uk/Id/nhs-number|9000000009"},
        headers={"Authorization": f"Bearer {TRUST_KEY}", KEY: "lookup"},
    )
    assert 404 == response.status
    assert [] == await _rows(h)


def test_request_digest_covers_method_path_type_and_body() -> None:
    """Each part changes the digest."""
    base = request_digest("POST", "/csc/messages", JSON, b"{}")
    assert base == request_digest("POST", "/csc/messages", JSON, b"{}")
    assert base != request_digest("PUT", "/csc/messages", JSON, b"{}")
    assert base != request_digest("POST", "/fhir/$process-message", JSON, b"{}")
    assert base != request_digest("POST", "/csc/messages", FHIR, b"{}")
    assert base != request_digest("POST", "/csc/messages", JSON, b"{} ")
