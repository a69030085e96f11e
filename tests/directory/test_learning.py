"""The directory kept current from partner messages: a partner's own organisational roles are
added, updated and removed in the exchange's own commit; another organisation's never."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from gateway.store.tables import directory_entries
from schemas.identifiers import DFE_LA_CODE_SYSTEM, ODS_CODE_SYSTEM
from tests.conftest import COUNCIL_KEY, FIXTURES, TRUST_KEY
from tests.directory.helpers import DEMO_DIRECTORY, stored
from tests.gateway_harness import Harness, start_harness

ROLE_SYSTEM = "https://joined-up.org.uk/CodeSystem/worker-role"
OUT_OF_HOURS = "https://joined-up.org.uk/StructureDefinition/out-of-hours"
LOCAL_ID = "https://joined-up.org.uk/Id/worker-local-id"


def record_update(
    *roles: tuple[str, str, str, str],
    phone: str = "01632 960111",
    end: str | None = None,
) -> dict[str, Any]:
    """The trust's record update, plus a Practitioner and PractitionerRole for each
    (local id, role code, organisation identifier system, organisation code)."""
    bundle: dict[str, Any] = orjson.loads(
        (FIXTURES / "fhir" / "record-update-transaction.json").read_bytes()
    )
    for number, (local_id, code, system, organisation) in enumerate(roles):
        practitioner = f"11111111-1111-4111-8111-{number:012d}"
        role = f"22222222-2222-4222-8222-{number:012d}"
        resource: dict[str, Any] = {
            "resourceType": "PractitionerRole",
            "id": role,
            "practitioner": {"reference": f"urn:uuid:{practitioner}"},
            "organization": {"identifier": {"system": system, "value": organisation}},
            "code": [{"coding": [{"system": ROLE_SYSTEM, "code": code}]}],
            "telecom": [
                {"system": "phone", "value": phone},
                {
                    "system": "phone",
                    "value": "01632 960000",
                    "extension": [{"url": OUT_OF_HOURS, "valueBoolean": True}],
                },
            ],
        }
        if end is not None:
            resource["period"] = {"start": "2024-01-01", "end": end}
        bundle["entry"] += [
            {
                "fullUrl": f"urn:uuid:{practitioner}",
                "resource": {
                    "resourceType": "Practitioner",
                    "id": practitioner,
                    "identifier": [{"system": LOCAL_ID, "value": local_id}],
                    "name": [{"family": "Okafor", "given": ["Dana"]}],
                },
                "request": {"method": "PUT", "url": f"Practitioner/{practitioner}"},
            },
            {
                "fullUrl": f"urn:uuid:{role}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"PractitionerRole/{role}"},
            },
        ]
    return bundle


SGL = ("T-SGL-1", "safeguarding-lead-adults", ODS_CODE_SYSTEM, "RX9")


async def _loaded(h: Harness) -> list[dict[str, Any]]:
    return [e for e in await h.entries() if e["event"] == "directory.loaded"]


async def test_the_trust_names_its_safeguarding_lead(h: Harness) -> None:
    """A record update naming the trust's adult safeguarding lead adds the entry in the
    exchange's commit, with a directory.loaded entry tied to the exchange; the council's
    directory look-up then finds the lead, said to come from a partner."""
    body = orjson.dumps(record_update(SGL))
    response = await h.post_fhir(body)
    assert 202 == response.status, await response.text()
    exchange_id = (await response.json())["exchange_id"]
    rows = await stored(h.engine)
    assert [("RX9", "safeguarding-lead-adults", "worker:T-SGL-1", "trust-demo")] == [
        r[:4] for r in rows
    ]
    [loaded] = await _loaded(h)
    assert (exchange_id, "partner-message", ["RX9"], 1, "trust-demo") == (
        loaded["exchange_id"],
        loaded["by"],
        loaded["organisations"],
        loaded["entries"],
        loaded["partner"],
    )
    assert hashlib.sha256(body).hexdigest() == loaded["file_sha256"]

    answer = await h.client.get(
        "/api/v1/directory/organisations/RX9/roles",
        params={"role": "safeguarding-lead-adults"},
        headers={"Authorization": f"Bearer {COUNCIL_KEY}"},
    )
    assert 200 == answer.status
    [entry] = (await answer.json())["entries"]
    assert ("partner", {"given": ["Dana"], "family": "Okafor"}) == (entry["source"], entry["name"])
    assert [{"system": "phone", "value": "01632 960111", "out_of_hours": False}] == entry["telecom"]


async def test_repeats_change_nothing_updates_replace_and_an_ended_role_goes(h: Harness) -> None:
    """The same message again writes and records nothing; a new phone number updates the one
    entry; a role whose period has ended is removed."""
    assert 202 == (await h.post_fhir(record_update(SGL))).status
    first = await stored(h.engine)
    assert 202 == (await h.post_fhir(record_update(SGL))).status
    assert first == await stored(h.engine)
    assert 1 == len(await _loaded(h))

    assert 202 == (await h.post_fhir(record_update(SGL, phone="01632 960112"))).status
    [row] = await stored(h.engine)
    assert "01632 960112" in row[4]
    assert 2 == len(await _loaded(h))

    assert 202 == (await h.post_fhir(record_update(SGL, end="2025-01-31"))).status
    assert [] == await stored(h.engine)
    assert [1, 1, 1] == [e["entries"] for e in await _loaded(h)]


async def test_never_in_another_organisations_name(h: Harness) -> None:
    """The trust naming the council's front door, or another trust's safeguarding lead, changes
    nothing in the directory (the message itself is still accepted, as the index treats it)."""
    before = await h.count(directory_entries)
    message = record_update(
        ("X-1", "front-door", DFE_LA_CODE_SYSTEM, "999"),
        ("X-2", "safeguarding-lead-adults", ODS_CODE_SYSTEM, "R1A"),
    )
    assert 202 == (await h.post_fhir(message)).status
    assert before == await h.count(directory_entries) == 0
    assert [] == await _loaded(h)
    # The council's own token cannot send the trust's message either: refused at the door.
    refused = await h.post_fhir(record_update(SGL), key=COUNCIL_KEY)
    assert 403 == refused.status
    assert 0 == await h.count(directory_entries)


async def test_a_partners_entry_replaces_the_files_for_the_same_worker(
    aiohttp_client: Any, database: Any
) -> None:
    """A partner message about a worker the file lists updates that one entry (the partner is
    then its source); every other entry stays as the file put it."""
    async for h in start_harness(aiohttp_client, database, directory_file=DEMO_DIRECTORY):
        from_file = {r[:3]: r for r in await stored(h.engine)}
        key = ("RX9", "safeguarding-lead-adults", "worker:RX9-W0101")
        assert "file" == from_file[key][3]
        lead = ("RX9-W0101", "safeguarding-lead-adults", ODS_CODE_SYSTEM, "RX9")
        assert 202 == (await h.post_fhir(record_update(lead), key=TRUST_KEY)).status
        after = {r[:3]: r for r in await stored(h.engine)}
        assert "trust-demo" == after[key][3]
        assert len(from_file) == len(after)
        assert {k: v for k, v in from_file.items() if k != key} == {
            k: v for k, v in after.items() if k != key
        }
