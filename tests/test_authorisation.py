"""Authorisation by agreement, over HTTP: no partner reads or writes another partner's people
unless an agreement covers it.

Three partners (the trust RX9, council 999 and council 998) each own people the others have
nothing to do with, and the trust and council 999 share a family (a mother who is the trust's
patient, her child known to the council). Every API route is tried by every partner against every
owner's people: the message doors (writing in another organisation's name), the look-up (reading
another agency's worker for a person), the receipt (reading another partner's exchange) and the
token endpoint (becoming another partner). Admin and review routes need a signed-in role; ops
routes are public only as the operators' guide documents.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import select

from gateway.oauth.client import client_assertion, token_form
from gateway.store.tables import (
    consents,
    exchanges,
    family_links,
    outbox,
    person_identifiers,
    persons,
    social_care_episodes,
    worker_roles,
)
from tests.conftest import COUNCIL_KEY, OTHER_COUNCIL_KEY, PARTNER_KEYS, TOKEN_URL, TRUST_KEY
from tests.gateway_harness import FHIR, JSON, Harness, child_status, crisis_bundle
from tests.gateway_harness import fresh_message as _fresh

NHS = "https://fhir.nhs.uk/Id/nhs-number"
TRUST, COUNCIL, OTHER = "trust-demo", "council-demo", "council-other"
TOKENS = {TRUST: TRUST_KEY, COUNCIL: COUNCIL_KEY, OTHER: OTHER_COUNCIL_KEY}
ORGANISATION = {TRUST: "RX9", COUNCIL: "999", OTHER: "998"}


@dataclass(frozen=True)
class Subject:
    """A person the index knows through one owner only, and the worker role the owner holds."""

    owner: str
    nhs: str
    role: str


# The people only their owner knows: a second patient of the trust (with her child), a child of
# each council (with the child's mother).
PRIVATE = (
    Subject(TRUST, "9000000068", "care-coordinator"),
    Subject(COUNCIL, "9000000084", "allocated-social-worker"),
    Subject(OTHER, "9000000033", "allocated-social-worker"),
)
SHARED_MOTHER, SHARED_CHILD = "9000000009", "9000000017"


def _renumbered(document: dict[str, Any], numbers: dict[str, str]) -> bytes:
    raw = orjson.dumps(document)
    for old, new in numbers.items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


def _council_child(la_code: str, child: str, mother: str, la_child_id: str) -> dict[str, Any]:
    status = child_status(la_code, la_child_id)
    status["message_id"] = f"csc-{la_code}-{uuid.uuid4().hex[:8]}"
    del status["child_details"]["unique_pupil_number"]  # the shared child's: it would match her
    renumbered: dict[str, Any] = orjson.loads(
        _renumbered(status, {SHARED_CHILD: child, SHARED_MOTHER: mother})
    )
    return renumbered


async def _story(h: Harness) -> dict[str, list[str]]:
    """Each owner's messages; the exchange ids each partner sent."""
    sent: dict[str, list[str]] = {TRUST: [], COUNCIL: [], OTHER: []}

    async def accepted(partner: str, response: Any) -> None:
        assert 202 == response.status, await response.text()
        sent[partner].append((await response.json())["exchange_id"])

    # The shared family: the council's child, then the trust's crisis about her mother.
    await accepted(COUNCIL, await h.post_csc(child_status()))
    await accepted(TRUST, await h.post_fhir(_fresh(crisis_bundle())))
    # The people only one partner knows.
    bundle = _fresh(crisis_bundle())
    for entry in bundle["entry"]:  # the shared child's council id would match her
        resource = entry["resource"]
        resource["identifier"] = [
            i for i in resource.get("identifier", []) if "la-child-id" not in i["system"]
        ]
    trust_only = _renumbered(bundle, {SHARED_MOTHER: "9000000068", SHARED_CHILD: "9000000076"})
    await accepted(TRUST, await h.post_fhir(trust_only))
    await accepted(
        COUNCIL, await h.post_csc(_council_child("999", "9000000084", "9000000092", "CH-0084"))
    )
    await accepted(
        OTHER,
        await h.post_csc(
            _council_child("998", "9000000033", "9000000041", "NB-0033"), key=OTHER_COUNCIL_KEY
        ),
    )
    return sent


async def _lookup(h: Harness, partner: str, nhs: str, role: str) -> tuple[int, dict[str, Any]]:
    response = await h.client.get(
        "/api/v1/workers",
        params={"identifier": f"{NHS}|{nhs}", "role": role},
        headers={"Authorization": f"Bearer {TOKENS[partner]}"},
    )
    return response.status, await response.json(content_type=None)


async def _lookups(h: Harness) -> list[dict[str, Any]]:
    return [e for e in await h.entries() if e["event"] == "lookup.decided"]


