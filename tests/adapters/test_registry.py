"""The default adapter list and the in-memory fake used by gateway tests."""

from __future__ import annotations

import pytest

from adapters.base import Adapter, Loss
from adapters.csc import CscAdapter
from adapters.fake import FakeAdapter
from adapters.fhir_r4 import FhirR4Adapter
from adapters.registry import default_adapters
from gateway.errors import InvalidMessage, Issue
from schemas.facts import Person
from schemas.identifiers import NhsNumber
from tests.adapters.helpers import TRUST, disclosure, failure


def test_default_adapters_are_fhir_and_csc_by_name() -> None:
    """The gateway starts with the FHIR R4 and CSC adapters, keyed by their names."""
    adapters = default_adapters()
    assert ["csc", "fhir-r4"] == sorted(adapters)
    assert (True, True) == (
        isinstance(adapters["fhir-r4"], FhirR4Adapter),
        isinstance(adapters["csc"], CscAdapter),
    )


def test_fake_adapter_round_trips_canonical_json_and_remembers_renders() -> None:
    """The fake parses canonical JSON and renders disclosures as JSON, keeping each one."""
    fake = FakeAdapter("fake-council", losses=(Loss("risk", "not carried"),))
    assert isinstance(fake, Adapter)
    parent = Person(id="p", identifiers=(NhsNumber(value="9000000009"),))
    sent = disclosure((parent,), "p")
    rendered = fake.render(sent)
    assert ([sent], (Loss("risk", "not carried"),)) == (fake.rendered, rendered.losses)
    message = sent.model_dump_json()
    assert sent == type(sent).model_validate_json(rendered.body)
    with pytest.raises(InvalidMessage):
        fake.parse(message.encode(), TRUST)  # a disclosure is not a canonical message


def test_fake_adapter_refuses_invalid_canonical_json_without_values() -> None:
    """A bad NHS number in canonical JSON is named by path; the number is not quoted."""
    body = (
        b'{"message_id": "m", "kind": "crisis-event", "subject": "p", "facts": [{"fact": "person",'
        b' "id": "p", "identifiers": [{"type": "nhs-number", "value": "9000000008"}]}],'
        b' "provenance": {"organisation": "RX9", "system": "t", "source_format": "fake",'
        b' "source_message_id": "m", "received_at": "2025-03-14T23:06:00Z"}}'
    )
    exc = failure(lambda b: FakeAdapter().parse(b, TRUST), body, ("9000000008",))
    assert [
        Issue(
            "$.facts[0].identifiers[0].value",
            "the NHS number's check digit is wrong",
            "value",
        )
    ] == exc.issues
