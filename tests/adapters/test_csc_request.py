"""CSC messages: the envelope's sharing request, and third parties labelled as the FHIR adapter does.

``sharing_request`` mirrors the FHIR MessageHeader's sharing-request extension: the same request in
either format must become the same ``CanonicalMessage.request``. A person a CSC message names who is
not the child nor, by what the message says, the child's parent or carer is labelled ``3RDPARTY``.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.csc import CscAdapter
from adapters.csc.inbound import INBOUND
from adapters.fhir_r4 import FhirR4Adapter
from adapters.fhir_r4.request import SHARING_REQUEST_EXTENSION
from gateway.errors import Issue
from schemas.facts import FamilyRelationship, Person, RelationshipRole
from schemas.labels import (
    AgeBand,
    Art6Basis,
    Art9Condition,
    Dpa2018Condition,
    LawfulBasis,
    NoConsentReason,
    Purpose,
    SecurityLabels,
    Sensitivity,
)
from schemas.message import CanonicalMessage
from schemas.request import Override, OverrideReason, SharingRequest, Withhold
from tests.adapters.helpers import COUNCIL, CSC_SECRETS, TRUST, failure, load
from tests.conftest import FIXTURES

ADAPTER = CscAdapter()
THIRD_PARTY = SecurityLabels(sensitivity=frozenset({Sensitivity.THIRDPARTY}))
PARA18_CODE = "art6(1)(e)+art9(2)(g)+sch1-para18"
JUSTIFICATION = "Cannot wait until the morning: the child is at home tonight."
APPROVER = "Duty team manager, A. Approver"
JUDGEMENT = "Disclosure now would be more detrimental to the child than not disclosing."
# Values a refused request holds: none of them may appear in an error.
BAD_VALUES = (
    "art6(1)(z)",
    "teenager",
    "because-we-said",
    "break-glass-now",
    "Too soon",
    "Shh secret",
)


def csc(name: str = "child-status", request: dict[str, Any] | None = None) -> dict[str, Any]:
    data = load("csc", f"{name}.json")
    if request is not None:
        data["sharing_request"] = request
    return data


def parse(data: dict[str, Any]) -> CanonicalMessage:
    return ADAPTER.parse(orjson.dumps(data), COUNCIL)


def problems(data: dict[str, Any]) -> list[Issue]:
    exc = failure(
        lambda b: ADAPTER.parse(b, COUNCIL), orjson.dumps(data), (*CSC_SECRETS, *BAD_VALUES)
    )
    assert 400 == exc.status
    return exc.issues


def fhir_request(parts: list[dict[str, Any]]) -> SharingRequest | None:
    """The request the FHIR adapter reads from the crisis fixture with this extension."""
    bundle = load("fhir", "crisis-s136.json")
    header = bundle["entry"][0]["resource"]
    header.setdefault("extension", []).append(
        {"url": SHARING_REQUEST_EXTENSION, "extension": parts}
    )
    return FhirR4Adapter().parse(orjson.dumps(bundle), TRUST).request


PARA18_CSC = {
    "lawful_basis": PARA18_CODE,
    "age_band": "child",
    "no_consent_reason": "would-prejudice-protection",
}
PARA18_FHIR = [
    {"url": "lawfulBasis", "valueCode": PARA18_CODE},
    {"url": "ageBand", "valueCode": "child"},
    {"url": "noConsentReason", "valueCode": "would-prejudice-protection"},
]
OVERRIDE_CSC = {
    "override": {
        "reason": "imminent-risk-to-child",
        "justification": JUSTIFICATION,
        "approver": APPROVER,
    }
}
OVERRIDE_FHIR = [
    {
        "url": "override",
        "extension": [
            {"url": "reason", "valueCode": "imminent-risk-to-child"},
            {"url": "justification", "valueString": JUSTIFICATION},
            {"url": "approver", "valueString": APPROVER},
        ],
    }
]
WITHHOLD_CSC = {
    "lawful_basis": "art6(1)(e)",
    "withhold": {"by": "Team manager, C. Example", "more_detrimental_judgement": JUDGEMENT},
}
WITHHOLD_FHIR = [
    {"url": "lawfulBasis", "valueCode": "art6(1)(e)"},
    {
        "url": "withhold",
        "extension": [
            {"url": "by", "valueString": "Team manager, C. Example"},
            {"url": "moreDetrimentalJudgement", "valueString": JUDGEMENT},
        ],
    },
]


# -- the sharing request ------------------------------------------------------------------------


def test_para18_request_is_read_into_the_canonical_request() -> None:
    """The basis, age band and reason for not seeking consent come through, complete."""
    message = parse(csc(request=PARA18_CSC))
    assert (
        SharingRequest(
            lawful_basis=LawfulBasis(
                art6=Art6Basis.PUBLIC_TASK,
                art9=Art9Condition.SUBSTANTIAL_PUBLIC_INTEREST,
                dpa2018=Dpa2018Condition.SAFEGUARDING,
                age_band=AgeBand.CHILD,
                no_consent_reason=NoConsentReason.WOULD_PREJUDICE_PROTECTION,
            )
        )
        == message.request
    )
    assert not any("sharing_request" in u.element for u in message.unmapped)


def test_override_and_withhold_are_read() -> None:
    """An urgent override, and a withhold with its s16LA judgement."""
    assert (
        SharingRequest(
            override=Override(
                reason_code=OverrideReason.IMMINENT_RISK_TO_CHILD,
                justification=JUSTIFICATION,
                approver=APPROVER,
            )
        )
        == parse(csc(request=OVERRIDE_CSC)).request
    )
    withheld = parse(csc(request=WITHHOLD_CSC)).request
    assert withheld is not None
    assert Withhold(by="Team manager, C. Example", more_detrimental_judgement=JUDGEMENT) == (
        withheld.withhold
    )


@pytest.mark.parametrize(
    ("csc_request", "fhir_parts"),
    [
        (PARA18_CSC, PARA18_FHIR),
        ({"lawful_basis": PARA18_CODE, "age_band": "child"}, PARA18_FHIR[:2]),
        (OVERRIDE_CSC, OVERRIDE_FHIR),
        ({**PARA18_CSC, **OVERRIDE_CSC}, PARA18_FHIR + OVERRIDE_FHIR),
        (WITHHOLD_CSC, WITHHOLD_FHIR),
    ],
    ids=["para18", "para18-incomplete", "override", "para18-and-override", "withhold"],
)
def test_a_request_reads_as_the_fhir_extension_reads(
    csc_request: dict[str, Any], fhir_parts: list[dict[str, Any]]
) -> None:
    """The same request in CSC and in FHIR is the same canonical request, so the policy engine
    (gateway/policy/conditions.py) cannot tell the formats apart."""
    from_csc = parse(csc(request=csc_request)).request
    assert from_csc is not None
    assert fhir_request(fhir_parts) == from_csc


@pytest.mark.parametrize("message_type", sorted(INBOUND))
def test_every_inbound_message_carries_a_request(message_type: str) -> None:
    """The request is on the common envelope: every message type reads it, none reports it
    unmapped."""
    message = parse(csc(message_type, OVERRIDE_CSC))
    assert message.request is not None
    assert message.request.override is not None
    assert not any("sharing_request" in u.element for u in message.unmapped)


def test_no_request_is_none() -> None:
    """A message without a sharing request asks for nothing: the flow's own basis applies."""
    assert parse(csc()).request is None


