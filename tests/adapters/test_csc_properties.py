"""Properties of the CSC adapter: canonical → CSC → canonical is the identity for what CSC carries,
and no damage to a council's message raises anything but InvalidMessage.

Which formats are symmetrical: the council documents (meeting invitation, referral and worker
contact notices, and the disclosure summary) carry their canonical facts whole, so reading a
document's parts back (``adapters.csc.parts.from_parts``) gives the disclosed facts again. The
crisis notice is a flat, lossy layout (no ids, one event, one parent) and is not symmetrical; nor
are the inbound messages, which councils write and the gateway never renders (a child-status
message has no disclosure terms). Their facts still come back whole through the summary.
"""

from __future__ import annotations

import string
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.csc import CscAdapter
from adapters.csc.outbound import (
    DisclosureSummary,
    Document,
    MeetingInvitationNotice,
    ReferralNotice,
    WorkerContactNotice,
)
from adapters.csc.parts import from_parts
from gateway.errors import InvalidMessage
from schemas import facts as f
from schemas.codes import load
from schemas.disclosure import Addressee
from schemas.identifiers import (
    LaChildId,
    NhsNumber,
    NhsNumberVerification,
    PersonIdentifier,
    SweRegistration,
    Upn,
    nhs_number_check_digit,
)
from schemas.labels import Purpose, Sensitivity
from schemas.message import MessageKind
from tests.adapters.helpers import COUNCIL, CSC_SECRETS, FIXTURES, disclosure

ADAPTER = CscAdapter()
TO_COUNCIL = Addressee(partner="council-999", organisation="999")
NHS_NUMBERS = [
    f"{n}{nhs_number_check_digit(str(n))}"
    for n in range(900000000, 900000040)
    if nhs_number_check_digit(str(n)) is not None
]
UK_CORE_ETHNICITY = sorted({pair.target for pair in load("ethnicity").pairs})

words = st.text(string.ascii_letters + "'-", min_size=1, max_size=12)
texts = st.lists(words, min_size=1, max_size=4).map(" ".join)
dates = st.dates(date(1950, 1, 1), date(2030, 12, 31))
instants = st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC))
whens = dates | instants
upns = st.from_regex(r"[A-Z][0-9]{11}[A-Z0-9]", fullmatch=True)
contacts = st.builds(
    f.ContactPoint,
    system=st.sampled_from(["phone", "email", "url", "other"]),
    value=texts,
    out_of_hours=st.booleans(),
)
telecoms = st.lists(contacts, max_size=2).map(tuple)
periods = st.builds(f.Period, start=whens, end=st.none() | whens)
names = st.builds(
    f.HumanName, given=st.lists(words, max_size=2).map(tuple), family=words
) | st.builds(f.HumanName, given=st.lists(words, min_size=1, max_size=2).map(tuple))

PEOPLE = ("person-child", "person-mother", "person-father")
ROLES = ("role-0", "role-1", "role-2")
ORGS = ("org-trust", "org-council")


@st.composite
def persons(draw: st.DrawFn, ref: str, child: bool) -> f.Person:
    ids: list[PersonIdentifier] = []
    if child:
        ids.append(
            LaChildId(la_code="999", value=draw(st.from_regex(r"CH[0-9]{6}", fullmatch=True)))
        )
    if draw(st.booleans()):
        verification = draw(st.none() | st.sampled_from(list(NhsNumberVerification)))
        ids.append(NhsNumber(value=draw(st.sampled_from(NHS_NUMBERS)), verification=verification))
    if draw(st.booleans()):
        ids.append(Upn(value=draw(upns)))
    if draw(st.booleans()):
        ids.append(Upn(value=draw(upns), former=True))
    return f.Person(
        id=ref,
        identifiers=tuple(ids),
        name=draw(st.none() | names),
        birth_date=draw(st.none() | dates),
        sex=draw(st.none() | st.sampled_from([f.Sex.MALE, f.Sex.FEMALE, f.Sex.UNKNOWN])),
        ethnicity=draw(st.none() | st.sampled_from(UK_CORE_ETHNICITY)),
        postcode=draw(st.none() | texts),
    )


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def roles(draw: st.DrawFn, index: int) -> tuple[f.Worker | None, f.WorkerRole]:
    worker = None
    if draw(st.booleans()):
        registration = draw(optional(st.from_regex(r"SW[0-9]{1,8}", fullmatch=True)))
        worker = f.Worker(
            id=f"worker-{index}",
            name=draw(optional(names)),
            local_id=draw(optional(words)),
            registration=SweRegistration(value=registration) if registration else None,
            professional_registration=draw(optional(words)),
            telecom=draw(telecoms),
        )
    role = f.WorkerRole(
        id=ROLES[index],
        role=draw(st.sampled_from(list(f.RoleKind))),
        worker=worker.id if worker else None,
        organisation=draw(optional(st.sampled_from(ORGS))),
        subject=draw(optional(st.sampled_from(PEOPLE))),
        team=draw(optional(texts)),
        telecom=draw(telecoms),
        out_of_hours=draw(telecoms),
        period=draw(optional(periods)),
    )
    return worker, role


