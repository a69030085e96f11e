"""The decision engine: pure functions, default deny, every decision explains itself.

``decide`` answers one question: may ``sender`` disclose a message of ``kind`` to ``recipient`` for
``purpose``? It looks for a flow in an agreement that names exactly that; anything not named is
refused. The answer carries the agreement, version, flow, purpose and lawful basis, or the reason
for refusing, in plain English for the IG officer reading the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import overload

from schemas.agreement import Agreement, Flow, Subscription
from schemas.facts import CrisisEvent, Fact, Meeting, MeetingKind, SocialCareEpisode
from schemas.labels import LawfulBasis, Purpose
from schemas.message import MessageKind


class Outcome(StrEnum):
    """Permit or refuse."""

    PERMIT = "permit"
    REFUSE = "refuse"


class RefusalCode(StrEnum):
    """Why a disclosure was refused."""

    NO_AGREEMENT = "no-agreement"
    KIND_NOT_COVERED = "kind-not-covered"
    PURPOSE_NOT_COVERED = "purpose-not-covered"
    NOT_SUBSCRIBED = "not-subscribed"


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer for one (sender, recipient, kind, purpose)."""

    outcome: Outcome
    reason_code: str
    explanation: str
    agreement: Agreement | None = None
    flow: Flow | None = None
    purpose: Purpose | None = None
    lawful_basis: LawfulBasis | None = None
    kind: MessageKind | None = None

    @property
    def permitted(self) -> bool:
        return self.outcome is Outcome.PERMIT


class AgreementSet(Sequence[Agreement]):
    """The agreements in force, with their flows indexed by (from, to) for ``decide``.

    A sequence of agreements like the list it is built from; the index only saves ``decide`` from
    scanning every flow of every agreement on each request (with 500 flows the scan was most of
    its cost). Order is kept: for one (from, to), flows are tried in file order, as before.
    """

    __slots__ = ("_agreements", "_between")

    def __init__(self, agreements: Iterable[Agreement] = ()) -> None:
        self._agreements = tuple(agreements)
        between: dict[tuple[str, str], list[tuple[Agreement, Flow]]] = {}
        for agreement in self._agreements:
            for flow in agreement.flows:
                between.setdefault((flow.from_, flow.to), []).append((agreement, flow))
        self._between = {key: tuple(pairs) for key, pairs in between.items()}

    def between(self, sender: str, recipient: str) -> tuple[tuple[Agreement, Flow], ...]:
        """Every (agreement, flow) from ``sender`` to ``recipient``, in file order."""
        return self._between.get((sender, recipient), ())

    @overload
    def __getitem__(self, index: int) -> Agreement: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Agreement]: ...
    def __getitem__(self, index: int | slice) -> Agreement | Sequence[Agreement]:
        return self._agreements[index]

    def __len__(self) -> int:
        return len(self._agreements)

    def __iter__(self) -> Iterator[Agreement]:
        return iter(self._agreements)

    def __repr__(self) -> str:
        return f"AgreementSet({[f'{a.id} v{a.version}' for a in self._agreements]})"


def permit_explanation(
    agreement: Agreement, flow: Flow, kind: MessageKind, purpose: Purpose, basis: LawfulBasis
) -> str:
    """Why a flow permits a share, in words (the basis is the one the share actually rests on)."""
    return (
        f"Agreement {agreement.id} v{agreement.version}, flow {flow.id}, permits "
        f"{kind.value} messages from {flow.from_} to {flow.to} for the purpose "
        f"{purpose.value}, on the lawful basis {basis.code}; only the elements the flow "
        "names are shared."
    )