BASIS_REASON = (
    "is not a lawful basis code the gateway knows (UK GDPR Art 6(1), then any Art 9(2) condition"
    " and DPA 2018 Sch 1 condition, joined by '+')"
)
OVERRIDE = {
    "reason": "imminent-risk-to-child",
    "justification": JUSTIFICATION,
    "approver": APPROVER,
}


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            {"lawful_basis": "art6(1)(z)"},
            Issue("$.sharing_request.lawful_basis", BASIS_REASON, "value"),
        ),
        (
            # the parts in another order: one code, one spelling
            {"lawful_basis": "art6(1)(e)+sch1-para18+art9(2)(g)"},
            Issue("$.sharing_request.lawful_basis", BASIS_REASON, "value"),
        ),
        (
            {"lawful_basis": PARA18_CODE, "age_band": "teenager"},
            Issue(
                "$.sharing_request.age_band",
                "must be one of 'child' or 'adult-at-risk'",
                "code-invalid",
            ),
        ),
        (
            {"lawful_basis": PARA18_CODE, "no_consent_reason": "because-we-said"},
            Issue(
                "$.sharing_request.no_consent_reason",
                "must be one of 'cannot-be-given', 'cannot-reasonably-be-obtained' or"
                " 'would-prejudice-protection'",
                "code-invalid",
            ),
        ),
        (
            {"override": {**OVERRIDE, "reason": "break-glass-now"}},
            Issue(
                "$.sharing_request.override.reason",
                "must be one of 'imminent-risk-to-child', 'imminent-risk-to-life' or"
                " 'prevent-serious-harm'",
                "code-invalid",
            ),
        ),
        (
            {"override": {k: v for k, v in OVERRIDE.items() if k != "approver"}},
            Issue("$.sharing_request.override.approver", "is required", "required"),
        ),
        (
            {"override": {**OVERRIDE, "justification": "Too soon"}},
            Issue("$.sharing_request.override.justification", "is too short", "value"),
        ),
        (
            {"withhold": {"more_detrimental_judgement": JUDGEMENT}},
            Issue("$.sharing_request.withhold.by", "is required", "required"),
        ),
        (
            {"lawful_basis": "art6(1)(e)", "basis": "Shh secret"},
            Issue("$.sharing_request.basis", "is not an element of this format", "structure"),
        ),
        (
            {"age_band": "child", "no_consent_reason": "cannot-be-given"},
            Issue(
                "$.sharing_request",
                "age_band and no_consent_reason qualify a lawful_basis: name one",
                "value",
            ),
        ),
        (
            {},
            Issue("$.sharing_request", "names no lawful_basis, override or withhold", "value"),
        ),
        (
            "art6(1)(e)",
            Issue("$.sharing_request", "must be an object", "structure"),
        ),
    ],
    ids=[
        "unknown-basis",
        "basis-out-of-order",
        "unknown-age-band",
        "unknown-no-consent-reason",
        "unknown-override-reason",
        "override-without-approver",
        "short-justification",
        "withhold-without-by",
        "unknown-element",
        "qualifiers-without-basis",
        "empty",
        "not-an-object",
    ],
)
def test_a_bad_request_is_refused_naming_the_element_never_the_value(
    request_: Any, expected: Issue
) -> None:
    """Strict: unknown codes, incomplete overrides and unknown elements are refused (400), each
    at its element with the rule it breaks; the value is never quoted."""
    assert [expected] == problems(csc(request=None) | {"sharing_request": request_})


