"""Decision tables for the conditions on a permitted flow: basis, consent and urgent override."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from gateway.policy.agreements import load_agreements
from gateway.policy.conditions import apply_conditions, counts, in_force
from gateway.policy.engine import Decision, Outcome, decide
from gateway.settings import bundled
from schemas.agreement import ConsentRule, Flow
from schemas.facts import Consent, ConsentActor, Period
from schemas.labels import (
    AgeBand,
    Art6Basis,
    Art9Condition,
    Dpa2018Condition,
    LawfulBasis,
    NoConsentReason,
    Purpose,
)
from schemas.message import MessageKind
from schemas.request import Override, OverrideReason, SharingRequest, Withhold

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
PARA18 = LawfulBasis(
    art6=Art6Basis.PUBLIC_TASK,
    art9=Art9Condition.SUBSTANTIAL_PUBLIC_INTEREST,
    dpa2018=Dpa2018Condition.SAFEGUARDING,
    age_band=AgeBand.CHILD,
    no_consent_reason=NoConsentReason.WOULD_PREJUDICE_PROTECTION,
)
OVERRIDE = Override(
    reason_code=OverrideReason.IMMINENT_RISK_TO_CHILD,
    justification="Child at immediate risk tonight; the usual route cannot wait.",
    approver="Duty team manager, A. Approver",
)


def _permit(consent: ConsentRule, *, para18: bool = False, overrides: bool = False) -> Decision:
    agreements = load_agreements(bundled("agreements"))
    base = decide(
        agreements, sender="RX9", recipient="999", kind=MessageKind.CRISIS_EVENT, purpose=None
    )
    assert base.flow is not None
    bases = (*base.flow.lawful_bases, PARA18) if para18 else base.flow.lawful_bases
    flow = Flow.model_validate(
        base.flow.model_dump(by_alias=True)
        | {
            "consent": consent,
            "lawful_bases": [b.model_dump() for b in bases],
            "allow_override": overrides,
        }
    )
    return replace(base, flow=flow)


def _consent(
    decision: str,
    *,
    by: ConsentActor = ConsentActor.SUBJECT,
    day: int = 1,
    classes: tuple[str, ...] = (),
) -> Consent:
    return Consent(
        id=f"consent-{decision}-{day}",
        subject="mum",
        given_by=by,
        decision=decision,
        recipients=("999",),
        element_classes=classes,
        recorded_at=datetime(2026, 11, day, tzinfo=UTC),
    )


CASES = [
    # (consent rule, directives, request, expected code, flagged)
    (ConsentRule.NOT_REQUIRED, (), None, "flow-permits", False),
    (ConsentRule.NOT_REQUIRED, ("deny",), None, "flow-permits", False),
    (ConsentRule.HONOUR_REFUSAL, (), None, "flow-permits", False),
    (ConsentRule.HONOUR_REFUSAL, ("permit",), None, "flow-permits", False),
    (ConsentRule.HONOUR_REFUSAL, ("deny",), None, "consent-refused", False),
    (ConsentRule.HONOUR_REFUSAL, ("permit", "deny"), None, "consent-refused", False),  # withdrawn
    (ConsentRule.HONOUR_REFUSAL, ("deny", "permit"), None, "flow-permits", False),  # re-given
    (ConsentRule.HONOUR_REFUSAL, ("deny",), "para18", "flow-permits", True),
    (ConsentRule.HONOUR_REFUSAL, ("deny",), "override", "flow-permits", True),
    (ConsentRule.REQUIRED, (), None, "consent-required", False),
    (ConsentRule.REQUIRED, ("permit",), None, "flow-permits", False),
    (ConsentRule.REQUIRED, ("permit", "deny"), None, "consent-required", False),
    (ConsentRule.REQUIRED, (), "para18", "flow-permits", False),
    (ConsentRule.REQUIRED, ("deny",), "para18", "flow-permits", True),
    (ConsentRule.REQUIRED, (), "override", "flow-permits", True),
]


@pytest.mark.parametrize(("rule", "directives", "request_kind", "code", "flagged"), CASES)
def test_consent_rules(
    rule: ConsentRule,
    directives: tuple[str, ...],
    request_kind: str | None,
    code: str,
    flagged: bool,
) -> None:
    """Each consent rule against each state of consent, with and without the grounds to share without it."""
    decision = _permit(rule, para18=True, overrides=True)
    consents = [_consent(d, day=i + 1) for i, d in enumerate(directives)]
    request = None
    if request_kind == "para18":
        request = SharingRequest(lawful_basis=PARA18)
    elif request_kind == "override":
        request = SharingRequest(override=OVERRIDE)
    result = apply_conditions(
        decision, request=request, consents=consents, subject_is_child=False, at=NOW
    )
    assert (code, flagged) == (result.decision.reason_code, result.flagged_for_review)
    assert result.decision.explanation


def test_para18_must_name_age_band_and_reason() -> None:
    """A Sch 1 para 18 request without the age band or the reason is refused, saying what is missing."""
    decision = _permit(ConsentRule.HONOUR_REFUSAL, para18=True)
    incomplete = PARA18.model_copy(update={"no_consent_reason": None})
    result = apply_conditions(
        decision,
        request=SharingRequest(lawful_basis=incomplete),
        consents=(),
        subject_is_child=True,
        at=NOW,
    )
    assert (Outcome.REFUSE, "para18-incomplete") == (
        result.decision.outcome,
        result.decision.reason_code,
    )
    assert "age band" in result.decision.explanation


def test_a_basis_the_flow_does_not_accept_is_refused() -> None:
    """Naming a basis the agreement does not list is a refusal naming the accepted ones."""
    decision = _permit(ConsentRule.NOT_REQUIRED)
    result = apply_conditions(
        decision,
        request=SharingRequest(lawful_basis=PARA18),
        consents=(),
        subject_is_child=True,
        at=NOW,
    )
    assert "basis-not-accepted" == result.decision.reason_code
    assert decision.lawful_basis is not None
    assert decision.lawful_basis.code in result.decision.explanation


def test_override_only_where_the_flow_allows_it() -> None:
    """An override on a flow without allow_override is refused."""
    result = apply_conditions(
        _permit(ConsentRule.REQUIRED),
        request=SharingRequest(override=OVERRIDE),
        consents=(),
        subject_is_child=False,
        at=NOW,
    )
    assert "override-not-allowed" == result.decision.reason_code


@pytest.mark.parametrize(
    ("actor", "child", "counted"),
    [
        (ConsentActor.SUBJECT, False, True),
        (ConsentActor.PARENT, False, False),
        (ConsentActor.LOCAL_AUTHORITY_CARE_ORDER, False, False),
        (ConsentActor.PARENT, True, True),
        (ConsentActor.COMPETENT_CHILD, True, True),
        (ConsentActor.LOCAL_AUTHORITY_CARE_ORDER, True, True),
        (ConsentActor.PARENT, None, False),
    ],
)
def test_whose_consent_counts(actor: ConsentActor, child: bool | None, counted: bool) -> None:
    """An adult consents for themself; for a child, the child, a parent or the council under a care order."""
    assert counted == (counts(_consent("deny", by=actor), subject_is_child=child) is None)


def test_consent_from_someone_who_cannot_give_it_is_named() -> None:
    """A parent's refusal for an adult does not count, and the decision says so."""
    decision = _permit(ConsentRule.HONOUR_REFUSAL)
    result = apply_conditions(
        decision,
        request=None,
        consents=[_consent("deny", by=ConsentActor.PARENT)],
        subject_is_child=False,
        at=NOW,
    )
    assert "flow-permits" == result.decision.reason_code
    assert "cannot consent for an adult" in result.decision.explanation


