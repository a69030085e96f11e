"""The sharing request on a FHIR MessageHeader: a named basis (Sch 1 para 18) or an urgent override."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from adapters.base import ParseContext
from adapters.fhir_r4 import FhirR4Adapter
from adapters.fhir_r4.request import SHARING_REQUEST_EXTENSION
from gateway.errors import InvalidMessage
from schemas.labels import AgeBand, Dpa2018Condition, NoConsentReason
from schemas.request import OverrideReason
from tests.conftest import FIXTURES


def _with(extension: dict[str, Any]) -> bytes:
    bundle = orjson.loads((FIXTURES / "fhir" / "crisis-s136.json").read_bytes())
    header = bundle["entry"][0]["resource"]
    header.setdefault("extension", []).append({"url": SHARING_REQUEST_EXTENSION} | extension)
    return orjson.dumps(bundle)


def _parse(body: bytes) -> Any:
    return FhirR4Adapter().parse(body, ParseContext("trust-demo", datetime.now(UTC)))


def test_para18_request_is_read() -> None:
    """The basis, age band and reason come through; the extension is not reported as unmapped."""
    message = _parse(
        _with(
            {
                "extension": [
                    {"url": "lawfulBasis", "valueCode": "art6(1)(e)+art9(2)(g)+sch1-para18"},
                    {"url": "ageBand", "valueCode": "child"},
                    {"url": "noConsentReason", "valueCode": "would-prejudice-protection"},
                ]
            }
        )
    )
    basis = message.request.lawful_basis
    assert (
        Dpa2018Condition.SAFEGUARDING,
        AgeBand.CHILD,
        NoConsentReason.WOULD_PREJUDICE_PROTECTION,
    ) == (
        basis.dpa2018,
        basis.age_band,
        basis.no_consent_reason,
    )
    assert not any("extension" in u.element and "entry[0]" in u.element for u in message.unmapped)


def test_override_is_read() -> None:
    """An urgent override with its reason, justification and approver."""
    message = _parse(
        _with(
            {
                "extension": [
                    {
                        "url": "override",
                        "extension": [
                            {"url": "reason", "valueCode": "imminent-risk-to-child"},
                            {"url": "justification", "valueString": "Cannot wait until morning."},
                            {"url": "approver", "valueString": "Duty manager B. Example"},
                        ],
                    }
                ]
            }
        )
    )
    assert OverrideReason.IMMINENT_RISK_TO_CHILD == message.request.override.reason_code


@pytest.mark.parametrize(
    ("extension", "element"),
    [
        ({"extension": [{"url": "lawfulBasis", "valueCode": "art6(9)"}]}, "lawfulBasis"),
        (
            {
                "extension": [
                    {"url": "override", "extension": [{"url": "reason", "valueCode": "x"}]}
                ]
            },
            "override",
        ),
        ({"extension": []}, "extension[0]"),
    ],
)
def test_bad_requests_are_named(extension: dict[str, Any], element: str) -> None:
    """Unknown codes or an incomplete override are refused, naming the element, never the value."""
    with pytest.raises(InvalidMessage) as caught:
        _parse(_with(extension))
    assert any(element in i.element for i in caught.value.issues)


def test_withhold_is_read() -> None:
    """A sender's withhold with its s16LA judgement."""
    judgement = "Disclosure now would be more detrimental to the child."
    message = _parse(
        _with(
            {
                "extension": [
                    {
                        "url": "withhold",
                        "extension": [
                            {"url": "by", "valueString": "Care coordinator C. Example"},
                            {"url": "moreDetrimentalJudgement", "valueString": judgement},
                        ],
                    }
                ]
            }
        )
    )
    assert judgement == message.request.withhold.more_detrimental_judgement
