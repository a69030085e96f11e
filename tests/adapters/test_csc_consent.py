"""The council's consent records: a CSC consent-directive message becomes a stored Consent fact."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from adapters.base import ParseContext
from adapters.csc import CscAdapter
from gateway.errors import InvalidMessage
from schemas.facts import Consent, ConsentActor
from schemas.labels import Purpose
from schemas.message import MessageKind
from tests.conftest import FIXTURES
from tests.gateway_harness import Harness, child_status

FIXTURE = FIXTURES / "csc" / "consent-directive.json"


def _parse(body: bytes) -> object:
    return CscAdapter().parse(body, ParseContext("council-demo", datetime.now(UTC)))


def test_consent_directive_is_a_consent_fact_about_the_child() -> None:
    """A parent's refusal to share with the trust for care coordination, as the canonical Consent."""
    message = CscAdapter().parse(
        FIXTURE.read_bytes(), ParseContext("council-demo", datetime.now(UTC))
    )
    assert MessageKind.CONSENT_DIRECTIVE == message.kind
    consent = next(f for f in message.facts if isinstance(f, Consent))
    assert (ConsentActor.PARENT, "deny", ("RX9",), (Purpose.CARE_COORDINATION,)) == (
        consent.given_by,
        consent.decision,
        consent.recipients,
        consent.purposes,
    )
    assert consent.subject == message.subject


@pytest.mark.parametrize(
    ("change", "element"),
    [
        ({"given_by": "neighbour"}, "$.given_by"),
        ({"decision": "maybe"}, "$.decision"),
        ({"end_date": "2025-03-01"}, "$.end_date"),
        ({"purposes": ["marketing"]}, "$.purposes[0]"),
    ],
)
def test_bad_directives_are_named(change: dict[str, object], element: str) -> None:
    """Someone who cannot give consent, an unknown decision or purpose, an end before the start."""
    body = orjson.loads(FIXTURE.read_bytes()) | change
    with pytest.raises(InvalidMessage) as caught:
        _parse(orjson.dumps(body))
    assert element in [i.element for i in caught.value.issues]


async def test_the_council_records_consent_in_the_index(h: Harness) -> None:
    """Posted to the CSC door, the directive is stored once, about the known child."""
    assert 202 == (await h.post_csc(child_status())).status
    directive = orjson.loads(FIXTURE.read_bytes())
    assert 202 == (await h.post_csc(directive)).status
    assert 202 == (await h.post_csc(directive)).status
    updates = [e for e in await h.entries() if e["event"] == "index.updated"]
    assert [1] == [u["consents"] for u in updates if u["consents"]]