def test_a_partial_refusal_withholds_only_its_classes() -> None:
    """A refusal limited to risk information withholds that class and shares the rest."""
    decision = _permit(ConsentRule.HONOUR_REFUSAL)
    result = apply_conditions(
        decision,
        request=None,
        consents=[_consent("deny", classes=("risk",))],
        subject_is_child=False,
        at=NOW,
    )
    assert ("flow-permits", frozenset({"risk"})) == (
        result.decision.reason_code,
        result.withhold_classes,
    )


def test_directives_outside_their_period_or_recipient_do_not_apply() -> None:
    """A directive for another recipient, or whose period has ended, is not in force."""
    elsewhere = _consent("deny").model_copy(update={"recipients": ("998",)})
    ended = _consent("deny", day=2).model_copy(update={"period": Period(end=date(2026, 11, 15))})
    assert (
        in_force([elsewhere, ended], recipient="999", purpose=Purpose.CRISIS_RESPONSE, at=NOW)
        is None
    )


WITHHOLD = Withhold(by="Care coordinator C. Example")
JUDGED = Withhold(
    by="Care coordinator C. Example",
    more_detrimental_judgement="Telling the council now would put the child at greater risk.",
)


@pytest.mark.parametrize(
    ("duty", "withhold", "purpose", "code", "flagged", "judgement"),
    [
        (False, WITHHOLD, Purpose.CRISIS_RESPONSE, "withheld-by-sender", False, None),
        (
            True,
            JUDGED,
            Purpose.CRISIS_RESPONSE,
            "withheld-s16la",
            False,
            JUDGED.more_detrimental_judgement,
        ),
        (True, WITHHOLD, Purpose.CRISIS_RESPONSE, "flow-permits", True, None),
        (True, WITHHOLD, Purpose.CARE_COORDINATION, "withheld-by-sender", False, None),
    ],
)
def test_s16la_duty(
    duty: bool,
    withhold: Withhold,
    purpose: Purpose,
    code: str,
    flagged: bool,
    judgement: str | None,
) -> None:
    """Under the s16LA duty a safeguarding withhold needs the 'more detrimental' judgement; without the
    duty, or for another purpose, the sender's withhold stands."""
    decision = replace(_permit(ConsentRule.NOT_REQUIRED), purpose=purpose)
    result = apply_conditions(
        decision,
        request=SharingRequest(withhold=withhold),
        consents=(),
        subject_is_child=False,
        at=NOW,
        s16la=duty,
    )
    assert (code, flagged, judgement) == (
        result.decision.reason_code,
        result.flagged_for_review,
        result.s16la_judgement,
    )


def test_para18_age_band_must_match_the_flow() -> None:
    """A flow accepting Sch 1 para 18 for children refuses a request for an adult at risk."""
    decision = _permit(ConsentRule.HONOUR_REFUSAL, para18=True)
    adult = PARA18.model_copy(update={"age_band": AgeBand.ADULT_AT_RISK})
    result = apply_conditions(
        decision,
        request=SharingRequest(lawful_basis=adult),
        consents=(),
        subject_is_child=False,
        at=NOW,
    )
    assert "basis-not-accepted" == result.decision.reason_code
    assert "child only" in result.decision.explanation
