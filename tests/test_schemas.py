"""The canonical model: frozen, strict, and exportable as JSON Schema."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from gateway.cli import main
from schemas.facts import CrisisEvent, CrisisKind, Period, Person
from schemas.identifiers import NhsNumber
from schemas.message import CanonicalMessage, MessageKind
from schemas.provenance import Provenance


def _provenance() -> Provenance:
    return Provenance(
        organisation="RX9",
        system="trust-demo",
        source_format="fhir-r4",
        source_message_id="m1",
        received_at=datetime.now(UTC),
    )


def test_models_are_frozen() -> None:
    """A fact cannot be changed after it is made."""
    person = Person(id="p", identifiers=(NhsNumber(value="9000000009"),))
    with pytest.raises(ValidationError):
        person.birth_date = None  # type: ignore[misc]


def test_unknown_fields_are_an_error() -> None:
    """An unknown field is refused, not silently dropped."""
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Person.model_validate({"id": "p", "diagnosis": "x"})


def test_invalid_nhs_number_in_a_person_is_refused() -> None:
    """A person cannot carry an NHS number with a wrong check digit."""
    with pytest.raises(ValidationError, match="check digit"):
        Person.model_validate(
            {"id": "p", "identifiers": [{"type": "nhs-number", "value": "9000000008"}]}
        )


def test_message_subject_must_be_a_person_in_the_message() -> None:
    """A message's subject refers to a person fact it holds."""
    event = CrisisEvent(
        id="e", kind=CrisisKind.DETENTION, subject="p", period=Period(start=datetime.now(UTC))
    )
    with pytest.raises(ValidationError, match="subject must be a person"):
        CanonicalMessage(
            message_id="m",
            kind=MessageKind.CRISIS_EVENT,
            subject="e",
            facts=(event,),
            provenance=_provenance(),
        )


def test_fact_ids_are_unique() -> None:
    """Two facts with one id are refused."""
    with pytest.raises(ValidationError, match="unique"):
        CanonicalMessage(
            message_id="m",
            kind=MessageKind.CRISIS_EVENT,
            subject="p",
            facts=(Person(id="p"), Person(id="p")),
            provenance=_provenance(),
        )


def test_schemas_export_writes_every_model(tmp_path: Path) -> None:
    """`joinedup schemas export DIR` writes a JSON Schema per canonical model."""
    assert 0 == main(["schemas", "export", str(tmp_path)])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "CanonicalMessage.schema.json" in names
    assert "Disclosure.schema.json" in names
    assert "CrisisEvent.schema.json" in names
    schema = orjson.loads((tmp_path / "Disclosure.schema.json").read_bytes())
    assert "withheld" in schema["required"]
