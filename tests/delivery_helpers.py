"""Helpers for the delivery tests: synthetic families (NHS numbers from the 999 test range), the
outbox read and changed behind the gateway's back, and waiting for the worker."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.tables import outbox
from schemas.identifiers import nhs_number_check_digit
from tests.gateway_harness import Harness, child_status, crisis_bundle

NHS = "https://fhir.nhs.uk/Id/nhs-number"
LA_CHILD = "https://joined-up.org.uk/Id/la-child-id"
MRN = "https://epr.rx9.example/Id/mrn"


def synthetic_nhs_number(n: int) -> str:
    """The ``n``-th valid NHS number (from 0) of the synthetic 999 range."""
    seen = 0
    for body in range(999_000_000, 999_999_999):
        digits = f"{body:09d}"
        check = nhs_number_check_digit(digits)
        if check is None:
            continue
        if seen == n:
            return digits + str(check)
        seen += 1
    raise ValueError("no NHS number left in the range")


@dataclass(frozen=True)
class Family:
    """A mother known to the trust and her child known to the council (999), synthetic."""

    number: int

    @property
    def mother_nhs(self) -> str:
        return synthetic_nhs_number(1000 + self.number * 2)

    @property
    def child_nhs(self) -> str:
        return synthetic_nhs_number(1001 + self.number * 2)

    @property
    def la_child_id(self) -> str:
        return f"CH9{self.number:05d}"

    def child_status(self) -> dict[str, Any]:
        """The council's child-status message naming the child, its worker and the mother."""
        message = child_status(la_child_id=self.la_child_id)
        message["message_id"] = f"csc-999-{uuid.uuid4().hex[:12]}"
        details = message["child_details"]
        details["nhs_number"] = self.child_nhs
        details.pop("unique_pupil_number", None)
        message["family"][0]["nhs_number"] = self.mother_nhs
        return message

    def crisis(self) -> dict[str, Any]:
        """A fresh s136 crisis message about the mother (new bundle and message ids)."""
        bundle = copy.deepcopy(crisis_bundle())
        bundle["id"] = str(uuid.uuid4())
        for entry in bundle["entry"]:
            resource = entry["resource"]
            kind = resource["resourceType"]
            if kind == "MessageHeader":
                resource["id"] = str(uuid.uuid4())
            elif kind == "Patient":
                for identifier in resource["identifier"]:
                    if identifier["system"] == NHS:
                        identifier["value"] = self.mother_nhs
                    elif identifier["system"] == MRN:
                        identifier["value"] = f"RX9-9{self.number:06d}"
            elif kind == "RelatedPerson":
                for identifier in resource["identifier"]:
                    if identifier["system"] == NHS:
                        identifier["value"] = self.child_nhs
                    elif identifier["system"] == LA_CHILD:
                        identifier["value"] = f"999/{self.la_child_id}"
        return bundle


async def introduce(h: Harness, *families: Family) -> None:
    """The council tells the gateway about each family's child and its worker."""
    for family in families:
        response = await h.post_csc(family.child_status())
        assert 202 == response.status, await response.text()


async def send_crisis(h: Harness, family: Family, request_id: str | None = None) -> str:
    """Post a crisis message about ``family``'s mother; return the request id it went with."""
    rid = request_id or str(uuid.uuid4())
    response = await h.post_fhir(family.crisis(), **{"X-Request-ID": rid})
    assert 202 == response.status, await response.text()
    summary = await response.json()
    assert ["permit"] == [r["outcome"] for r in summary["recipients"]], summary
    return rid


async def rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every outbox row, oldest first."""
    async with engine.connect() as conn:
        found = await conn.execute(select(outbox).order_by(outbox.c.created_at, outbox.c.id))
        return [dict(r._mapping) for r in found]


async def change(engine: AsyncEngine, outbox_id: str, **values: Any) -> None:
    """Change an outbox row behind the gateway's back (as someone with database access could)."""
    async with engine.begin() as conn:
        await conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(**values))


async def until(
    check: Callable[[], Awaitable[bool]], seconds: float = 10.0, what: str = "the condition"
) -> None:
    """Poll ``check`` every 20 ms until it is true (AssertionError after ``seconds``)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        await asyncio.sleep(0.02)


async def until_rows(
    engine: AsyncEngine,
    check: Callable[[list[dict[str, Any]]], bool],
    seconds: float = 10.0,
    what: str = "the outbox state",
) -> list[dict[str, Any]]:
    """Poll the outbox until ``check(rows)`` holds; return those rows."""
    found: list[dict[str, Any]] = []

    async def holds() -> bool:
        found[:] = await rows(engine)
        return check(found)

    await until(holds, seconds, what)
    return found