async def test_no_partner_reads_another_owners_people_through_the_look_up(h: Harness) -> None:
    """Every partner asks about every owner's people: only the shared family is answered, and
    only under a worker-contact flow to the asker. Everyone else gets the unknown person's 404,
    word for word, and the refusal is recorded as subject-not-covered."""
    await _story(h)
    _, unknown = await _lookup(h, TRUST, "9000000025", "care-coordinator")
    answered: dict[tuple[str, str], int] = {}
    for asker in (TRUST, COUNCIL, OTHER):
        for subject in PRIVATE:
            status, body = await _lookup(h, asker, subject.nhs, subject.role)
            answered[(asker, subject.owner)] = status
            assert (404, unknown["detail"]) == (status, body.get("detail")), (asker, subject)
    # Two of these (the trust about council 999's child, council 999 about the trust's patient)
    # have a worker-contact flow: only the subject's owner keeps them out.
    assert dict.fromkeys(answered, 404) == answered
    refused = [e for e in await _lookups(h) if e["reason_code"] == "subject-not-covered"]
    # Each cross-partner pair is refused as not covered (two per asker); an owner asking about
    # its own person is covered, and refused only because no flow goes from an organisation to
    # itself.
    assert sorted([TRUST, COUNCIL, OTHER] * 2) == sorted(e["partner"] for e in refused)
    shared = {
        asker: (await _lookup(h, asker, nhs, role))[0]
        for asker, nhs, role in (
            (TRUST, SHARED_CHILD, "allocated-social-worker"),
            (COUNCIL, SHARED_MOTHER, "care-coordinator"),
            (OTHER, SHARED_MOTHER, "care-coordinator"),
        )
    }
    assert {TRUST: 200, COUNCIL: 200, OTHER: 404} == shared
    assert "subject-not-covered" == (await _lookups(h))[-1]["reason_code"]


async def test_a_flow_alone_does_not_open_a_person_to_the_asker(h: Harness) -> None:
    """The trust may ask council 999 for worker contacts, but not about a child of that council's
    whom the trust has nothing to do with; once the trust's own patient is that child's mother, it
    may."""
    assert 202 == (await h.post_csc(child_status())).status
    status, _ = await _lookup(h, TRUST, SHARED_CHILD, "allocated-social-worker")
    assert 404 == status
    assert 202 == (await h.post_fhir(_fresh(crisis_bundle()))).status
    status, body = await _lookup(h, TRUST, SHARED_CHILD, "allocated-social-worker")
    assert (200, ["999"]) == (status, [w["organisation"] for w in body["workers"]])
    outcomes = [(e["outcome"], e["reason_code"]) for e in await _lookups(h)]
    assert [("refuse", "subject-not-covered"), ("permit", "flow-permits")] == outcomes


