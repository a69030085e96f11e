"""Shared hypothesis strategies: *maximal* canonical messages whose content is marker values.

A maximal message has a fact of every class, every optional field of every fact filled, free text
wherever a string can go, and security labels everywhere: on facts and on single fields
(``element_labels``), every sensitivity code present somewhere in the message. Each value that can
be recognised in rendered bytes is a *marker* that cannot appear by accident: free text is
``LEAK-<field>-<token>``, and identifiers, codes and dates are unique within the message (NHS
numbers, UPNs, Social Work England numbers and ODS codes built from a per-run salt; every date a
different day, early in the twentieth century, or in the thirtieth for a consent directive's end,
so that the directive is in force). :class:`Marker` records which element
(``<fact>.<field>``) of which fact each marker belongs to, so a test can tell which must not cross.

What cannot be a marker (enums, booleans, references between facts, the sender's and the
recipient's own organisation codes, legal status and relationship codes the renderers need) is
still drawn, so minimisation sees it; tests check those on the minimised facts instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import strategies as st

from schemas import facts as f
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
from schemas.message import CanonicalMessage, MessageKind
from schemas.provenance import Provenance
from tests.adapters.test_fhir_properties import _ENGLAND_CODES, _legal

# One salt per run: markers differ between runs, but are fixed within one (hypothesis replays).
_RANDOM = random.Random()  # noqa: S311 - markers, not secrets
SALT = "q" + "".join(_RANDOM.choice("0123456789abcdef") for _ in range(5))
_DIGITS = f"{_RANDOM.randrange(1000):03d}"
_FIRST_DAY = date(1901, 1, 1) + timedelta(days=_RANDOM.randrange(400))
_LAST_DAY = date(2901, 1, 1) + timedelta(days=_RANDOM.randrange(400))
RECEIVED = datetime(2026, 11, 1, 23, 6, tzinfo=UTC)
NOT_CONTENT = frozenset({"id", "fact", "labels", "element_labels"})
FACT_NAMES = [str(cls.model_fields["fact"].default) for cls in f.FACT_CLASSES]


@dataclass(frozen=True, slots=True)
class Marker:
    """One recognisable value and the element it belongs to."""

    fact: str  # the fact class, e.g. "crisis-event"
    fact_id: str
    field: str
    value: str  # as it would appear in rendered bytes (compared case-insensitively)

    @property
    def element(self) -> str:
        return f"{self.fact}.{self.field}"


@dataclass(frozen=True, slots=True)
class Maximal:
    """A maximal message and every marker in it."""

    message: CanonicalMessage
    markers: tuple[Marker, ...]


class _Marks:
    """Hands out marker values for one message, recording each against its element."""

    def __init__(self) -> None:
        self.count = 0
        self.found: list[Marker] = []

    def _note(self, fact: str, fact_id: str, field: str, value: str) -> str:
        self.found.append(Marker(fact, fact_id, field, value))
        return value

    def _next(self) -> int:
        self.count += 1
        return self.count

    def text(self, fact: str, fact_id: str, field: str) -> str:
        n = self._next()
        token = f"{SALT}{n:04d}"
        self.found.append(Marker(fact, fact_id, field, token))
        return f"LEAK-{field}-{token}"

    def day(self, fact: str, fact_id: str, field: str, *, future: bool = False) -> date:
        # Ten days apart: ends come after starts, and no two markers share a day.
        first = _LAST_DAY if future else _FIRST_DAY
        value = first + timedelta(days=10 * self._next())
        self._note(fact, fact_id, field, value.isoformat())
        return value

    def instant(self, fact: str, fact_id: str, field: str) -> datetime:
        # Noon UTC: the same calendar day in any UK rendering.
        return datetime.combine(self.day(fact, fact_id, field), time(12, 0), UTC)

    def nhs(self, fact: str, fact_id: str) -> str:
        while True:
            first = f"9{_DIGITS}{self._next():05d}"
            check = nhs_number_check_digit(first)
            if check is not None:
                return self._note(fact, fact_id, "identifiers", f"{first}{check}")

    def upn(self, fact: str, fact_id: str) -> str:
        return self._note(fact, fact_id, "identifiers", f"U{_DIGITS}{self._next():08d}Z")

    def swe(self, fact: str, fact_id: str) -> str:
        return self._note(fact, fact_id, "registration", f"SW{_DIGITS}{self._next():05d}")

    def ods(self, fact: str, fact_id: str) -> str:
        return self._note(fact, fact_id, "ods_code", f"Q{_DIGITS}{self._next():04d}")


# -- labels ------------------------------------------------------------------------------------


def _label_pool() -> list[SecurityLabels]:
    """Labels as senders write them: one sensitivity, or two with a stricter confidentiality and
    obligations, or only a confidentiality. Sampled from a list, so drawing one is cheap."""
    codes = sorted(Sensitivity)
    pool = [SecurityLabels(sensitivity=frozenset({code})) for code in codes]
    pool += [
        SecurityLabels(
            confidentiality=Confidentiality.R,
            sensitivity=frozenset({code, codes[(i + 3) % len(codes)]}),
            obligations=frozenset({Obligation.NORDSCLCD, Obligation.DELAU}),
        )
        for i, code in enumerate(codes)
    ]
    pool += [SecurityLabels(confidentiality=Confidentiality.V)]
    return pool


LABEL_POOL = _label_pool()
# No labels about half the time: a fact or field labelled, or not.
FACT_LABELS = st.just(SecurityLabels()) | st.sampled_from(LABEL_POOL)
FIELD_LABELS = st.none() | st.sampled_from(LABEL_POOL)


def _content_fields(fact: f.Fact) -> list[str]:
    """Fields holding something (a field at its default has nothing to label or withhold)."""
    return [
        name
        for name, info in type(fact).model_fields.items()
        if name not in NOT_CONTENT and getattr(fact, name) != info.get_default()
    ]


def _labelled(draw: st.DrawFn, facts: list[f.Fact]) -> list[f.Fact]:
    """Labels on every fact, field labels on every field, and every sensitivity somewhere."""
    fact_labels = [draw(FACT_LABELS) for _ in facts]
    field_labels: list[dict[str, SecurityLabels]] = []
    for fact in facts:
        per_field = {}
        for name in _content_fields(fact):
            labels = draw(FIELD_LABELS)
            if labels is not None:
                per_field[name] = labels
        field_labels.append(per_field)
    present = {s for labels in fact_labels for s in labels.sensitivity} | {
        s for per_field in field_labels for labels in per_field.values() for s in labels.sensitivity
    }
    slots = [(i, name) for i, fact in enumerate(facts) for name in _content_fields(fact)]
    for missing in sorted(set(Sensitivity) - present):
        i, name = draw(st.sampled_from(slots))
        if draw(st.booleans()):
            labels = fact_labels[i]
            fact_labels[i] = labels.model_copy(
                update={"sensitivity": labels.sensitivity | {missing}}
            )
        else:
            labels = field_labels[i].get(name, SecurityLabels())
            field_labels[i][name] = labels.model_copy(
                update={"sensitivity": labels.sensitivity | {missing}}
            )
    return [
        type(fact).model_validate(
            {
                **dict(fact),
                "labels": fact_labels[i],
                "element_labels": tuple(
                    ElementLabels(element=name, labels=labels)
                    for name, labels in field_labels[i].items()
                ),
            }
        )
        for i, fact in enumerate(facts)
    ]


# -- facts -------------------------------------------------------------------------------------


def _organisation(marks: _Marks, fact_id: str, code: str | None) -> f.Organisation:
    """An organisation by its own code (not a marker: the addressing names it), or a third
    organisation whose ODS code is a marker."""
    name = "organisation"
    if code is None:
        kind, ods, la = f.OrganisationKind.OTHER, marks.ods(name, fact_id), None
    elif code.isdigit() and len(code) == 3:
        kind, ods, la = f.OrganisationKind.LOCAL_AUTHORITY, None, code
    else:
        kind, ods, la = f.OrganisationKind.NHS_TRUST, code, None
    return f.Organisation(
        id=fact_id,
        kind=kind,
        ods_code=ods,
        la_code=la,
        name=marks.text(name, fact_id, "name"),
        telecom=_telecom(marks, name, fact_id, "telecom"),
    )


def _telecom(marks: _Marks, fact: str, fact_id: str, field: str) -> tuple[f.ContactPoint, ...]:
    out_of_hours = field == "out_of_hours"
    return tuple(
        f.ContactPoint(
            system=system,
            value=marks.text(fact, fact_id, field),
            out_of_hours=out_of_hours or system == "url",
        )
        for system in ("phone", "email", "url")
    )


def _name(marks: _Marks, fact: str, fact_id: str) -> f.HumanName:
    return f.HumanName(
        given=(marks.text(fact, fact_id, "name"), marks.text(fact, fact_id, "name")),
        family=marks.text(fact, fact_id, "name"),
    )


def _period(marks: _Marks, fact: str, fact_id: str, field: str) -> f.Period:
    return f.Period(start=marks.day(fact, fact_id, field), end=marks.day(fact, fact_id, field))


def _person(draw: st.DrawFn, marks: _Marks, fact_id: str, la_code: str) -> f.Person:
    name = "person"
    identifiers = (
        NhsNumber(
            value=marks.nhs(name, fact_id),
            verification=draw(st.sampled_from(list(NhsNumberVerification))),
        ),
        LaChildId(la_code=la_code, value=marks.text(name, fact_id, "identifiers")),
        Upn(value=marks.upn(name, fact_id)),
        Upn(value=marks.upn(name, fact_id), former=True),
    )
    return f.Person(
        id=fact_id,
        identifiers=identifiers,
        name=_name(marks, name, fact_id),
        birth_date=marks.day(name, fact_id, "birth_date"),
        sex=draw(st.sampled_from(list(f.Sex))),
        ethnicity=marks.text(name, fact_id, "ethnicity"),
        postcode=marks.text(name, fact_id, "postcode"),
    )


def _worker(marks: _Marks, fact_id: str) -> f.Worker:
    name = "worker"
    return f.Worker(
        id=fact_id,
        name=_name(marks, name, fact_id),
        local_id=marks.text(name, fact_id, "local_id"),
        registration=SweRegistration(value=marks.swe(name, fact_id)),
        professional_registration=marks.text(name, fact_id, "professional_registration"),
        telecom=_telecom(marks, name, fact_id, "telecom"),
    )


def _role(
    marks: _Marks,
    fact_id: str,
    role: f.RoleKind,
    *,
    worker: str,
    organisation: str,
    subject: str,
) -> f.WorkerRole:
    name = "worker-role"
    return f.WorkerRole(
        id=fact_id,
        role=role,
        worker=worker,
        organisation=organisation,
        subject=subject,
        team=marks.text(name, fact_id, "team"),
        telecom=_telecom(marks, name, fact_id, "telecom"),
        out_of_hours=_telecom(marks, name, fact_id, "out_of_hours"),
        period=_period(marks, name, fact_id, "period"),
    )


def _social_care(draw: st.DrawFn, marks: _Marks, council_org: str) -> f.SocialCareEpisode:
    name, fid = "social-care-episode", "social-care"
    section47 = tuple(
        f.Section47(
            start=marks.day(name, fid, "section47"),
            icpc_target_date=marks.day(name, fid, "section47"),
            icpc_date=marks.day(name, fid, "section47"),
            outcome=draw(st.sampled_from(list(f.Section47Outcome))),
        )
        for _ in range(draw(st.integers(1, 2)))
    )
    plans = tuple(
        f.Plan(
            kind=draw(st.sampled_from(list(f.PlanKind))),
            period=_period(marks, name, fid, "plans"),
            category=draw(st.sampled_from(list(f.AbuseCategory))),
        )
        for _ in range(draw(st.integers(1, 2)))
    )
    return f.SocialCareEpisode(
        id=fid,
        subject="child",
        organisation=council_org,
        referral_date=marks.day(name, fid, "referral_date"),
        referral_source=marks.text(name, fid, "referral_source"),
        primary_need=marks.text(name, fid, "primary_need"),
        assessment_factors=(
            marks.text(name, fid, "assessment_factors"),
            marks.text(name, fid, "assessment_factors"),
        ),
        section47=section47,
        plans=plans,
        closure_date=marks.day(name, fid, "closure_date"),
        closure_reason=marks.text(name, fid, "closure_reason"),
        allocated_worker="role-social-worker",
    )


def _events(draw: st.DrawFn, marks: _Marks, sender_org: str, recipient: str) -> list[f.Fact]:
    roles = ("role-coordinator", "role-social-worker")
    answered = draw(st.lists(st.sampled_from(roles), unique=True))
    answers = st.sampled_from(["accepted", "declined", "tentative"])
    m, r, c, d, ref, cons = (
        "meeting",
        "risk",
        "crisis-event",
        "diagnosis",
        "referral",
        "consent",
    )
    return [
        f.Meeting(
            id="meeting",
            kind=draw(st.sampled_from(list(f.MeetingKind))),
            subject="subject",
            start=marks.instant(m, "meeting", "start"),
            end=marks.instant(m, "meeting", "end"),
            status=draw(st.sampled_from(["proposed", "booked", "cancelled", "fulfilled"])),
            participants=roles,
            location=marks.text(m, "meeting", "location"),
            reference=marks.text(m, "meeting", "reference"),
            responses=tuple(
                f.MeetingResponse(participant=p, response=draw(answers)) for p in answered
            ),
        ),
        f.Risk(
            id="risk",
            subject="subject",
            summary=marks.text(r, "risk", "summary"),
            category=marks.text(r, "risk", "category"),
            period=_period(marks, r, "risk", "period"),
        ),
        f.CrisisEvent(
            id="crisis",
            kind=draw(st.sampled_from(list(f.CrisisKind))),
            subject="subject",
            period=f.Period(
                start=marks.instant(c, "crisis", "period"), end=marks.instant(c, "crisis", "period")
            ),
            # The code is one the renderers know; its display is free text.
            legal_status=_legal(draw(st.sampled_from(_ENGLAND_CODES))).model_copy(
                update={"display": marks.text(c, "crisis", "legal_status")}
            ),
            organisation=sender_org,
            location=marks.text(c, "crisis", "location"),
            reason=marks.text(c, "crisis", "reason"),
        ),
        f.Diagnosis(
            id="diagnosis",
            subject="subject",
            code_system="http://snomed.info/sct",
            code=marks.text(d, "diagnosis", "code"),
            display=marks.text(d, "diagnosis", "display"),
        ),
        f.Referral(
            id="referral",
            subject="subject",
            household=("child", "relative"),
            concerns=marks.text(ref, "referral", "concerns"),
            risks=("risk",),
            referrer="role-coordinator",
            status=draw(st.sampled_from(list(f.ReferralStatus))),
            consent_given=draw(st.booleans()),
            basis_without_consent=marks.text(ref, "referral", "basis_without_consent"),
            reference=marks.text(ref, "referral", "reference"),
        ),
        f.Consent(
            id="consent",
            subject="subject",
            given_by=draw(st.sampled_from(list(f.ConsentActor))),
            decision=draw(st.sampled_from(["permit", "deny"])),
            # The directive may cover this recipient (and then binds the share), or not.
            recipients=(
                marks.text(cons, "consent", "recipients"),
                *draw(st.lists(st.just(recipient), max_size=1)),
            ),
            purposes=tuple(draw(st.lists(st.sampled_from(list(Purpose)), min_size=1, unique=True))),
            element_classes=(
                marks.text(cons, "consent", "element_classes"),
                *draw(st.lists(st.sampled_from(FACT_NAMES), unique=True, max_size=4)),
            ),
            sensitivities=draw(st.frozensets(st.sampled_from(list(Sensitivity)), min_size=1)),
            # In force from long ago until far in the future, so that it applies today.
            period=f.Period(
                start=marks.day(cons, "consent", "period"),
                end=marks.day(cons, "consent", "period", future=True),
            ),
            recorded_at=marks.instant(cons, "consent", "recorded_at"),
        ),
    ]


_PARENT_ROLES = [f.RelationshipRole.MOTHER, f.RelationshipRole.FATHER, f.RelationshipRole.PARENT]


@st.composite
def maximal_messages(
    draw: st.DrawFn,
    kind: MessageKind,
    sender: str,
    recipient: str,
    purposes: tuple[Purpose, ...] = (),
) -> Maximal:
    """A maximal ``kind`` message from ``sender`` (an ODS or DfE LA code) about a parent
    (``subject``), their child (``child``) and a relative (``relative``), for a ``recipient``.

    The message names one of ``purposes`` (the gateway refuses a message that names none).
    """
    marks = _Marks()
    council = recipient if recipient.isdigit() and len(recipient) == 3 else sender
    council = council if council.isdigit() and len(council) == 3 else "999"
    # The council's organisation fact: its own, or the sender's when the sender is the council.
    council_org = "sender-org" if council == sender else "council-org"
    facts: list[f.Fact] = [
        _person(draw, marks, "subject", council),
        _person(draw, marks, "child", council),
        _person(draw, marks, "relative", council),
        f.FamilyRelationship(
            id="link-child",
            person="subject",
            related_to="child",
            role=draw(st.sampled_from(_PARENT_ROLES)),
            parental_responsibility=draw(st.booleans()),
            lives_with=draw(st.booleans()),
        ),
        f.FamilyRelationship(
            id="link-relative",
            person="relative",
            related_to="subject",
            role=draw(st.sampled_from(list(f.RelationshipRole))),
            parental_responsibility=draw(st.booleans()),
            lives_with=draw(st.booleans()),
        ),
        _organisation(marks, "sender-org", sender),
        _organisation(marks, "other-org", None),
        _worker(marks, "worker-coordinator"),
        _worker(marks, "worker-social-worker"),
        _role(
            marks,
            "role-coordinator",
            f.RoleKind.CARE_COORDINATOR,
            worker="worker-coordinator",
            organisation="sender-org",
            subject="subject",
        ),
        _role(
            marks,
            "role-social-worker",
            f.RoleKind.ALLOCATED_SOCIAL_WORKER,
            worker="worker-social-worker",
            organisation=council_org,
            subject="child",
        ),
        f.MentalHealthEpisode(
            id="mh-episode",
            subject="subject",
            status=draw(st.sampled_from(list(f.EpisodeStatus))),
            period=_period(marks, "mental-health-episode", "mh-episode", "period"),
            organisation="sender-org",
            team=marks.text("mental-health-episode", "mh-episode", "team"),
            care_coordinator="role-coordinator",
        ),
        _social_care(draw, marks, council_org),
        *_events(draw, marks, "sender-org", recipient),
    ]
    if council != sender:
        facts.append(_organisation(marks, council_org, council))
    message = CanonicalMessage(
        message_id=f"message-{SALT}",
        kind=kind,
        subject="subject",
        facts=tuple(_labelled(draw, facts)),
        provenance=Provenance(
            organisation=sender,
            system="sender-partner",
            source_format="canonical",
            source_message_id=f"message-{SALT}",
            received_at=RECEIVED,
        ),
        purpose=draw(st.sampled_from(purposes)) if purposes else None,
        sent_at=RECEIVED,
    )
    return Maximal(message, tuple(marks.found))
