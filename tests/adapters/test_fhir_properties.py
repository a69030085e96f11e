"""Property tests of the FHIR adapter (hypothesis).

* canonical -> FHIR -> canonical is the identity for everything FHIR carries: disclosures of
  generated facts of every type the renderer handles are rendered, validated as R4B, parsed, and
  compared with the original after the documented normalisations (docs/mappings/fhir-r4.md);
  anything else must be in the render's losses, which for these facts is nothing;
* arbitrary byte mutations of valid inputs, JSON and XML, never raise anything but InvalidMessage.
"""

from __future__ import annotations

import contextlib
import string
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.fhir_r4 import FhirR4Adapter
from adapters.fhir_r4.legal_status import ENGLAND, display_for
from adapters.fhir_r4.security import merge
from gateway.errors import InvalidMessage
from schemas.codes import load
from schemas.facts import (
    FACT_CLASSES,
    AbuseCategory,
    Consent,
    ConsentActor,
    ContactPoint,
    CrisisEvent,
    CrisisKind,
    Diagnosis,
    EpisodeStatus,
    Fact,
    FamilyRelationship,
    HumanName,
    LegalStatus,
    Meeting,
    MeetingKind,
    MeetingResponse,
    MentalHealthEpisode,
    Organisation,
    OrganisationKind,
    Period,
    Person,
    Plan,
    PlanKind,
    Referral,
    ReferralStatus,
    RelationshipRole,
    Risk,
    RoleKind,
    Sex,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.identifiers import (
    LaChildId,
    NhsNumber,
    NhsNumberVerification,
    SweRegistration,
    Upn,
    nhs_number_check_digit,
)
from schemas.labels import (
    Confidentiality,
    ElementLabels,
    Obligation,
    Purpose,
    SecurityLabels,
    Sensitivity,
)
from schemas.message import MessageKind
from tests.adapters.helpers import FIXTURES, TRUST, disclosure
from tests.adapters.test_fhir_render import facts_content

ADAPTER = FhirR4Adapter()
STRICT = FhirR4Adapter(validate_models=True)
T = TypeVar("T")
R = RelationshipRole

# -- strategies ------------------------------------------------------------------------------------

_LETTERS = st.text(alphabet=string.ascii_letters, min_size=1, max_size=10)
_TEXT = (
    st.text(alphabet=string.ascii_letters + string.digits + " .,'-", min_size=1, max_size=40)
    .map(str.strip)
    .filter(bool)
)
_DATES = st.dates(min_value=date(1980, 1, 1), max_value=date(2030, 12, 31))
_DATETIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
_TEST_NHS = ("9000000009", "9000000017", "9000000025", "9000000033")


def _nhs_999(n: int) -> str | None:
    first = f"999{n:06d}"
    check = nhs_number_check_digit(first)
    return None if check is None else f"{first}{check}"


_NHS_NUMBERS = st.one_of(
    st.sampled_from(_TEST_NHS),
    st.integers(0, 999_999).map(_nhs_999).filter(lambda v: v is not None),
)
_ETHNICITY_MAP = load("ethnicity")
# DfE codes that survive the trip through UK Core unchanged (WIRT and WROM narrow: a loss).
_ETHNICITIES = sorted(
    p.source
    for p in _ETHNICITY_MAP.pairs
    if _ETHNICITY_MAP.to_source(_ETHNICITY_MAP.to_target(p.source) or "") == p.source
)


def _subset(
    items: list[T] | tuple[T, ...], max_size: int | None = None
) -> st.SearchStrategy[list[T]]:
    if not items:
        return st.just([])
    return st.lists(st.sampled_from(items), unique=True, max_size=max_size or len(items))


_LABELS = st.builds(
    SecurityLabels,
    confidentiality=st.sampled_from(list(Confidentiality)),
    sensitivity=_subset(list(Sensitivity), 3).map(frozenset),
    obligations=_subset(list(Obligation), 2).map(frozenset),
)
_NAMES = st.builds(
    HumanName,
    given=st.lists(_LETTERS, max_size=2).map(tuple),
    family=st.none() | _LETTERS,
)
_CONTACT_VALUES = (
    st.text(alphabet=string.ascii_letters + string.digits + " @.+", min_size=1, max_size=30)
    .map(str.strip)
    .filter(bool)
)


def _contacts(out_of_hours: bool) -> st.SearchStrategy[tuple[ContactPoint, ...]]:
    contact = st.builds(
        ContactPoint,
        system=st.sampled_from(["phone", "email", "url", "other"]),
        value=_CONTACT_VALUES,
        out_of_hours=st.just(out_of_hours),
    )
    return st.lists(contact, max_size=2).map(tuple)


def _period(dates: st.SearchStrategy[Any], *, open_start: bool = True) -> st.SearchStrategy[Period]:
    @st.composite
    def build(draw: Any) -> Period:
        start = draw(dates) if not open_start or draw(st.booleans()) else None
        end = None
        if draw(st.booleans()):
            base = start if start is not None else draw(dates)
            end = base + timedelta(days=draw(st.integers(0, 400)))
        return Period(start=start, end=end)

    return build()


@st.composite
def _person(draw: Any, fact_id: str, *, nhs: bool = False, child: bool = False) -> Person:
    identifiers: list[Any] = []
    if nhs or draw(st.booleans()):
        verification = draw(st.none() | st.sampled_from(list(NhsNumberVerification)))
        identifiers.append(NhsNumber(value=draw(_NHS_NUMBERS), verification=verification))
    if (child and not identifiers) or draw(st.booleans()):
        identifiers.append(LaChildId(la_code="999", value=f"CH{draw(st.integers(0, 10**6))}"))
    if not identifiers or draw(st.booleans()):
        digits = draw(st.integers(0, 10**11 - 1))
        identifiers.append(Upn(value=f"A{digits:011d}{draw(st.sampled_from('0123456789AB'))}"))
    postcode = draw(st.none() | st.from_regex(r"\A[A-Z]{1,2}[0-9] [0-9][A-Z]{2}\Z"))
    element_labels: tuple[ElementLabels, ...] = ()
    if postcode is not None and draw(st.booleans()):
        element_labels = (ElementLabels(element="postcode", labels=draw(_LABELS)),)
    return Person(
        id=fact_id,
        identifiers=tuple(identifiers),
        name=draw(st.none() | _NAMES),
        birth_date=draw(st.none() | _DATES),
        sex=draw(st.none() | st.sampled_from(list(Sex))),
        ethnicity=draw(st.none() | st.sampled_from(_ETHNICITIES)),
        postcode=postcode,
        labels=draw(_LABELS),
        element_labels=element_labels,
    )


def _parent_role(sex: Sex | None) -> RelationshipRole:
    return {Sex.FEMALE: R.MOTHER, Sex.MALE: R.FATHER}.get(sex, R.PARENT)  # type: ignore[arg-type]


_RELATIVE_ROLES = [R.MOTHER, R.FATHER, R.PARENT, R.GUARDIAN, R.STEP_PARENT, R.CARER, R.OTHER]
_DETAINING = [p.source for p in load("legal-status").pairs if p.target == "detained"]
_ENGLAND_CODES = [p.source for p in load("legal-status").pairs]


def _legal(code: str) -> LegalStatus:
    return LegalStatus(system=ENGLAND, code=code, display=display_for(ENGLAND, code))


class _Draft:
    """A scenario being drawn: the facts so far and what later facts may refer to."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.facts: list[Fact] = []
        self.orgs = ["trust", "council"]
        self.others: list[str] = []
        self.roles: list[WorkerRole] = []
        self.risks: list[str] = []
        self.counts: dict[str, int] = {}


def _distinct_from(taken: frozenset[str]) -> Callable[[Person], bool]:
    return lambda person: not taken & {i.key for i in person.identifiers}


def _people(d: _Draft) -> None:
    draw = d.draw
    subject = draw(_person("subject", nhs=True))
    trust = Organisation(
        id="trust",
        kind=draw(st.sampled_from(list(OrganisationKind))),
        ods_code="RX9",
        name=draw(st.none() | _TEXT),
        telecom=draw(_contacts(False)) + draw(_contacts(True)),
        labels=draw(_LABELS),
    )
    council = Organisation(
        id="council", kind=OrganisationKind.LOCAL_AUTHORITY, la_code="999", name=draw(_TEXT)
    )
    d.facts += [subject, trust, council]
    taken = {i.key for i in subject.identifiers}
    for i in range(draw(st.integers(0, 2))):
        child = draw(st.booleans())
        # One person, one identity: two people sharing an identifier is refused (test_fhir_inputs).
        other = draw(_person(f"person-{i}", child=child).filter(_distinct_from(frozenset(taken))))
        taken |= {key.key for key in other.identifiers}
        d.facts.append(other)
        d.others.append(other.id)
        if child:
            role = draw(st.sampled_from([_parent_role(subject.sex), R.STEP_PARENT, R.CARER]))
            d.facts.append(
                FamilyRelationship(id=f"link-{i}", person="subject", related_to=other.id, role=role)
            )
        elif draw(st.booleans()):
            d.facts.append(
                FamilyRelationship(
                    id=f"link-{i}",
                    person=other.id,
                    related_to="subject",
                    role=draw(st.sampled_from(_RELATIVE_ROLES)),
                )
            )


def _workers(d: _Draft) -> None:
    draw = d.draw
    for i in range(draw(st.integers(0, 2))):
        worker_id = None
        if draw(st.booleans()):
            worker_id = f"worker-{i}"
            registration = st.from_regex(r"\ASW[0-9]{1,8}\Z").map(
                lambda v: SweRegistration(value=v)
            )
            d.facts.append(
                Worker(
                    id=worker_id,
                    name=draw(st.none() | _NAMES),
                    local_id=draw(st.none() | st.from_regex(r"\A[A-Z0-9]{1,12}\Z")),
                    registration=draw(st.none() | registration),
                    telecom=draw(_contacts(False)),
                    labels=draw(_LABELS),
                )
            )
        d.roles.append(
            WorkerRole(
                id=f"role-{i}",
                role=draw(st.sampled_from(list(RoleKind))),
                worker=worker_id,
                organisation=draw(st.none() | st.sampled_from(d.orgs)),
                subject=draw(st.sampled_from([None, "subject"])),
                team=draw(st.none() | _TEXT),
                telecom=draw(_contacts(False)),
                out_of_hours=draw(_contacts(True)),
                period=draw(st.none() | _period(_DATES)),
                labels=draw(_LABELS),
            )
        )
    if draw(st.booleans()):  # a mental health episode with its care coordinator
        d.facts.append(Worker(id="coordinator-worker", name=draw(_NAMES)))
        team = draw(_TEXT)
        d.roles.append(
            WorkerRole(
                id="coordinator",
                role=RoleKind.CARE_COORDINATOR,
                worker="coordinator-worker",
                organisation="trust",
                subject="subject",
                team=team,
                telecom=draw(_contacts(False)),
            )
        )
        d.facts.append(
            MentalHealthEpisode(
                id="episode",
                subject="subject",
                status=draw(st.sampled_from(list(EpisodeStatus))),
                period=draw(st.none() | _period(_DATES)),
                organisation="trust",
                team=team,
                care_coordinator="coordinator",
                labels=draw(_LABELS),
            )
        )
    d.facts.extend(d.roles)


def _health(d: _Draft) -> None:
    draw = d.draw
    for i in range(draw(st.integers(0, 2))):
        d.risks.append(f"risk-{i}")
        d.facts.append(
            Risk(
                id=f"risk-{i}",
                subject="subject",
                summary=draw(_TEXT),
                category=draw(st.none() | _TEXT),
                period=draw(st.none() | _period(_DATES)),
                labels=draw(_LABELS),
            )
        )
    d.counts["crisis"] = draw(st.integers(0, 1))
    for i in range(d.counts["crisis"]):
        d.facts.append(_crisis(draw, f"crisis-{i}"))
    if draw(st.booleans()):
        d.facts.append(
            Diagnosis(
                id="diagnosis",
                subject="subject",
                code_system=draw(
                    st.sampled_from(["http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10"])
                ),
                code=draw(st.from_regex(r"\A[A-Z0-9.]{2,10}\Z")),
                display=draw(st.none() | _TEXT),
                labels=merge(
                    draw(_LABELS),
                    SecurityLabels(
                        confidentiality=Confidentiality.R, sensitivity=frozenset({Sensitivity.PSY})
                    ),
                ),
            )
        )


def _crisis(draw: Any, fact_id: str) -> CrisisEvent:
    kind = draw(st.sampled_from(list(CrisisKind)))
    detention = kind is CrisisKind.DETENTION
    codes = _DETAINING if detention else _ENGLAND_CODES
    legal = draw(st.sampled_from(codes)) if detention or draw(st.booleans()) else None
    location, reason = draw(st.none() | _TEXT), draw(st.none() | _TEXT)
    patloc = SecurityLabels(sensitivity=frozenset({Sensitivity.PATLOC}))
    psy = SecurityLabels(sensitivity=frozenset({Sensitivity.PSY}))
    return CrisisEvent(
        id=fact_id,
        kind=kind,
        subject="subject",
        period=draw(_period(_DATETIMES, open_start=False)),
        legal_status=None if legal is None else _legal(legal),
        organisation=draw(st.none() | st.sampled_from(["trust", "council"])),
        location=location,
        reason=reason,
        labels=draw(_LABELS),
        element_labels=tuple(
            ElementLabels(element=e, labels=merge(base, draw(_LABELS)))
            for e, base, value in (("location", patloc, location), ("reason", psy, reason))
            if value is not None
        ),
    )


def _social_care(d: _Draft) -> None:
    draw = d.draw
    if draw(st.booleans()):
        plans = tuple(
            Plan(
                kind=draw(st.sampled_from(list(PlanKind))),
                period=draw(_period(_DATES)),
                category=draw(st.none() | st.sampled_from(list(AbuseCategory))),
            )
            for _ in range(draw(st.integers(1, 3)))
        )
        allocated = [
            r.id
            for r in d.roles
            if r.role is RoleKind.ALLOCATED_SOCIAL_WORKER and r.subject == "subject"
        ]
        d.facts.append(
            SocialCareEpisode(
                id="social-care",
                subject="subject",
                organisation=draw(st.none() | st.just("council")),
                plans=plans,
                allocated_worker=allocated[0] if len(allocated) == 1 else None,
                labels=draw(_LABELS),
            )
        )
    d.counts["meeting"] = draw(st.integers(0, 1))
    for i in range(d.counts["meeting"]):
        d.facts.append(_meeting(draw, f"meeting-{i}", [r.id for r in d.roles]))


def _meeting(draw: Any, fact_id: str, role_ids: list[str]) -> Meeting:
    start = draw(_DATETIMES)
    participants = draw(_subset(role_ids))
    responded = draw(_subset(participants))
    answers = st.sampled_from(["accepted", "declined", "tentative"])
    minutes = st.integers(0, 600).map(lambda m: timedelta(minutes=m))
    return Meeting(
        id=fact_id,
        kind=draw(st.sampled_from(list(MeetingKind))),
        subject="subject",
        start=start,
        end=draw(st.none() | minutes.map(start.__add__)),
        status=draw(st.sampled_from(["proposed", "booked", "cancelled", "fulfilled"])),
        participants=tuple(participants),
        location=draw(st.none() | _TEXT),
        reference=draw(st.none() | st.from_regex(r"\A[A-Z0-9-]{1,20}\Z")),
        responses=tuple(MeetingResponse(participant=p, response=draw(answers)) for p in responded),
        labels=draw(_LABELS),
    )


def _referral_and_consent(d: _Draft) -> None:
    draw = d.draw
    role_ids = [r.id for r in d.roles]
    d.counts["referral"] = draw(st.integers(0, 1))
    for i in range(d.counts["referral"]):
        d.facts.append(
            Referral(
                id=f"referral-{i}",
                subject="subject",
                household=tuple(draw(_subset(d.others))),
                concerns=draw(_TEXT),
                risks=tuple(draw(_subset(d.risks))),
                referrer=draw(st.none() | st.sampled_from(role_ids)) if role_ids else None,
                status=draw(st.sampled_from(list(ReferralStatus))),
                consent_given=draw(st.none() | st.booleans()),
                basis_without_consent=draw(st.none() | _TEXT),
                reference=draw(st.none() | st.from_regex(r"\A[A-Z0-9-]{1,20}\Z")),
                labels=draw(_LABELS),
            )
        )
    d.counts["consent"] = draw(st.integers(0, 1))
    fact_names = [str(cls.model_fields["fact"].default) for cls in FACT_CLASSES]
    for i in range(d.counts["consent"]):
        d.facts.append(
            Consent(
                id=f"consent-{i}",
                subject="subject",
                given_by=draw(st.sampled_from(list(ConsentActor))),
                decision=draw(st.sampled_from(["permit", "deny"])),
                recipients=tuple(draw(_subset(["RX9", "999", "A81001", "RNN"]))),
                purposes=tuple(draw(_subset(list(Purpose)))),
                element_classes=tuple(draw(_subset(fact_names, 3))),
                sensitivities=frozenset(draw(_subset(list(Sensitivity), 3))),
                period=draw(st.none() | _period(_DATES)),
                recorded_at=draw(_DATETIMES),
                labels=draw(_LABELS),
            )
        )


@st.composite
def _scenario(draw: Any) -> tuple[MessageKind, tuple[Fact, ...]]:
    """A coherent disclosure's facts, about a subject, and a kind its focus allows."""
    d = _Draft(draw)
    for part in (_people, _workers, _health, _social_care, _referral_and_consent):
        part(d)
    one = {name for name, count in d.counts.items() if count == 1}
    kinds: list[MessageKind] = []  # the specific kinds first: hypothesis favours early ones
    if "consent" in one:
        kinds.append(MessageKind.CONSENT_DIRECTIVE)
    if "crisis" in one:
        kinds.append(MessageKind.CRISIS_EVENT)
    if "meeting" in one:
        kinds += [
            MessageKind.MEETING_INVITATION,
            MessageKind.MEETING_REPLY,
            MessageKind.ICPC_SCHEDULED,
        ]
    if "referral" in one:
        kinds += [MessageKind.REFERRAL, MessageKind.REFERRAL_STATUS]
    kinds += [MessageKind.RECORD_UPDATE, MessageKind.CHILD_STATUS, MessageKind.WORKER_CONTACT]
    kinds += [MessageKind.CP_PLAN_STARTED, MessageKind.CP_PLAN_ENDED]
    kinds += [
        MessageKind.SECTION_47_STARTED,
        MessageKind.ALLOCATED_WORKER_CHANGED,
        MessageKind.CHILD_RECORD,
        MessageKind.CIN_CENSUS_CHILD,
    ]
    return draw(st.sampled_from(kinds)), tuple(d.facts)


# -- the round trip -----------------------------------------------------------------------------------

_THIRD_PARTY = SecurityLabels(sensitivity=frozenset({Sensitivity.THIRDPARTY}))


def normalised(facts: tuple[Fact, ...]) -> tuple[Fact, ...]:
    """What FHIR gives back for these facts (docs/mappings/fhir-r4.md, round trip)."""
    relatives = {
        f.person for f in facts if isinstance(f, FamilyRelationship) and f.related_to == "subject"
    }
    found: list[Fact] = []
    for fact in facts:
        update: dict[str, Any] = {}
        if isinstance(fact, Person) and fact.id in relatives:
            update["labels"] = merge(fact.labels, _THIRD_PARTY)
        # A field label that says nothing (normal, no sensitivity) has nothing to render.
        kept = tuple(e for e in fact.element_labels if e.labels != SecurityLabels())
        if kept != fact.element_labels:
            update["element_labels"] = kept
        found.append(fact.model_copy(update=update) if update else fact)
    return tuple(found)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario())
