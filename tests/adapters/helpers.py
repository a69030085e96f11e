"""Helpers for the adapter tests: fixtures as data, failed parses as issues, fact comparison."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.base import ParseContext
from gateway.errors import InvalidMessage, Issue
from schemas.disclosure import Addressee, Disclosure, WithheldItem, WithheldReason
from schemas.facts import Fact
from schemas.labels import (
    AgeBand,
    Art6Basis,
    Art9Condition,
    Dpa2018Condition,
    LawfulBasis,
    NoConsentReason,
    Obligation,
    Purpose,
)
from schemas.message import CanonicalMessage, MessageKind

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECEIVED = datetime(2025, 3, 14, 23, 6, tzinfo=UTC)
TRUST = ParseContext(partner="northtown-trust", received_at=RECEIVED)
COUNCIL = ParseContext(partner="council-999", received_at=RECEIVED)

# Record content of the fixtures: none of it may ever appear in an error.
FHIR_SECRETS = (
    "9000000009",
    "9000000017",
    "9000000008",
    "CH000123",
    "Jane",
    "Smith",
    "Morgan",
    "1990-04-12",
    "2016-09-03",
    "01632",
    "Borderline",
    "20010003",
    "place of safety by police",
)
CSC_SECRETS = ("9000000017", "9000000009", "CH000123", "Sam", "Smith", "Priya", "01632", "2016-09")


def load(*parts: str) -> dict[str, Any]:
    """A fixture as a fresh dict, to vary."""
    loaded: dict[str, Any] = orjson.loads(FIXTURES.joinpath(*parts).read_bytes())
    return loaded


def failure(
    parse: Callable[[bytes], object], body: bytes, secrets: Iterable[str] = FHIR_SECRETS
) -> InvalidMessage:
    """The InvalidMessage a parse raises, checked to quote no record content anywhere."""
    with pytest.raises(InvalidMessage) as caught:
        parse(body)
    exc = caught.value
    text = " ".join(
        (str(exc), exc.detail, *(f"{i.element} {i.reason} {i.code}" for i in exc.issues))
    )
    leaked = [s for s in secrets if s in text]
    assert [] == leaked
    return exc


def issues(parse: Callable[[bytes], object], body: bytes) -> list[Issue]:
    """The issues a failed parse reports (no record content, status 400)."""
    exc = failure(parse, body)
    assert 400 == exc.status
    return exc.issues


def content(message: CanonicalMessage) -> list[str]:
    """The facts without their message-local ids: each reference is replaced by the referenced
    fact's own content, so two parses of the same information compare equal."""
    by_id = {f.id: f for f in message.facts}

    def shape(fact: Fact) -> dict[str, Any]:
        dumped: dict[str, Any] = fact.model_dump(mode="json", exclude={"id"})
        return dumped

    def resolved(fact: Fact) -> dict[str, Any]:
        dumped = shape(fact)
        for key, value in dumped.items():
            if isinstance(value, str) and value in by_id:
                inner = shape(by_id[value])
                dumped[key] = {k: v for k, v in inner.items() if not _is_ref(v, by_id)}
        return dumped

    return sorted(
        orjson.dumps(resolved(f), option=orjson.OPT_SORT_KEYS).decode() for f in message.facts
    )


def _is_ref(value: object, by_id: dict[str, Fact]) -> bool:
    return isinstance(value, str) and value in by_id


def disclosure(
    facts: tuple[Fact, ...],
    subject: str | None,
    *,
    kind: MessageKind = MessageKind.CRISIS_EVENT,
    sender: str = "RX9",
    recipient: Addressee | None = None,
    about: tuple[str, ...] = (),
) -> Disclosure:
    """A disclosure of ``facts`` under a safeguarding agreement, with one withheld diagnosis."""
    return Disclosure(
        disclosure_id="disc-0001",
        exchange_id="exch-0001",
        kind=kind,
        sender_partner="northtown-trust",
        sender_organisation=sender,
        recipient=recipient or Addressee(partner="council-999", organisation="999"),
        agreement_id="northtown-safeguarding",
        agreement_version=3,
        flow_id="trust-to-council-crisis",
        purpose=Purpose.SAFEGUARDING_CHILD,
        lawful_basis=LawfulBasis(
            art6=Art6Basis.PUBLIC_TASK,
            art9=Art9Condition.SUBSTANTIAL_PUBLIC_INTEREST,
            dpa2018=Dpa2018Condition.SAFEGUARDING,
            age_band=AgeBand.CHILD,
            no_consent_reason=NoConsentReason.WOULD_PREJUDICE_PROTECTION,
        ),
        subject=subject,
        about=about,
        facts=facts,
        disclosed=(),
        withheld=(
            WithheldItem(
                element="diagnosis",
                reason_code=WithheldReason.SENSITIVITY_LABEL,
                reason="psychiatric information is not shared under this agreement",
                ask="Northtown Trust information governance, 01632 960000",
            ),
        ),
        obligations=frozenset({Obligation.NORDSCLCD}),
        created_at=datetime(2025, 3, 14, 23, 7, tzinfo=UTC),
    )