@st.composite
def meetings(draw: st.DrawFn, ref: str) -> f.Meeting:
    participants = tuple(draw(st.lists(st.sampled_from(ROLES), unique=True, max_size=3)))
    answered = draw(st.lists(st.sampled_from(participants), unique=True)) if participants else []
    return f.Meeting(
        id=ref,
        kind=draw(st.sampled_from(list(f.MeetingKind))),
        subject=draw(st.sampled_from(PEOPLE)),
        start=draw(instants),
        end=draw(optional(instants)),
        status=draw(st.sampled_from(["proposed", "booked", "cancelled", "fulfilled"])),
        participants=participants,
        location=draw(optional(texts)),
        reference=draw(optional(words)),
        responses=tuple(
            f.MeetingResponse(
                participant=p,
                response=draw(st.sampled_from(["accepted", "declined", "tentative"])),
            )
            for p in answered
        ),
    )


risks = st.builds(
    f.Risk,
    id=st.just("risk-0"),
    subject=st.sampled_from(PEOPLE),
    summary=texts,
    category=optional(words),
    period=optional(periods),
)
referrals = st.builds(
    f.Referral,
    id=st.just("referral-0"),
    subject=st.sampled_from(PEOPLE),
    household=st.lists(st.sampled_from(PEOPLE), unique=True).map(tuple),
    concerns=st.just("") | texts,
    risks=st.just(("risk-0",)) | st.just(()),
    referrer=optional(st.sampled_from(ROLES)),
    status=st.sampled_from(list(f.ReferralStatus)),
    consent_given=optional(st.booleans()),
    basis_without_consent=optional(texts),
    reference=optional(words),
)
episodes = st.builds(
    f.MentalHealthEpisode,
    id=st.just("episode-mh"),
    subject=st.sampled_from(PEOPLE),
    status=st.sampled_from(list(f.EpisodeStatus)),
    period=optional(periods),
    organisation=optional(st.sampled_from(ORGS)),
    team=optional(texts),
    care_coordinator=optional(st.sampled_from(ROLES)),
)
social_care = st.builds(
    f.SocialCareEpisode,
    id=st.just("episode-sc"),
    subject=st.just("person-child"),
    organisation=optional(st.just("org-council")),
    referral_date=optional(dates),
    referral_source=optional(words),
    primary_need=optional(words),
    assessment_factors=st.lists(words, max_size=3).map(tuple),
    section47=st.lists(
        st.builds(
            f.Section47,
            start=dates,
            icpc_target_date=optional(dates),
            icpc_date=optional(dates),
            outcome=optional(st.sampled_from(list(f.Section47Outcome))),
        ),
        max_size=2,
    ).map(tuple),
    plans=st.lists(
        st.builds(
            f.Plan,
            kind=st.sampled_from(list(f.PlanKind)),
            period=st.builds(f.Period, start=optional(whens), end=optional(whens)),
            category=optional(st.sampled_from(list(f.AbuseCategory))),
        ),
        max_size=2,
    ).map(tuple),
    closure_date=optional(dates),
    closure_reason=optional(words),
    allocated_worker=optional(st.sampled_from(ROLES)),
)
crises = st.builds(
    f.CrisisEvent,
    id=st.just("crisis-0"),
    kind=st.sampled_from(list(f.CrisisKind)),
    subject=st.sampled_from(PEOPLE),
    period=st.builds(f.Period, start=optional(whens), end=optional(whens)),
    legal_status=optional(
        st.builds(f.LegalStatus, system=words, code=words, display=optional(texts))
    ),
    organisation=optional(st.sampled_from(ORGS)),
    location=optional(texts),
    reason=optional(texts),
)
diagnoses = st.builds(
    f.Diagnosis,
    id=st.just("diagnosis-0"),
    subject=st.sampled_from(PEOPLE),
    code_system=words,
    code=words,
    display=optional(texts),
)
consents = st.builds(
    f.Consent,
    id=st.just("consent-0"),
    subject=st.sampled_from(PEOPLE),
    given_by=st.sampled_from(list(f.ConsentActor)),
    decision=st.sampled_from(["permit", "deny"]),
    recipients=st.lists(words, max_size=2).map(tuple),
    purposes=st.lists(st.sampled_from(list(Purpose)), unique=True, max_size=2).map(tuple),
    element_classes=st.lists(words, max_size=2).map(tuple),
    sensitivities=st.frozensets(st.sampled_from(list(Sensitivity)), max_size=2),
    period=optional(periods),
    recorded_at=instants,
)


