"""The conditions a permitted flow still has to meet: basis, consent, override.

``decide`` (engine.py) finds the flow that covers a share. ``apply_conditions`` then checks, as pure
functions over the flow, the sender's request and the consent directives on record:

1. **Lawful basis.** A basis the sender names must be one the flow accepts. A share on DPA 2018
   Sch 1 para 18 (safeguarding without consent) must name the subject's age band and one of the
   three reasons for not seeking consent, or it is refused.
2. **Urgent override.** Permitted only where the flow allows overrides; always flagged for review.
3. **Consent.** Only directives from someone who can give consent count: for an adult, the adult;
   for a child, the child (if competent), a parent, or the council under a care order. The most
   recently recorded directive that covers the recipient and purpose is in force, so a withdrawal
   applies from the moment it arrives. A flow that requires consent shares only with a permit in
   force; a flow that honours refusals shares unless a refusal is in force. A refusal limited to
   some element classes withholds those classes only. A share on Sch 1 para 18, or under an
   override, may go ahead without consent (that is what those grounds are for) and is flagged for
   review when it goes against a refusal.

Every outcome explains itself in words an IG officer can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from gateway.policy.engine import Decision, Outcome, permit_explanation
from schemas.agreement import ConsentRule
from schemas.facts import Consent, ConsentActor
from schemas.labels import Dpa2018Condition, LawfulBasis, Purpose
from schemas.request import Override, SharingRequest

# Purposes to which the s16LA duty applies: safeguarding and promoting the welfare of children.
SAFEGUARDING_PURPOSES = frozenset(
    {Purpose.SAFEGUARDING_CHILD, Purpose.CHILD_PROTECTION_CONFERENCE, Purpose.CRISIS_RESPONSE}
)

_WHO_COUNTS_FOR_A_CHILD = frozenset(
    {
        ConsentActor.SUBJECT,
        ConsentActor.COMPETENT_CHILD,
        ConsentActor.PARENT,
        ConsentActor.LOCAL_AUTHORITY_CARE_ORDER,
    }
)


@dataclass(frozen=True, slots=True)
class Conditions:
    """The outcome of the conditions: the decision, and what they add to it."""

    decision: Decision
    consent: Consent | None = None  # the directive in force, if any
    ignored: tuple[str, ...] = ()  # directives that did not count, and why
    withhold_classes: frozenset[str] = frozenset()  # classes a partial refusal withholds
    flagged_for_review: bool = False
    s16la_judgement: str | None = None  # the "more detrimental" judgement, when withheld under it


def counts(consent: Consent, *, subject_is_child: bool | None) -> str | None:
    """None if this directive counts; otherwise why it does not."""
    if subject_is_child:
        return None if consent.given_by in _WHO_COUNTS_FOR_A_CHILD else "not a valid giver"
    if consent.given_by is ConsentActor.SUBJECT:
        return None
    who = consent.given_by.value.replace("-", " ")
    if subject_is_child is None:
        return f"given by {who}, but the subject's age is not known: only the subject's own counts"
    return f"given by {who}, who cannot consent for an adult"


def in_force(
    consents: Sequence[Consent], *, recipient: str, purpose: object, at: datetime
) -> Consent | None:
    """The most recently recorded directive covering this recipient and purpose at ``at``."""
    day = at.date()

    def covers(c: Consent) -> bool:
        if c.recipients and recipient not in c.recipients:
            return False
        if c.purposes and purpose not in c.purposes:
            return False
        if c.period is not None:
            start, end = _day(c.period.start), _day(c.period.end)
            if (start and day < start) or (end and day > end):
                return False
        return True

    covering = [c for c in consents if covers(c)]
    return max(covering, key=lambda c: c.recorded_at) if covering else None


def _day(value: datetime | date | None) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value


def _refuse(
    decision: Decision,
    code: str,
    why: str,
    *,
    basis: LawfulBasis | None = None,
    consent: Consent | None = None,
    s16la_judgement: str | None = None,
) -> Conditions:
    """A refusal that still names the agreement, flow and purpose it was decided under, the
    basis asked for (or the flow's) and the consent directive that refused, for the audit trail."""
    refusal = replace(
        decision,
        outcome=Outcome.REFUSE,
        reason_code=code,
        explanation=why,
        lawful_basis=basis or decision.lawful_basis,
    )
    return Conditions(refusal, consent=consent, s16la_judgement=s16la_judgement)


def _basis(decision: Decision, request: SharingRequest | None) -> LawfulBasis | Conditions:
    flow = decision.flow
    basis = decision.lawful_basis
    if flow is None or basis is None:
        raise ValueError("conditions apply to a permit, which names its flow and basis")
    asked = request.lawful_basis if request else None
    if asked is not None:
        accepted = {b.code for b in flow.lawful_bases}
        if asked.code not in accepted:
            return _refuse(
                decision,
                "basis-not-accepted",
                f"Flow {flow.id} does not accept the lawful basis {asked.code}; it accepts "
                f"{', '.join(sorted(accepted))}.",
                basis=asked,
            )
        declared = next(b for b in flow.lawful_bases if b.code == asked.code)
        if declared.age_band is not None and asked.age_band not in (None, declared.age_band):
            return _refuse(
                decision,
                "basis-not-accepted",
                f"Flow {flow.id} accepts {asked.code} for a {declared.age_band.value} only.",
                basis=asked,
            )
        basis = asked.model_copy(update={"age_band": asked.age_band or declared.age_band})
    if basis.dpa2018 is Dpa2018Condition.SAFEGUARDING and (
        basis.age_band is None or basis.no_consent_reason is None
    ):
        return _refuse(
            decision,
            "para18-incomplete",
            "Sharing without consent under DPA 2018 Sch 1 para 18 must name the subject's age "
            "band (child or adult at risk) and why consent was not sought (it cannot be given; "
            "it cannot reasonably be obtained; seeking it would prejudice the protection).",
            basis=basis,
        )
    return basis


def _withholding(
    decision: Decision, request: SharingRequest | None, *, s16la: bool
) -> Conditions | None:
    """The sender's own decision not to share, if it made one (and the s16LA duty's rule)."""
    withhold = request.withhold if request else None
    if withhold is None:
        return None
    safeguarding = decision.purpose in SAFEGUARDING_PURPOSES
    if s16la and safeguarding:
        judgement = withhold.more_detrimental_judgement
        if judgement is None:
            return None  # the duty applies: share, flagged (see apply_conditions)
        return _refuse(
            decision,
            "withheld-s16la",
            f"Withheld by {withhold.by} under Children Act 2004 s16LA: disclosure judged "
            "more detrimental to the child than not disclosing (judgement recorded).",
            s16la_judgement=judgement,
        )
    return _refuse(decision, "withheld-by-sender", f"Withheld by {withhold.by}, the sender.")


def apply_conditions(
    decision: Decision,
    *,
    request: SharingRequest | None,
    consents: Sequence[Consent],
    subject_is_child: bool | None,
    at: datetime,
    s16la: bool = False,
) -> Conditions:
    """Apply basis, override, withholding and consent conditions to a permit (refusals pass)."""
    if not decision.permitted:
        return Conditions(decision)
    withheld = _withholding(decision, request, s16la=s16la)
    if withheld is not None:
        return withheld
    duty_overrides_withhold = request is not None and request.withhold is not None
    basis = _basis(decision, request)
    if isinstance(basis, Conditions):
        return basis
    flow = decision.flow
    if flow is None:
        raise ValueError("a permit names its flow")
    override = request.override if request else None
    if override is not None and not flow.allow_override:
        return _refuse(
            decision,
            "override-not-allowed",
            f"Flow {flow.id} does not allow urgent overrides; use the usual route or ask the "
            "IG team to add an override to the agreement.",
        )
    valid, ignored = _counting(consents, subject_is_child)
    directive = in_force(valid, recipient=flow.to, purpose=decision.purpose, at=at)
    without_consent = basis.dpa2018 is Dpa2018Condition.SAFEGUARDING or override is not None
    refusing = directive is not None and directive.decision == "deny"
    partial = refusing and bool(directive and directive.element_classes)
    refusal = None if without_consent else _consent_refusal(decision, directive, partial=partial)
    if refusal is not None:
        return refusal
    flagged = override is not None or (refusing and without_consent) or duty_overrides_withhold
    explanation = _explain(
        decision,
        basis,
        override=override,
        against_refusal=refusing and without_consent,
        duty_overrides_withhold=duty_overrides_withhold,
        directive=directive,
        ignored=ignored,
    )
    withhold = frozenset(directive.element_classes) if partial and directive else frozenset()
    return Conditions(
        replace(decision, lawful_basis=basis, explanation=explanation),
        consent=directive,
        ignored=tuple(ignored),
        withhold_classes=withhold,
        flagged_for_review=flagged,
    )


def _explain(
    decision: Decision,
    basis: LawfulBasis,
    *,
    override: Override | None,
    against_refusal: bool,
    duty_overrides_withhold: bool,
    directive: Consent | None,
    ignored: Sequence[str],
) -> str:
    """The permit's explanation, with what the conditions added to it."""
    flow = decision.flow
    if flow is None:
        raise ValueError("a permit names its flow")
    explanation = decision.explanation
    if decision.lawful_basis is not None and basis.code != decision.lawful_basis.code:
        # The share rests on the basis the sender named, not the flow's first: say so.
        if decision.agreement is None or decision.kind is None or decision.purpose is None:
            raise ValueError("a permit names its agreement, kind and purpose")
        explanation = permit_explanation(
            decision.agreement, flow, decision.kind, decision.purpose, basis
        )
    if duty_overrides_withhold:
        explanation += (
            " The sender asked to withhold without recording that disclosure would be more"
            " detrimental to the child: under the Children Act 2004 s16LA duty the information is"
            " shared; flagged for IG review."
        )
    if override is not None:
        explanation += (
            f" Urgent override ({override.reason_code.value}) approved by {override.approver};"
            " flagged for IG review."
        )
    elif against_refusal:
        explanation += (
            " Shared without consent under DPA 2018 Sch 1 para 18 although a refusal is on"
            " record; flagged for IG review."
        )
    if directive is not None:
        explanation += f" Consent directive in force: {directive.id} ({directive.decision})."
    if ignored:
        explanation += " " + "; ".join(ignored) + "."
    return explanation


def _counting(
    consents: Sequence[Consent], subject_is_child: bool | None
) -> tuple[list[Consent], list[str]]:
    valid, ignored = [], []
    for consent in consents:
        why = counts(consent, subject_is_child=subject_is_child)
        if why is None:
            valid.append(consent)
        else:
            ignored.append(f"consent directive {consent.id} not counted: {why}")
    return valid, ignored


def _consent_refusal(
    decision: Decision, directive: Consent | None, *, partial: bool
) -> Conditions | None:
    """The refusal the flow's consent rule calls for, if any (sharing with consent)."""
    flow = decision.flow
    if flow is None:
        raise ValueError("a permit names its flow")
    refusing = directive is not None and directive.decision == "deny"
    if flow.consent is ConsentRule.REQUIRED and (directive is None or refusing):
        return _refuse(
            decision,
            "consent-required",
            f"Flow {flow.id} shares only with consent, and no consent to share with "
            f"{flow.to} for this purpose is on record"
            + (" (it was refused or withdrawn)." if refusing else "."),
            consent=directive,
        )
    if flow.consent is ConsentRule.HONOUR_REFUSAL and refusing and not partial:
        return _refuse(
            decision,
            "consent-refused",
            f"Consent to share with {flow.to} for this purpose was refused or withdrawn "
            f"(directive {directive.id if directive else ''}); flow {flow.id} honours it.",
            consent=directive,
        )
    return None
