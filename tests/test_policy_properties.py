"""Maximal messages leak nothing (issue 4, item 9): a property of every shipped flow.

For every flow of every agreement under ``deploy/agreements`` and every message kind it carries,
hypothesis generates *maximal* canonical messages (``tests.strategies.maximal_messages``: a fact of
every class, every optional field filled, marker values that cannot appear by accident, labels on
facts and on fields with every sensitivity code present), with or without a sharing request (one
of the flow's bases, or an urgent override whose words are markers too). Each goes through the
real policy path, as ``gateway.pipeline`` runs it: ``decide`` for the flow's parties and kind,
``apply_conditions`` with the consent directive the message carries, ``minimise`` with the decided
flow and what a partial refusal withholds, ``recipient_context`` with the recipient's own child
and allocated worker from the index, and a Disclosure built as ``minimise_all`` builds it. Both
adapters render it (a ConfigurationError from an adapter whose formats cannot carry the kind or
reach the recipient skips that adapter only; one of them must render every kind), and the
assertions are on the rendered bytes (substring search, case-insensitive):

* no marker of an element outside the decided flow's elements appears (``<fact>.*`` reaches every
  field but free text, ``FREE_TEXT_ELEMENTS``, which a flow must name element by element);
* no marker of a fact or field labelled with a sensitivity the flow does not permit appears (the
  sensitive labels, ``SENSITIVE_LABELS``, unless in ``permit_labels``; any in ``exclude_labels``);
* nothing minimisation dropped appears at all, nor the words of the sender's request;
* the withheld manifest names every dropped element (its path, or its fact class when the whole
  fact went), a label as the reason where a label was, and every rendered body carries it;
* the search sees content: FHIR shows every kept marker it does not report as a loss.

Values that cannot be markers (codes, enums, booleans) are checked on the minimised facts. A share
the conditions refuse renders nothing, and is counted in hypothesis' statistics
(``--hypothesis-show-statistics``) with the permits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from adapters.base import Adapter, Rendered
from adapters.csc import CscAdapter
from adapters.fhir_r4 import FhirR4Adapter
from gateway.errors import ConfigurationError
from gateway.index import IndexedRole
from gateway.pipeline import _is_child
from gateway.policy.agreements import load_agreements
from gateway.policy.conditions import apply_conditions
from gateway.policy.engine import decide
from gateway.policy.minimise import minimise
from gateway.recipients import Candidate, recipient_context
from gateway.settings import PartnerSettings
from schemas import facts as f
from schemas.agreement import FREE_TEXT_ELEMENTS, SENSITIVE_LABELS, Agreement, Flow
from schemas.disclosure import Addressee, Disclosure, WithheldReason
from schemas.labels import AgeBand, Dpa2018Condition, NoConsentReason, Sensitivity
from schemas.message import MessageKind
from schemas.request import Override, OverrideReason, SharingRequest
from tests.strategies import NOT_CONTENT, RECEIVED, SALT, Marker, Maximal, maximal_messages

AGREEMENTS_DIR = Path(__file__).resolve().parent.parent / "deploy" / "agreements"
AGREEMENTS = load_agreements(AGREEMENTS_DIR)
ADAPTERS: dict[str, Adapter] = {"fhir-r4": FhirR4Adapter(), "csc": CscAdapter()}
FLOW_KINDS = [
    (agreement, flow, kind)
    for agreement in AGREEMENTS
    for flow in agreement.flows
    for kind in flow.message_kinds
]
CASES = [
    pytest.param(*case, id=f"{case[0].id}/{case[1].id}/{case[2].value}") for case in FLOW_KINDS
]
CHILD = "indexed-child"  # the child's person id in the index


# -- the policy, stated independently of minimise() ------------------------------------------------


def blocked_labels(flow: Flow) -> frozenset[Sensitivity]:
    """Sensitivities whose content must not cross under ``flow``."""
    return (SENSITIVE_LABELS - flow.permit_labels) | flow.exclude_labels


def element_allowed(flow: Flow, element: str) -> bool:
    """Whether ``flow`` names ``<fact>.<field>``, itself or (unless free text) by ``<fact>.*``."""
    fact = element.split(".", 1)[0]
    allowed = flow.allowed_elements
    return element in allowed or (f"{fact}.*" in allowed and element not in FREE_TEXT_ELEMENTS)


def label_blocked(fact: f.Fact, field: str, flow: Flow) -> frozenset[Sensitivity]:
    """The blocked sensitivities on ``fact`` itself or on its ``field``."""
    labels = set(fact.labels.sensitivity)
    for item in fact.element_labels:
        if item.element == field:
            labels |= item.labels.sensitivity
    return frozenset(labels) & blocked_labels(flow)


def may_cross(fact: f.Fact, field: str, flow: Flow) -> bool:
    return element_allowed(flow, f"{fact.fact}.{field}") and not label_blocked(fact, field, flow)


def content_fields(fact: f.Fact) -> list[str]:
    return [
        name
        for name, info in type(fact).model_fields.items()
        if name not in NOT_CONTENT and getattr(fact, name) != info.get_default()
    ]


# -- the pipeline's path, for one recipient ------------------------------------------------------


def _party(agreement: Agreement, code: str) -> str:
    return next(p.partner for p in agreement.parties if p.code == code)


def _is_council(code: str) -> bool:
    return code.isdigit() and len(code) == 3


def _indexed_worker(organisation: str, partner: str) -> IndexedRole:
    """The recipient's own allocated worker for the child, as the index holds it (not minimised,
    and no markers in it: it is the recipient's own data)."""
    council = _is_council(organisation)
    facts: list[f.Fact] = [
        f.WorkerRole(
            id="own-role",
            role=f.RoleKind.ALLOCATED_SOCIAL_WORKER if council else f.RoleKind.CARE_COORDINATOR,
            worker="own-worker",
            organisation="own-org",
            subject="own-child",
            team="Recipient's own team",
            telecom=(f.ContactPoint(system="phone", value="01632 960999"),),
        ),
        f.Worker(
            id="own-worker",
            name=f.HumanName(given=("Own",), family="Worker"),
            local_id="OWN-W-1",
        ),
        f.Organisation(
            id="own-org",
            kind=f.OrganisationKind.LOCAL_AUTHORITY if council else f.OrganisationKind.NHS_TRUST,
            la_code=organisation if council else None,
            ods_code=None if council else organisation,
            name="Recipient's own organisation",
        ),
    ]
    return IndexedRole(
        person_id=CHILD,
        role=str(facts[0].role) if isinstance(facts[0], f.WorkerRole) else "",
        organisation=organisation,
        partner=partner,
        updated_at=RECEIVED,
        details=orjson.dumps([x.model_dump(mode="json") for x in facts]).decode(),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    flow: Flow
    kept: tuple[f.Fact, ...]  # minimise()'s output, before the recipient's own context
    disclosure: Disclosure
    rendered: dict[str, Rendered]


def run_policy(
    agreement: Agreement, flow: Flow, maximal: Maximal, known_child: bool
) -> Outcome | None:
    """decide → conditions → minimise → recipient_context → Disclosure → render, as
    gateway.pipeline does (None: the conditions refused the share, so nothing is rendered)."""
    message = maximal.message
    decided = decide(
        AGREEMENTS,
        sender=message.provenance.organisation,
        recipient=flow.to,
        kind=message.kind,
        purpose=message.purpose,
    )
    assert decided.permitted, decided.explanation
    arriving = [x for x in message.facts if isinstance(x, f.Consent) and x.subject == "subject"]
    conditions = apply_conditions(
        decided,
        request=message.request,
        consents=arriving,
        subject_is_child=_is_child(message.fact("subject"), RECEIVED),
        at=RECEIVED,
    )
    decision = conditions.decision
    event(f"{decision.outcome.value}: {decision.reason_code}")
    if not decision.permitted:
        assert decision.explanation
        return None
    if conditions.withhold_classes:
        event("a consent refusal withholds some classes")
    assert decision.flow is not None
    assert decision.agreement is not None
    assert decision.purpose is not None
    assert decision.lawful_basis is not None
    recipient_partner = _party(agreement, flow.to)
    partner = PartnerSettings(
        id=recipient_partner, name="Recipient", organisations=(flow.to,), format="fhir-r4"
    )
    council_child = f"la:{flow.to}:OWN-CHILD-1" if _is_council(flow.to) else None
    candidate = Candidate(
        organisation=flow.to,
        child_person_id=CHILD,
        child_identifier_keys=tuple(
            k for k in ("nhs:9000000009", council_child, "la:998:OTHER-COUNCIL-1") if k
        ),
        addressee=_indexed_worker(flow.to, recipient_partner),
    )
    kept = minimise(message.facts, decision.flow, withhold_classes=conditions.withhold_classes)
    known = {"child": CHILD} if known_child else {}
    context = recipient_context(candidate, kept.facts, known, partner)
    disclosure = Disclosure(
        disclosure_id="disclosure-0001",
        exchange_id="exchange-0001",
        kind=message.kind,
        sender_partner=_party(agreement, flow.from_),
        sender_organisation=message.provenance.organisation,
        recipient=Addressee(
            partner=partner.id, organisation=flow.to, worker_role=context.addressee_id
        ),
        agreement_id=decision.agreement.id,
        agreement_version=decision.agreement.version,
        flow_id=decision.flow.id,
        purpose=decision.purpose,
        lawful_basis=decision.lawful_basis,
        subject=message.subject,
        about=context.about,
        facts=context.facts,
        disclosed=kept.disclosed,
        withheld=kept.withheld,
        obligations=decision.flow.obligations,
        created_at=RECEIVED,
    )
    rendered: dict[str, Rendered] = {}
    for name, adapter in ADAPTERS.items():
        try:
            rendered[name] = adapter.render(disclosure)
        except ConfigurationError:
            continue  # this adapter's formats cannot carry the kind (or reach this recipient)
    return Outcome(decision.flow, kept.facts, disclosure, rendered)


# -- the property --------------------------------------------------------------------------------


def _kept_value(outcome: Outcome, marker: Marker, original: f.Fact) -> bool:
    """Whether minimise() kept this marker's field of its fact as the sender wrote it."""
    kept = next((x for x in outcome.kept if x.id == marker.fact_id), None)
    return kept is not None and getattr(kept, marker.field) == getattr(original, marker.field)


def _check_minimised_facts(flow: Flow, maximal: Maximal, outcome: Outcome) -> None:
    """Every field minimise() kept may cross; the disclosed paths are allowed elements."""
    by_id = {x.id: x for x in maximal.message.facts}
    crossing = [
        f"{fact.id}: {fact.fact}.{name}"
        for fact in outcome.kept
        for name in content_fields(fact)
        if not may_cross(by_id[fact.id], name, flow)
    ]
    assert [] == crossing
    assert [] == [p for p in outcome.disclosure.disclosed if not element_allowed(flow, p)]
    # minimise() skips re-validation for classes without cross-field rules: every kept fact
    # must still pass its class's full validation unchanged.
    assert [] == [fact.id for fact in outcome.kept if type(fact).model_validate(dict(fact)) != fact]


def _check_manifest(flow: Flow, maximal: Maximal, outcome: Outcome) -> None:
    """The manifest names each dropped element (path or fact class), with a label as the reason
    where a label blocked it, and every rendered body carries every manifest entry."""
    withheld = {(w.element, w.reason_code) for w in outcome.disclosure.withheld}
    named = {element for element, _ in withheld}
    kept = {x.id: x for x in outcome.kept}
    unnamed: list[str] = []
    wrong_reason: list[str] = []
    for fact in maximal.message.facts:
        after = kept.get(fact.id)
        if fact.labels.sensitivity & blocked_labels(flow) and (
            (fact.fact, WithheldReason.SENSITIVITY_LABEL) not in withheld or after is not None
        ):
            wrong_reason.append(f"{fact.id}: labelled {sorted(fact.labels.sensitivity)}")
        for name in content_fields(fact):
            if after is not None and getattr(after, name) == getattr(fact, name):
                continue
            path = f"{fact.fact}.{name}"
            if path not in named and fact.fact not in named:
                unnamed.append(f"{fact.id}: {path}")
            elif (
                after is not None
                and element_allowed(flow, path)
                and (path, WithheldReason.SENSITIVITY_LABEL) not in withheld
            ):
                wrong_reason.append(f"{fact.id}: {path} (allowed, dropped for no label)")
    assert ([], []) == (unnamed, wrong_reason)
    for name, rendered in outcome.rendered.items():
        body = rendered.body
        missing = sorted(e for e in named if f'"{e}"'.encode() not in body)
        assert [] == missing, f"{name} does not carry the manifest entries {missing}"


def _check_bytes(flow: Flow, maximal: Maximal, outcome: Outcome) -> None:
    """On the rendered bytes: nothing the policy forbids, nothing minimise() dropped.

    So that the search is known to see content, FHIR (whose losses are reported, never silent)
    must show every kept marker it does not report as a loss. The CSC documents are not checked
    so: they consume the recipient's own facts as addressing, without a loss.
    """
    by_id = {x.id: x for x in maximal.message.facts}
    leaks: list[str] = []
    unseen: list[str] = []
    for name, rendered in outcome.rendered.items():
        body = rendered.body.lower()
        lost = {loss.element for loss in rendered.losses}
        for marker in maximal.markers:
            fact = by_id[marker.fact_id]
            found = marker.value.lower().encode() in body
            kept = _kept_value(outcome, marker, fact)
            if found and not may_cross(fact, marker.field, flow):
                why = sorted(label_blocked(fact, marker.field, flow)) or "not in the flow"
                leaks.append(f"{name}: {marker.fact_id} {marker.element} ({why})")
            elif found and not kept:
                leaks.append(f"{name}: {marker.fact_id} {marker.element} (dropped by minimise)")
            elif (
                kept
                and not found
                and name == "fhir-r4"
                and not {marker.fact, marker.element} & lost
            ):
                unseen.append(f"{name}: {marker.fact_id} {marker.element} {marker.value}")
    assert [] == leaks, leaks
    assert [] == unseen, unseen


@st.composite
def sharing_requests(draw: st.DrawFn, flow: Flow) -> tuple[SharingRequest | None, list[str]]:
    """What the sender asks for: nothing, one of the flow's bases (Sch 1 para 18 with its age
    band and reason), or an urgent override; and the request's words, which no rendering may
    carry (they are for the audit trail)."""
    choice = draw(st.sampled_from(["none", "basis", "override"]))
    if choice == "none":
        return None, []
    if choice == "basis":
        basis = draw(st.sampled_from(flow.lawful_bases))
        if basis.dpa2018 is Dpa2018Condition.SAFEGUARDING:
            basis = basis.model_copy(
                update={
                    "age_band": basis.age_band or draw(st.sampled_from(list(AgeBand))),
                    "no_consent_reason": draw(st.sampled_from(list(NoConsentReason))),
                }
            )
        return SharingRequest(lawful_basis=basis), []
    never = [f"{SALT}j001", f"{SALT}a001"]
    override = Override(
        reason_code=draw(st.sampled_from(list(OverrideReason))),
        justification=f"LEAK-justification-{never[0]}",
        approver=f"LEAK-approver-{never[1]}",
    )
    return SharingRequest(override=override), never


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize(("agreement", "flow", "kind"), CASES)
@SETTINGS
@given(data=st.data(), known_child=st.booleans())
def test_maximal_messages_leak_nothing(
    agreement: Agreement, flow: Flow, kind: MessageKind, data: st.DataObject, known_child: bool
) -> None:
    """A maximal message under this flow renders, in both adapters, nothing outside the flow's
    elements, nothing labelled with a sensitivity it does not permit, nothing minimisation
    dropped; the manifest names what was dropped and every rendering carries it."""
    maximal = data.draw(maximal_messages(kind, flow.from_, flow.to, flow.purposes))
    request, never = data.draw(sharing_requests(flow))
    maximal = Maximal(maximal.message.model_copy(update={"request": request}), maximal.markers)
    outcome = run_policy(agreement, flow, maximal, known_child)
    if outcome is None:
        return
    assert outcome.rendered, f"neither adapter renders {kind.value} for {flow.id}"
    for name, rendered in outcome.rendered.items():
        body = rendered.body.lower()
        assert [] == [v for v in never if v.lower().encode() in body], name
    _check_minimised_facts(outcome.flow, maximal, outcome)
    _check_manifest(outcome.flow, maximal, outcome)
    _check_bytes(outcome.flow, maximal, outcome)


def test_every_flow_is_covered() -> None:
    """The property runs for every flow the example agreements ship."""
    flows = {(a.id, fl.id) for a in AGREEMENTS for fl in a.flows}
    covered = {(agreement.id, flow.id) for agreement, flow, _ in FLOW_KINDS}
    assert flows == covered
    assert flows
