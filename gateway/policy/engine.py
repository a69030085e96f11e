"""The decision engine: pure functions, default deny, every decision explains itself.

``decide`` answers one question: may ``sender`` disclose a message of ``kind`` to ``recipient`` for
``purpose``? It looks for a flow in an agreement that names exactly that; anything not named is
refused. The answer carries the agreement, version, flow, purpose and lawful basis, or the reason
for refusing, in plain English for the IG officer reading the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.agreement import Agreement, Flow
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

    @property
    def permitted(self) -> bool:
        return self.outcome is Outcome.PERMIT


def decide(
    agreements: list[Agreement],
    *,
    sender: str,
    recipient: str,
    kind: MessageKind,
    purpose: Purpose | None,
) -> Decision:
    """Find the flow that permits this disclosure, or refuse (default deny)."""
    between = [
        (agreement, flow)
        for agreement in agreements
        for flow in agreement.flows
        if flow.from_ == sender and flow.to == recipient
    ]
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
                f"Agreement {agreement.id} v{agreement.version}, flow {flow.id}, permits "
                f"{kind.value} messages from {sender} to {recipient} for the purpose "
                f"{chosen.value}, on the lawful basis {basis.code}; only the elements the flow "
                "names are shared.",
                agreement,
                flow,
                chosen,
                basis,
            )
    declared = purpose.value if purpose is not None else "(none)"
    return Decision(
        Outcome.REFUSE,
        RefusalCode.PURPOSE_NOT_COVERED,
        f"The agreements between {sender} and {recipient} cover {kind.value} messages, "
        f"but not for the purpose {declared}.",
    )