@st.composite
def households(draw: st.DrawFn) -> list[f.Fact]:
    """People, family links, organisations, and workers in roles: what every document carries."""
    found: list[f.Fact] = [
        draw(persons("person-child", child=True)),
        draw(persons("person-mother", child=False)),
        draw(persons("person-father", child=draw(st.booleans()))),
        f.FamilyRelationship(
            id="link-0",
            person="person-mother",
            related_to="person-child",
            role=draw(st.sampled_from(list(f.RelationshipRole))),
            parental_responsibility=draw(optional(st.booleans())),
            lives_with=draw(optional(st.booleans())),
        ),
        f.Organisation(
            id="org-trust",
            kind=f.OrganisationKind.NHS_TRUST,
            ods_code="RX9",
            name=draw(optional(texts)),
            telecom=draw(telecoms),
        ),
        f.Organisation(id="org-council", kind=f.OrganisationKind.LOCAL_AUTHORITY, la_code="999"),
    ]
    for index in range(draw(st.integers(0, 3))):
        worker, role = draw(roles(index))
        found.extend(x for x in (worker, role) if x is not None)
    return found


def _round_trip(facts: list[f.Fact], kind: MessageKind, model: type[Document]) -> None:
    rendered = ADAPTER.render(
        disclosure(tuple(facts), "person-mother", kind=kind, recipient=TO_COUNCIL)
    )
    back = from_parts(model.model_validate_json(rendered.body))
    assert ((), sorted(facts, key=_id)) == (rendered.losses, sorted(back, key=_id))


def _id(fact: f.Fact) -> str:
    return fact.id


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(households(), meetings("meeting-0"))
def test_meeting_invitation_notice_round_trip(household: list[f.Fact], meeting: f.Meeting) -> None:
    """canonical → meeting invitation notice → canonical is the identity, with no loss."""
    _round_trip([*household, meeting], MessageKind.MEETING_INVITATION, MeetingInvitationNotice)


@SETTINGS
@given(households(), referrals, st.lists(risks, max_size=1))
def test_referral_notice_round_trip(
    household: list[f.Fact], referral: f.Referral, risk: list[f.Risk]
) -> None:
    """canonical → referral notice → canonical is the identity, with no loss."""
    _round_trip([*household, referral, *risk], MessageKind.REFERRAL, ReferralNotice)


@SETTINGS
@given(households())
def test_worker_contact_notice_round_trip(household: list[f.Fact]) -> None:
    """canonical → worker contact notice → canonical is the identity, with no loss."""
    _round_trip(household, MessageKind.WORKER_CONTACT, WorkerContactNotice)


@SETTINGS
@given(
    households(),
    st.lists(
        st.one_of(
            meetings("meeting-0"),
            referrals,
            risks,
            episodes,
            social_care,
            crises,
            diagnoses,
            consents,
        ),
        max_size=8,
        unique_by=_id,
    ),
)
def test_disclosure_summary_round_trip(household: list[f.Fact], content: list[f.Fact]) -> None:
    """canonical → disclosure summary → canonical is the identity for every fact class."""
    _round_trip([*household, *content], MessageKind.RECORD_UPDATE, DisclosureSummary)


INBOUND = sorted(p.stem for p in (FIXTURES / "csc").glob("*.json"))


@pytest.mark.parametrize("name", INBOUND)
def test_what_a_council_sends_comes_back_whole_through_a_summary(name: str) -> None:
    """CSC → canonical → disclosure summary → canonical: every fact a council message carries
    survives a summary to another council unchanged."""
    parsed = ADAPTER.parse((FIXTURES / "csc" / f"{name}.json").read_bytes(), COUNCIL)
    _round_trip(list(parsed.facts), MessageKind.RECORD_UPDATE, DisclosureSummary)


# -- damage ---------------------------------------------------------------------------------------

BODIES = {name: (FIXTURES / "csc" / f"{name}.json").read_bytes() for name in INBOUND}
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2)
    ),
    max_leaves=6,
)


def _parse_or_refuse(body: bytes) -> None:
    try:
        ADAPTER.parse(body, COUNCIL)
    except InvalidMessage as exc:
        text = " ".join(f"{i.element} {i.reason}" for i in exc.issues)
        assert [] == [s for s in CSC_SECRETS if s in text]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(INBOUND), st.data())
def test_byte_damage_is_an_invalid_message_or_a_parse(name: str, data: st.DataObject) -> None:
    """Replaced, inserted and deleted bytes never raise anything but InvalidMessage."""
    body = bytearray(BODIES[name])
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body) - 1))
        op = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.integers(0, 255))
        if op == "replace":
            body[at] = byte
        elif op == "insert":
            body.insert(at, byte)
        elif len(body) > 1:
            del body[at]
    _parse_or_refuse(bytes(body))


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*path, index)))
    return found


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(INBOUND), st.data())
def test_value_damage_is_an_invalid_message_or_a_parse(name: str, data: st.DataObject) -> None:
    """Any element replaced by any JSON value, or removed, is refused as InvalidMessage (naming
    no record content) or parsed."""
    document = orjson.loads(BODIES[name])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(document) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()):
            parent[path[-1]] = data.draw(json_values)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    _parse_or_refuse(orjson.dumps(document))
