"""The decision engine and minimisation: default deny, explanations, withheld manifests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.errors import ConfigurationError
from gateway.policy.agreements import check_agreements, load_agreements
from gateway.policy.engine import Outcome, decide
from gateway.policy.minimise import minimise
from gateway.settings import bundled
from schemas.agreement import Agreement, Flow
from schemas.disclosure import WithheldReason
from schemas.facts import CrisisEvent, CrisisKind, Diagnosis, Fact, Period, Person, Risk
from schemas.identifiers import NhsNumber
from schemas.labels import Confidentiality, ElementLabels, Purpose, SecurityLabels, Sensitivity
from schemas.message import MessageKind

AGREEMENTS = load_agreements(bundled("agreements"))


def _flow(flow_id: str) -> Flow:
    return next(f for a in AGREEMENTS for f in a.flows if f.id == flow_id)


def test_example_agreements_load() -> None:
    """The shipped example agreements are valid (the main one and the workflows' examples)."""
    assert "demo-trust-council" in [a.id for a in AGREEMENTS]


def test_crisis_flow_is_permitted_with_its_basis() -> None:
    """A crisis event from the trust to its council is permitted under the named flow and basis."""
    # A message names its purpose (the pipeline refuses one that does not): with none, the first
    # flow found would be chosen, and the examples hold another crisis-event flow (care
    # coordination, demo-notifications).
    d = decide(
        AGREEMENTS,
        sender="RX9",
        recipient="999",
        kind=MessageKind.CRISIS_EVENT,
        purpose=Purpose.CRISIS_RESPONSE,
    )
    assert Outcome.PERMIT == d.outcome
    assert d.agreement is not None
    assert d.flow is not None
    assert d.lawful_basis is not None
    assert ("demo-trust-council", 1, "crisis-notice") == (
        d.agreement.id,
        d.agreement.version,
        d.flow.id,
    )
    assert Purpose.CRISIS_RESPONSE == d.purpose
    assert "art6(1)(e)+art9(2)(h)+sch1-para2" == d.lawful_basis.code
    assert "crisis-notice" in d.explanation


@pytest.mark.parametrize(
    ("sender", "recipient", "kind", "purpose", "code"),
    [
        ("RX9", "998", MessageKind.CRISIS_EVENT, None, "no-agreement"),
        ("999", "RX9", MessageKind.CRISIS_EVENT, None, "kind-not-covered"),
        ("RX9", "999", MessageKind.CHILD_STATUS, None, "kind-not-covered"),
        ("RX9", "999", MessageKind.CRISIS_EVENT, Purpose.REFERRAL, "purpose-not-covered"),
    ],
)
def test_anything_not_named_is_refused(
    sender: str, recipient: str, kind: MessageKind, purpose: Purpose | None, code: str
) -> None:
    """Default deny: no flow, wrong kind or wrong purpose is a refusal with a reason."""
    d = decide(AGREEMENTS, sender=sender, recipient=recipient, kind=kind, purpose=purpose)
    assert (Outcome.REFUSE, code) == (d.outcome, d.reason_code)
    assert d.explanation


def test_no_agreements_refuses_everything() -> None:
    """With no agreements loaded, nothing is shared."""
    d = decide([], sender="RX9", recipient="999", kind=MessageKind.CRISIS_EVENT, purpose=None)
    assert Outcome.REFUSE == d.outcome


def _facts() -> tuple[Fact, ...]:
    return (
        Person(id="mum", identifiers=(NhsNumber(value="9000000009"),), postcode="ZZ99 3WZ"),
        CrisisEvent(
            id="enc",
            kind=CrisisKind.DETENTION,
            subject="mum",
            period=Period(start=datetime(2026, 11, 1, tzinfo=UTC)),
            location="Place of safety suite",
            reason="clinical narrative",
            element_labels=(
                ElementLabels(
                    element="location",
                    labels=SecurityLabels(sensitivity=frozenset({Sensitivity.PATLOC})),
                ),
            ),
        ),
        Diagnosis(
            id="dx",
            subject="mum",
            code_system="http://snomed.info/sct",
            code="20010003",
            labels=SecurityLabels(
                confidentiality=Confidentiality.R, sensitivity=frozenset({Sensitivity.PSY})
            ),
        ),
    )


def test_diagnosis_is_withheld_and_listed() -> None:
    """The PSY-labelled diagnosis never crosses; the manifest names it and why, not what it says."""
    result = minimise(_facts(), _flow("crisis-notice"))
    assert [] == [f for f in result.facts if isinstance(f, Diagnosis)]
    items = {(w.element, w.reason_code) for w in result.withheld}
    assert ("diagnosis", WithheldReason.SENSITIVITY_LABEL) in items
    assert all("20010003" not in w.reason for w in result.withheld)


def test_fields_outside_the_flow_are_cleared_and_listed() -> None:
    """The parent's postcode and the event's reason are not in the crisis notice preset."""
    result = minimise(_facts(), _flow("crisis-notice"))
    person = next(f for f in result.facts if isinstance(f, Person))
    event = next(f for f in result.facts if isinstance(f, CrisisEvent))
    assert (None, None) == (person.postcode, event.reason)
    items = {(w.element, w.reason_code) for w in result.withheld}
    assert ("person.postcode", WithheldReason.NOT_IN_AGREEMENT) in items
    assert ("crisis-event.reason", WithheldReason.NOT_IN_AGREEMENT) in items
    assert "crisis-event.legal_status" not in result.disclosed  # absent in the input
    assert "crisis-event.kind" in result.disclosed


def test_element_label_withholds_a_permitted_field() -> None:
    """A field labelled with an excluded sensitivity is withheld even when the flow names it."""
    flow = _flow("crisis-notice").model_copy(update={"elements": ("crisis-event.location",)})
    result = minimise(_facts(), flow)
    event = next(f for f in result.facts if isinstance(f, CrisisEvent))
    assert event.location is None
    assert () == event.element_labels
    assert ("crisis-event.location", WithheldReason.SENSITIVITY_LABEL) in {
        (w.element, w.reason_code) for w in result.withheld
    }


def test_agreement_check_names_file_and_line(tmp_path: Path) -> None:
    """A broken agreement is reported with its file, line and reason; loading refuses it."""
    (tmp_path / "bad.yaml").write_text(
        "id: bad\nversion: 1\ntitle: t\nparties:\n  - {code: RX9, partner: a, name: A}\n"
        "  - {code: '999', partner: b, name: B}\nflows:\n  - id: f\n    from: RX9\n    to: '997'\n"
        "    message_kinds: [crisis-event]\n    purposes: [crisis-response]\n"
        "    lawful_bases: [{art6: '6(1)(e)'}]\n    preset: crisis-notice\n",
        encoding="utf-8",
    )
    (tmp_path / "syntax.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    _, problems = check_agreements(tmp_path)
    rendered = sorted(str(p) for p in problems)
    assert 2 == len(rendered)
    assert "bad.yaml" in rendered[0]
    assert "not a party" in rendered[0]
    assert "syntax.yaml:2" in rendered[1] or "syntax.yaml:1" in rendered[1]
    with pytest.raises(ConfigurationError, match="not a party"):
        load_agreements(tmp_path)


def test_unknown_preset_is_refused() -> None:
    """A flow naming an unknown element preset is invalid."""
    data = AGREEMENTS[0].model_dump(by_alias=True)
    data["flows"][0]["preset"] = "everything"
    with pytest.raises(ValueError, match="unknown preset"):
        Agreement.model_validate(data)


def _flow_with(**changes: object) -> Flow:
    return _flow("crisis-notice").model_copy(update=changes)


def test_sensitive_labels_are_denied_unless_the_flow_permits_them() -> None:
    """An MH-labelled fact crosses only under a flow that names MH in permit_labels."""
    labelled = Person(
        id="mum",
        identifiers=(NhsNumber(value="9000000009"),),
        labels=SecurityLabels(sensitivity=frozenset({Sensitivity.MH})),
    )
    denied = minimise((labelled,), _flow_with(exclude_labels=frozenset()))
    assert () == denied.facts
    assert [("person", WithheldReason.SENSITIVITY_LABEL)] == [
        (w.element, w.reason_code) for w in denied.withheld
    ]
    permitted = minimise(
        (labelled,),
        _flow_with(exclude_labels=frozenset(), permit_labels=frozenset({Sensitivity.MH})),
    )
    assert (labelled,) == permitted.facts


def test_third_party_identities_are_protected() -> None:
    """A person labelled as a third party is withheld by default (golden rule 5)."""
    relative = Person(
        id="grandparent",
        identifiers=(NhsNumber(value="9000000025"),),
        labels=SecurityLabels(sensitivity=frozenset({Sensitivity.THIRDPARTY})),
    )
    result = minimise((relative,), _flow("crisis-notice"))
    assert () == result.facts
    assert "3RDPARTY" in result.withheld[0].reason


def test_free_text_needs_naming_element_by_element() -> None:
    """`risk.*` does not reach the free-text summary or category; each named explicitly does."""
    risk = Risk(
        id="r", subject="mum", summary="free text that could name anyone", category="worded too"
    )
    by_wildcard = minimise((risk,), _flow_with(preset=None, elements=("risk.*",)))
    assert () == by_wildcard.facts
    summary_only = minimise((risk,), _flow_with(preset=None, elements=("risk.*", "risk.summary")))
    (kept,) = summary_only.facts
    assert isinstance(kept, Risk)
    assert (None, risk.summary) == (kept.category, kept.summary)
    assert [("risk.category", "not-in-agreement")] == [
        (w.element, w.reason_code) for w in summary_only.withheld
    ]
    both = ("risk.*", "risk.summary", "risk.category")
    assert (risk,) == minimise((risk,), _flow_with(preset=None, elements=both)).facts