def decide(
    agreements: Sequence[Agreement],
    *,
    sender: str,
    recipient: str,
    kind: MessageKind,
    purpose: Purpose | None,
) -> Decision:
    """Find the flow that permits this disclosure, or refuse (default deny)."""
    index = agreements if isinstance(agreements, AgreementSet) else AgreementSet(agreements)
    between = index.between(sender, recipient)
    if not between:
        return Decision(
            Outcome.REFUSE,
            RefusalCode.NO_AGREEMENT,
            f"No data-sharing agreement has a flow from {sender} to {recipient}; "
            "nothing is shared without one.",
        )
    for_kind = [(a, f) for a, f in between if kind in f.message_kinds]
    if not for_kind:
        return Decision(
            Outcome.REFUSE,
            RefusalCode.KIND_NOT_COVERED,
            f"The agreements between {sender} and {recipient} do not cover {kind.value} messages.",
        )
    for agreement, flow in for_kind:
        chosen = purpose if purpose is not None else flow.purposes[0]
        if chosen in flow.purposes:
            basis = flow.lawful_bases[0]
            return Decision(
                Outcome.PERMIT,
                "flow-permits",
                permit_explanation(agreement, flow, kind, chosen, basis),
                agreement,
                flow,
                chosen,
                basis,
                kind,
            )
    declared = purpose.value if purpose is not None else "(none)"
    return Decision(
        Outcome.REFUSE,
        RefusalCode.PURPOSE_NOT_COVERED,
        f"The agreements between {sender} and {recipient} cover {kind.value} messages, "
        f"but not for the purpose {declared}.",
    )


def decide_for_any(
    agreements: Sequence[Agreement],
    *,
    sender: str,
    recipients: Sequence[str],
    kind: MessageKind,
    purpose: Purpose | None,
) -> Decision:
    """The decision for a partner speaking for several organisations (a look-up's asker): the
    first organisation a flow permits, else the first refusal."""
    decisions = [
        decide(agreements, sender=sender, recipient=org, kind=kind, purpose=purpose)
        for org in recipients
    ]
    return next((d for d in decisions if d.permitted), decisions[0])


def unsubscribed(
    subscription: Subscription, kind: MessageKind, facts: Sequence[Fact]
) -> str | None:
    """What of this message the recipient has not subscribed to, in words; None if it has.

    A facet (crisis, plan or meeting kinds) applies only to a message that holds such facts: a
    message with none passes it. An ICPC scheduled without a meeting fact is an initial child
    protection conference.
    """
    if subscription.message_kinds is not None and kind not in subscription.message_kinds:
        return f"{kind.value} messages"
    crises = {f.kind for f in facts if isinstance(f, CrisisEvent)}
    wanted = subscription.crisis_kinds
    if wanted is not None and crises and not crises & set(wanted):
        return "crisis events of kind " + ", ".join(sorted(k.value for k in crises))
    plans = {p.kind for f in facts if isinstance(f, SocialCareEpisode) for p in f.plans}
    if subscription.plan_kinds is not None and plans and not plans & set(subscription.plan_kinds):
        return "plans of kind " + ", ".join(sorted(k.value for k in plans))
    meetings = {f.kind for f in facts if isinstance(f, Meeting)}
    if not meetings and kind is MessageKind.ICPC_SCHEDULED:
        meetings = {MeetingKind.INITIAL_CP_CONFERENCE}
    wanted_meetings = subscription.meeting_kinds
    if wanted_meetings is not None and meetings and not meetings & set(wanted_meetings):
        return "meetings of kind " + ", ".join(sorted(k.value for k in meetings))
    return None


def check_subscription(decision: Decision, kind: MessageKind, facts: Sequence[Fact]) -> Decision:
    """A permit under a flow with a subscription stands only for what the recipient subscribed
    to; otherwise the refusal (``not-subscribed``) still names the agreement and flow, so the
    ledger shows which subscription left it out."""
    flow = decision.flow
    if not decision.permitted or flow is None or flow.subscription is None:
        return decision
    missing = unsubscribed(flow.subscription, kind, facts)
    if missing is None:
        return decision
    return replace(
        decision,
        outcome=Outcome.REFUSE,
        reason_code=RefusalCode.NOT_SUBSCRIBED,
        explanation=f"{flow.to} has not subscribed to {missing} under flow {flow.id} of "
        f"agreement {decision.agreement.id if decision.agreement else '?'}; nothing is sent.",
    )
