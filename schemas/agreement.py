"""Data-sharing agreements as data: YAML files validated by these models.

An agreement names its parties and one or more *flows*. A flow says who may send what kind of
message to whom, for which purposes, on which lawful bases, and which elements may cross. Anything a
flow does not name is refused: the engine's default is deny.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, ValidationInfo, model_validator

from schemas.base import CanonicalModel
from schemas.facts import CrisisKind, MeetingKind, PlanKind
from schemas.labels import LawfulBasis, Obligation, Purpose, Sensitivity
from schemas.message import MessageKind

# Named element presets. ``fact.*`` is every field of that fact class.
ELEMENT_PRESETS: dict[str, tuple[str, ...]] = {
    "crisis-notice": (
        "person.identifiers",
        "person.name",
        "person.birth_date",
        "family-relationship.*",
        "crisis-event.kind",
        "crisis-event.subject",
        "crisis-event.period",
        "crisis-event.legal_status",
        "crisis-event.organisation",
        "mental-health-episode.subject",
        "mental-health-episode.status",
        "mental-health-episode.team",
        "mental-health-episode.organisation",
        "mental-health-episode.care_coordinator",
        "worker-role.*",
        "worker.name",
        "worker.telecom",
        "organisation.*",
    ),
    "worker-contact": (
        "worker-role.*",
        "worker.name",
        "worker.telecom",
        "organisation.*",
    ),
    "child-status": (
        "person.identifiers",
        "person.name",
        "person.birth_date",
        "family-relationship.*",
        "social-care-episode.subject",
        "social-care-episode.organisation",
        "social-care-episode.plans",
        "social-care-episode.allocated_worker",
        "worker-role.*",
        "worker.name",
        "worker.telecom",
        "organisation.*",
    ),
    # Presets never include free text (FREE_TEXT_ELEMENTS): a flow names each free-text element
    # itself, so the agreement file shows every one that crosses. A meeting's location, a
    # referral's concerns and a risk's summary are therefore named by the flows that share them.
    "meeting-notice": (
        "person.identifiers",
        "person.name",
        "person.birth_date",
        "family-relationship.*",
        "meeting.kind",
        "meeting.subject",
        "meeting.start",
        "meeting.end",
        "meeting.status",
        "meeting.participants",
        "meeting.reference",
        "meeting.responses",
        "meeting.target_date",
        "worker-role.*",
        "worker.name",
        "worker.telecom",
        "organisation.*",
    ),
    "risk-summary": (
        "risk.subject",
        "risk.period",
    ),
    "referral": (
        "person.identifiers",
        "person.name",
        "person.birth_date",
        "person.sex",
        "person.postcode",
        "family-relationship.*",
        "referral.subject",
        "referral.household",
        "referral.risks",
        "referral.referrer",
        "referral.status",
        "referral.consent_given",
        "referral.reference",
        "risk.subject",
        "risk.period",
        "worker-role.*",
        "worker.name",
        "worker.telecom",
        "organisation.*",
    ),
    "referral-status": (
        "person.identifiers",
        "referral.subject",
        "referral.status",
        "referral.reference",
        "referral.referrer",
        "worker-role.*",
        "worker.name",
        "worker.telecom",
        "organisation.*",
    ),
    "consent-directive": (
        "person.identifiers",
        "person.name",
        "person.birth_date",
        "consent.*",
        "organisation.*",
    ),
}

# Validation context key: when set (``Agreement.model_validate(data, context={DEFER_CROSS_CHECKS:
# True})``), the checks that span fields (flow ends among the parties, the preset known) are left to
# the caller, which reports them with file and line (``gateway.policy.agreements``).
DEFER_CROSS_CHECKS = "joinedup.defer-agreement-cross-checks"


def _deferred(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and info.context.get(DEFER_CROSS_CHECKS) is True


# Labels whose content never crosses unless a flow explicitly permits the label (issue 4, item 6):
# diagnosis and mental health, psychotherapy notes, sexual and domestic violence, substance use,
# where someone lives or is (a refuge), and the identities of third parties (golden rule 5).
SENSITIVE_LABELS: frozenset[Sensitivity] = frozenset(
    {
        Sensitivity.PSY,
        Sensitivity.MH,
        Sensitivity.BH,
        Sensitivity.PSYTHPN,
        Sensitivity.SDV,
        Sensitivity.ETH,
        Sensitivity.SUD,
        Sensitivity.LIVARG,
        Sensitivity.PATLOC,
        Sensitivity.THIRDPARTY,
    }
)

# Free-text fields can carry anything, other people's names and addresses included: they cross
# only where a flow names them element by element, never through ``<fact>.*``.
FREE_TEXT_ELEMENTS: frozenset[str] = frozenset(
    {
        "crisis-event.reason",
        "crisis-event.location",
        "risk.summary",
        "risk.category",  # a Flag's category text or display: worded by whoever raised it
        "referral.concerns",
        "referral.basis_without_consent",
        "meeting.location",
        "social-care-episode.closure_reason",
    }
)
# Not free text (docs/ig-officers.md says why): team names (an organisational unit to reach, not
# a person), code displays (the code system's words), a section 47 outcome (a code).


class ConsentRule(StrEnum):
    """What consent a flow needs."""

    NOT_REQUIRED = "not-required"  # a lawful basis other than consent applies
    HONOUR_REFUSAL = "honour-refusal"  # shares unless a recorded refusal applies
    REQUIRED = "required"  # shares only with recorded consent


class Party(CanonicalModel):
    """An organisation that signed the agreement and the partner system speaking for it."""

    code: Annotated[str, Field(min_length=3, max_length=10)]
    partner: str
    name: str


class Subscription(CanonicalModel):
    """What the recipient of a flow has chosen to be told (issue 7: each organisation chooses).

    Each list narrows the flow: a message is carried only if its kind is among ``message_kinds``,
    and, where the message holds crisis events, plans or meetings, at least one of them is of a
    kind listed. A list left out does not narrow; a list given names at least one code.
    """

    message_kinds: Annotated[tuple[MessageKind, ...], Field(min_length=1)] | None = None
    crisis_kinds: Annotated[tuple[CrisisKind, ...], Field(min_length=1)] | None = None
    plan_kinds: Annotated[tuple[PlanKind, ...], Field(min_length=1)] | None = None
    meeting_kinds: Annotated[tuple[MeetingKind, ...], Field(min_length=1)] | None = None


class Flow(CanonicalModel):
    """One permitted direction of sharing."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    from_: Annotated[str, Field(alias="from")]
    to: str
    message_kinds: Annotated[tuple[MessageKind, ...], Field(min_length=1)]
    purposes: Annotated[tuple[Purpose, ...], Field(min_length=1)]
    lawful_bases: Annotated[tuple[LawfulBasis, ...], Field(min_length=1)]
    consent: ConsentRule = ConsentRule.NOT_REQUIRED
    preset: str | None = None
    elements: tuple[str, ...] = ()
    exclude_labels: frozenset[Sensitivity] = frozenset()
    # SECURITY: the sensitive labels (SENSITIVE_LABELS) never cross unless a flow names them here.
    permit_labels: frozenset[Sensitivity] = frozenset()
    # Urgent override (break-glass): allowed on this flow only if true; every use is flagged.
    allow_override: bool = False
    obligations: frozenset[Obligation] = frozenset({Obligation.NORDSCLCD})
    retention_days: Annotated[int, Field(gt=0)] = 365
    redisclosure: bool = False
    subject_informed: bool = False
    withheld_contact: str | None = None
    # The recipient's subscription: which of the events this flow covers it wants (None: all).
    subscription: Subscription | None = None

    model_config = {"populate_by_name": True}

    @model_validator(mode="after")
    def _elements_known(self, info: ValidationInfo) -> Flow:
        if _deferred(info):
            return self
        if self.preset is None and not self.elements:
            raise ValueError("a flow names a preset or an element list")
        if self.preset is not None and self.preset not in ELEMENT_PRESETS:
            known = ", ".join(sorted(ELEMENT_PRESETS))
            raise ValueError(f"unknown preset {self.preset!r} (known: {known})")
        return self

    @property
    def allowed_elements(self) -> frozenset[str]:
        """Every element path this flow may disclose."""
        preset = ELEMENT_PRESETS[self.preset] if self.preset else ()
        return frozenset((*preset, *self.elements))


class Agreement(CanonicalModel):
    """A data-sharing agreement, versioned; each decision records its id and version."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    version: Annotated[int, Field(ge=1)]
    title: str
    parties: Annotated[tuple[Party, ...], Field(min_length=2)]
    flows: Annotated[tuple[Flow, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _flows_between_parties(self, info: ValidationInfo) -> Agreement:
        if _deferred(info):
            return self
        codes = {p.code for p in self.parties}
        for flow in self.flows:
            for end in (flow.from_, flow.to):
                if end not in codes:
                    raise ValueError(f"flow {flow.id!r} names {end!r}, which is not a party")
        return self