def test_canonical_to_fhir_to_canonical_is_the_identity(
    scenario: tuple[MessageKind, tuple[Fact, ...]],
) -> None:
    """Every generated disclosure renders to valid R4B with no losses and reads back to the same
    facts (after the documented normalisations), of the same kind."""
    kind, facts = scenario
    rendered = ADAPTER.render(disclosure(facts, "subject", kind=kind))
    message = STRICT.parse(rendered.body, TRUST)
    assert ((), kind) == (rendered.losses, message.kind)
    assert facts_content(normalised(facts)) == facts_content(message.facts)


# -- mutations ----------------------------------------------------------------------------------------

_VALID = {
    name: FIXTURES.joinpath("fhir", name).read_bytes()
    for name in (
        "crisis-s136.json",
        "crisis-s136.xml",
        "referral.json",
        "referral.xml",
        "meeting-invitation.json",
        "consent-directive.json",
        "record-update-transaction.json",
    )
}


@st.composite
def _mutated(draw: Any) -> bytes:
    body = bytearray(_VALID[draw(st.sampled_from(sorted(_VALID)))])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        operation = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        if operation == "flip" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif operation == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del body[at : at + draw(st.integers(1, 64))]
        elif operation == "truncate":
            del body[at:]
        else:
            body[at:at] = body[at : at + draw(st.integers(1, 200))]
    return bytes(body)


@pytest.mark.parametrize("adapter", [ADAPTER, STRICT], ids=["focused", "validating"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_mutated())
def test_byte_mutations_raise_nothing_but_invalid_message(
    adapter: FhirR4Adapter, body: bytes
) -> None:
    """Flipped, inserted, deleted, duplicated or truncated bytes in valid JSON and XML inputs:
    a canonical message or InvalidMessage, never another exception."""
    with contextlib.suppress(InvalidMessage):
        adapter.parse(body, TRUST)