# -- third parties ------------------------------------------------------------------------------


def _family(*members: dict[str, Any]) -> dict[str, Any]:
    data = csc()
    data["family"] = [*data["family"], *members]
    return data


def test_a_family_member_who_is_not_a_parent_or_carer_is_a_third_party() -> None:
    """family[] with relationship "other" (an uncle, a lodger): the person is labelled 3RDPARTY,
    as the FHIR adapter labels a related person who is not the subject's child. The mother and the
    child are not labelled."""
    message = parse(
        _family({"relationship": "other", "nhs_number": "9000000025", "first_name": "Lee"})
    )
    people = {p.id: p for p in message.facts if isinstance(p, Person)}
    assert {
        "person-child": SecurityLabels(),
        "person-family-0": SecurityLabels(),
        "person-family-1": THIRD_PARTY,
    } == {pid: p.labels for pid, p in people.items()}
    link = message.fact("family-relationship-1")
    assert isinstance(link, FamilyRelationship)
    assert (RelationshipRole.OTHER, "person-child") == (link.role, link.related_to)


@pytest.mark.parametrize("word", ["mother", "father", "parent", "step-parent", "guardian", "carer"])
def test_parents_and_carers_are_not_third_parties(word: str) -> None:
    """Every word that names a parent or carer leaves the person unlabelled."""
    message = parse(_family({"relationship": word, "nhs_number": "9000000025"}))
    person = message.fact("person-family-1")
    assert isinstance(person, Person)
    assert SecurityLabels() == person.labels


@pytest.mark.parametrize(
    ("relationship", "labels"),
    [("mother", SecurityLabels()), ("other", THIRD_PARTY), (None, THIRD_PARTY)],
)
def test_an_invitees_person_is_a_third_party_unless_a_parent_or_carer(
    relationship: str | None, labels: SecurityLabels
) -> None:
    """meeting-invitation: the person an invited trust worker works with is labelled 3RDPARTY
    unless the message says they are the child's parent or carer."""
    data = csc("meeting-invitation")
    invitee = data["invitees"][0]
    if relationship is None:
        del invitee["relationship"]
    else:
        invitee["relationship"] = relationship
    person = parse(data).fact("person-invitee-0")
    assert isinstance(person, Person)
    assert labels == person.labels


@pytest.mark.parametrize("message_type", sorted(INBOUND))
def test_the_fixtures_name_no_third_party(message_type: str) -> None:
    """Every shipped fixture names only the child, parents and workers: nothing labelled."""
    message = parse(csc(message_type))
    assert [] == [f.id for f in message.facts if f.labels.sensitivity]


@pytest.mark.parametrize("name", sorted(p.stem for p in (FIXTURES / "csc").glob("*.json")))
def test_the_envelope_purpose_becomes_the_message_purpose(name: str) -> None:
    """Every inbound CSC message may declare its purpose of use; without one it has none."""
    data = csc(name)
    assert None is parse(data).purpose
    data["purpose"] = "child-protection-conference"
    assert Purpose.CHILD_PROTECTION_CONFERENCE is parse(data).purpose


def test_an_unknown_purpose_is_refused_naming_the_element() -> None:
    data = csc()
    data["purpose"] = "curiosity"
    error = failure(lambda body: ADAPTER.parse(body, COUNCIL), orjson.dumps(data), ("curiosity",))
    assert ["purpose"] == [i.element.removeprefix("$.") for i in error.issues]


@pytest.mark.parametrize(
    ("field", "value"), [("sent_at", 0), ("la_child_id", 12345), ("purpose", True)]
)
def test_wrongly_typed_values_are_refused_not_coerced(field: str, value: object) -> None:
    """The CSC models are strict: a number is not a date-time, nor a string, nor a code."""
    data = csc()
    data[field] = value
    error = failure(lambda body: ADAPTER.parse(body, COUNCIL), orjson.dumps(data), ())
    assert [field] == [i.element.removeprefix("$.") for i in error.issues]