async def _index_state(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    state: dict[str, list[tuple[Any, ...]]] = {}
    async with h.engine.connect() as conn:
        for table in (
            persons,
            person_identifiers,
            family_links,
            worker_roles,
            social_care_episodes,
            consents,
            exchanges,
        ):
            rows = await conn.execute(select(table))
            state[table.name] = sorted(tuple(map(str, row)) for row in rows)
        # The outbox's rows, not their delivery state: the worker delivers meanwhile.
        ids = await conn.execute(select(outbox.c.id, outbox.c.partner, outbox.c.body_sha256))
        state["outbox"] = sorted(tuple(row) for row in ids)
    return state


async def test_no_partner_writes_in_another_owners_name(h: Harness) -> None:
    """Every partner tries both doors in every other owner's name: each is a 403, and the index,
    the exchanges and the outbox are exactly as they were."""
    await _story(h)
    before = await _index_state(h)
    entries_before = len(await h.entries())
    attempts: dict[tuple[str, str, str], int] = {}
    for writer in (TRUST, COUNCIL, OTHER):
        for owner in (TRUST, COUNCIL, OTHER):
            if owner == writer:
                continue
            token = TOKENS[writer]
            if owner == TRUST:
                response = await h.post_fhir(_fresh(crisis_bundle()), key=token)
                attempts[(writer, owner, "fhir")] = response.status
            else:
                code = ORGANISATION[owner]
                status = _council_child(code, "9000000084", "9000000092", "CH-0084")
                status["social_care_episodes"][-1]["care_worker_details"][-1]["worker_name"] = (
                    "Not Their Worker"
                )
                response = await h.post_csc(status, key=token)
                attempts[(writer, owner, "csc")] = response.status
    assert dict.fromkeys(attempts, 403) == attempts
    assert before == await _index_state(h)
    # Nothing applied; each refusal recorded, naming the error and no more.
    # (The story's deliveries may be recorded meanwhile.)
    added = [e for e in (await h.entries())[entries_before:] if e["event"] != "delivery.attempted"]
    assert [(e["event"], e["status"], e["error"]) for e in added] == [
        ("exchange.refused", 403, "Forbidden")
    ] * len(attempts)


async def _receipt(h: Harness, partner: str, exchange_id: str) -> int:
    for _ in range(5):
        response = await h.client.get(
            f"/api/v1/exchanges/{exchange_id}/receipt",
            headers={"Authorization": f"Bearer {TOKENS[partner]}"},
        )
        if response.status != 503:
            return response.status
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    return 503


async def test_no_partner_reads_another_partners_receipts(h: Harness) -> None:
    """A receipt goes only to the exchange's sender; anyone else gets the unknown id's 404."""
    sent = await _story(h)
    seen: dict[tuple[str, str], int] = {}
    for owner, ids in sent.items():
        for reader in (TRUST, COUNCIL, OTHER):
            seen[(reader, owner)] = await _receipt(h, reader, ids[-1])
    expected = {(reader, owner): 200 if reader == owner else 404 for reader, owner in seen}
    assert expected == seen
    assert 404 == await _receipt(h, TRUST, str(uuid.uuid4()))


async def test_no_partner_can_become_another(h: Harness) -> None:
    """A partner's key cannot get a token in another partner's name: its kid is not in their
    JWKS, and naming their kid fails the signature or the key type."""
    outcomes: list[tuple[str, str, int, str]] = []
    for signer in (TRUST, COUNCIL, OTHER):
        key = PARTNER_KEYS[signer]
        for victim in (TRUST, COUNCIL, OTHER):
            if victim == signer:
                continue
            assertion = client_assertion(key, victim, TOKEN_URL)
            response = await h.post_token(token_form(assertion))
            outcomes.append((signer, victim, response.status, (await response.json())["error"]))
            assert 401 == response.status
    assert all(o[2:] == (401, "invalid_client") for o in outcomes)
    refused = [e for e in await h.entries() if e["event"] == "access.refused"]
    assert {"unknown-kid"} == {e["reason"] for e in refused}
    assert [o[1] for o in outcomes] == [e["user"] for e in refused]


# -- every route has an access rule -------------------------------------------------------------

# Public on purpose: the token endpoint authenticates the client from the body; the OpenAPI
# document is public; /_ping, /_status and /metrics carry no identifiers and are to be reachable
# only from the monitoring network (docs/operators.md, "Run"); the review pages' sign-in.
PUBLIC = {
    ("POST", "/oauth2/token"),
    ("GET", "/openapi.json"),
    ("GET", "/_ping"),
    ("GET", "/_status"),
    ("GET", "/metrics"),
    ("GET", "/review"),
    ("GET", "/review/static/review.css"),
    ("GET", "/review/login"),
    ("POST", "/review/login"),
    ("POST", "/review/logout"),
    ("GET", "/review/oidc/start"),
    ("GET", "/review/oidc/callback"),
}
PARTNER_API = {
    ("POST", "/fhir/$process-message"),
    ("POST", "/csc/messages"),
    ("GET", "/api/v1/workers"),
    ("GET", "/api/v1/children/status"),
    ("GET", "/api/v1/exchanges/{exchange_id}/receipt"),
    ("GET", "/api/v1/directory/organisations/{code}/roles"),  # issue 7: the directory
}


def _concrete(template: str) -> str:
    for name, value in (
        ("{exchange_id}", str(uuid.uuid4())),
        ("{person_id}", str(uuid.uuid4())),
        ("{outbox_id}", str(uuid.uuid4())),
        ("{seq}", "1"),
        ("{code}", "999"),
    ):
        template = template.replace(name, value)
    return template


def _routes(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


async def test_every_route_has_an_access_rule_and_refuses_strangers(h: Harness) -> None:
    """Each route is public (listed above, as documented), a partner API route (401 without a
    token, with a Bearer challenge), or a review or admin page (a signed-in role: a partner's
    token is not one). A route added without a rule fails here."""
    routes = _routes(h.client.app)
    unclassified = {r for r in routes - PUBLIC - PARTNER_API if not r[1].startswith("/review/")}
    assert set() == unclassified
    assert PARTNER_API <= routes
    for method, template in sorted(routes - PUBLIC):
        path = _concrete(template)
        for headers in ({}, {"Authorization": f"Bearer {TRUST_KEY}"}):
            if (method, template) in PARTNER_API and headers:
                continue
            response = await h.client.request(
                method,
                path,
                headers={"Content-Type": JSON if "csc" in path else FHIR, **headers},
                data=b"{}",
                allow_redirects=False,
            )
            if (method, template) in PARTNER_API:
                assert (401, True) == (
                    response.status,
                    response.headers.get("WWW-Authenticate", "").startswith("Bearer"),
                ), template
            elif response.status == 303:
                assert response.headers["Location"].startswith("/review/login"), template
            else:
                assert response.status in (401, 403), (template, response.status)
