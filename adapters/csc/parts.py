"""Canonical facts as the parts of a CSC document, and back again.

``to_parts`` renders facts; ``from_parts`` reads a document's parts back into facts with the same
ids. The renderer compares the two: whatever did not come back equal is a loss, so a loss report
cannot miss an element, and the round trip canonical → CSC → canonical is the identity for every
fact that reports no loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from adapters.csc.crisis_notice import LegalStatus as LegalStatusPart
from adapters.csc.crisis_notice import NoticeModel
from adapters.csc.outbound import (
    ConsentPart,
    Contact,
    CrisisEventPart,
    DiagnosisPart,
    Document,
    MeetingPart,
    MeetingResponsePart,
    MentalHealthEpisodePart,
    OrganisationPart,
    PersonPart,
    PlanPart,
    ReferralPart,
    RelationshipPart,
    RelationshipWord,
    RiskPart,
    Section47Part,
    SocialCareEpisodePart,
    When,
    WorkerContactPart,
    WorkerPart,
)
from adapters.csc.vocabulary import ETHNICITY_TO_CANONICAL
from schemas import facts as f
from schemas.codes import load
from schemas.identifiers import LaChildId, NhsNumber, PersonIdentifier, SweRegistration, Upn

_SEX: dict[f.Sex, Literal["M", "F", "U"]] = {
    f.Sex.MALE: "M",
    f.Sex.FEMALE: "F",
    f.Sex.UNKNOWN: "U",
}
_SEX_BACK = {code: sex for sex, code in _SEX.items()}
_ROLE_WORDS: dict[f.RelationshipRole, RelationshipWord] = {
    f.RelationshipRole.MOTHER: "mother",
    f.RelationshipRole.FATHER: "father",
    f.RelationshipRole.PARENT: "parent",
    f.RelationshipRole.STEP_PARENT: "step-parent",
    f.RelationshipRole.GUARDIAN: "guardian",
    f.RelationshipRole.CARER: "carer",
    f.RelationshipRole.CHILD: "child",
    f.RelationshipRole.OTHER: "other",
}
_ETHNICITY = load("ethnicity")
_WORD_ROLES = {word: role for role, word in _ROLE_WORDS.items()}


def _contacts(points: tuple[f.ContactPoint, ...]) -> tuple[Contact, ...]:
    return tuple(
        Contact(system=c.system, value=c.value, out_of_hours=c.out_of_hours) for c in points
    )


def _points(contacts: tuple[Contact, ...]) -> tuple[f.ContactPoint, ...]:
    return tuple(
        f.ContactPoint(system=c.system, value=c.value, out_of_hours=c.out_of_hours)
        for c in contacts
    )


def _name(name: f.HumanName | None) -> tuple[tuple[str, ...], str | None]:
    return (name.given, name.family) if name is not None else ((), None)


def _human(given: tuple[str, ...], family: str | None) -> f.HumanName | None:
    return f.HumanName(given=given, family=family) if given or family is not None else None


def _optional_period(start: When, end: When) -> f.Period | None:
    return None if start is None and end is None else f.Period(start=start, end=end)


# -- facts to parts ------------------------------------------------------------------------------


def person_part(person: f.Person, la_code: str) -> PersonPart:
    """A person with this council's LA child id, the first NHS number and UPNs."""
    ids = person.identifiers
    local = next((i for i in ids if isinstance(i, LaChildId) and i.la_code == la_code), None)
    nhs = next((i for i in ids if isinstance(i, NhsNumber)), None)
    upn = next((i for i in ids if isinstance(i, Upn) and not i.former), None)
    former = next((i for i in ids if isinstance(i, Upn) and i.former), None)
    given, family = _name(person.name)
    return PersonPart(
        ref=person.id,
        la_child_id=local.value if local else None,
        nhs_number=nhs.value if nhs else None,
        nhs_number_verification=nhs.verification if nhs else None,
        upn=upn.value if upn else None,
        former_upn=former.value if former else None,
        given_names=given,
        surname=family,
        date_of_birth=person.birth_date,
        sex=_SEX.get(person.sex) if person.sex else None,
        ethnicity=_ETHNICITY.to_source(person.ethnicity) if person.ethnicity else None,
        postcode=person.postcode,
    )


def worker_contact_part(role: f.WorkerRole, worker: f.Worker | None) -> WorkerContactPart:
    """A worker role with its worker nested (a role names at most one worker)."""
    nested = None
    if worker is not None:
        given, family = _name(worker.name)
        nested = WorkerPart(
            ref=worker.id,
            given_names=given,
            surname=family,
            worker_id=worker.local_id,
            social_work_england_registration=worker.registration.value
            if worker.registration
            else None,
            professional_registration=worker.professional_registration,
            telecom=_contacts(worker.telecom),
        )
    return WorkerContactPart(
        ref=role.id,
        role=role.role,
        worker=nested,
        organisation=role.organisation,
        for_person=role.subject,
        team=role.team,
        telecom=_contacts(role.telecom),
        out_of_hours=_contacts(role.out_of_hours),
        start=role.period.start if role.period else None,
        end=role.period.end if role.period else None,
    )


def meeting_part(m: f.Meeting) -> MeetingPart:
    return MeetingPart(
        ref=m.id,
        reference=m.reference,
        kind=m.kind,
        subject=m.subject,
        start=m.start,
        end=m.end,
        status=m.status,
        location=m.location,
        participants=m.participants,
        responses=tuple(
            MeetingResponsePart(participant=r.participant, response=r.response) for r in m.responses
        ),
        target_date=m.target_date,
        after_target=None if m.target_date is None else m.start.date() > m.target_date,
    )


def referral_part(r: f.Referral) -> ReferralPart:
    return ReferralPart(
        ref=r.id,
        reference=r.reference,
        subject=r.subject,
        household=r.household,
        concerns=r.concerns,
        risks=r.risks,
        referrer=r.referrer,
        status=r.status,
        consent_given=r.consent_given,
        basis_without_consent=r.basis_without_consent,
    )


def risk_part(r: f.Risk) -> RiskPart:
    p = r.period
    return RiskPart(
        ref=r.id,
        subject=r.subject,
        summary=r.summary,
        category=r.category,
        start=p.start if p else None,
        end=p.end if p else None,
    )


@dataclass
class Parts:
    """A disclosure's facts sorted into a document's sections."""

    child: PersonPart | None = None
    people: list[PersonPart] = field(default_factory=list)
    relationships: list[RelationshipPart] = field(default_factory=list)
    organisations: list[OrganisationPart] = field(default_factory=list)
    worker_contacts: list[WorkerContactPart] = field(default_factory=list)
    meetings: list[MeetingPart] = field(default_factory=list)
    referrals: list[ReferralPart] = field(default_factory=list)
    risks: list[RiskPart] = field(default_factory=list)
    mental_health_episodes: list[MentalHealthEpisodePart] = field(default_factory=list)
    social_care_episodes: list[SocialCareEpisodePart] = field(default_factory=list)
    crisis_events: list[CrisisEventPart] = field(default_factory=list)
    diagnoses: list[DiagnosisPart] = field(default_factory=list)
    consents: list[ConsentPart] = field(default_factory=list)


def to_parts(facts: tuple[f.Fact, ...], la_code: str) -> Parts:
    """Every fact as a part; the first person with this council's LA child id is the child."""
    workers = {x.id: x for x in facts if isinstance(x, f.Worker)}
    out = Parts()
    for fact in facts:
        if isinstance(fact, f.Person):
            person = person_part(fact, la_code)
            if out.child is None and person.la_child_id is not None:
                out.child = person
            else:
                out.people.append(person)
        elif isinstance(fact, f.WorkerRole):
            worker = workers.get(fact.worker) if fact.worker else None
            out.worker_contacts.append(worker_contact_part(fact, worker))
        elif not isinstance(fact, f.Worker):  # a worker is carried inside the roles naming it
            section, part = _part(fact)
            getattr(out, section).append(part)
    return out


def _part(fact: f.Fact) -> tuple[str, NoticeModel]:
    """The section and part for a fact other than a person, worker or worker role."""
    match fact:
        case f.FamilyRelationship():
            return "relationships", RelationshipPart(
                ref=fact.id,
                person=fact.person,
                related_to=fact.related_to,
                relationship=_ROLE_WORDS[fact.role],
                parental_responsibility=fact.parental_responsibility,
                lives_with=fact.lives_with,
            )
        case f.Organisation():
            return "organisations", OrganisationPart(
                ref=fact.id,
                kind=fact.kind,
                ods_code=fact.ods_code,
                la_code=fact.la_code,
                name=fact.name,
                telecom=_contacts(fact.telecom),
            )
        case f.Meeting():
            return "meetings", meeting_part(fact)
        case f.Referral():
            return "referrals", referral_part(fact)
        case f.Risk():
            return "risks", risk_part(fact)
        case f.MentalHealthEpisode():
            p = fact.period
            return "mental_health_episodes", MentalHealthEpisodePart(
                ref=fact.id,
                subject=fact.subject,
                status=fact.status,
                start=p.start if p else None,
                end=p.end if p else None,
                organisation=fact.organisation,
                team=fact.team,
                care_coordinator=fact.care_coordinator,
            )
        case f.SocialCareEpisode():
            return "social_care_episodes", _episode_part(fact)
        case f.CrisisEvent():
            return "crisis_events", _crisis_part(fact)
        case f.Diagnosis():
            return "diagnoses", DiagnosisPart(
                ref=fact.id,
                subject=fact.subject,
                code_system=fact.code_system,
                code=fact.code,
                display=fact.display,
            )
        case f.Consent():
            p = fact.period
            return "consents", ConsentPart(
                ref=fact.id,
                subject=fact.subject,
                given_by=fact.given_by,
                decision=fact.decision,
                recipients=fact.recipients,
                purposes=fact.purposes,
                element_classes=fact.element_classes,
                sensitivities=tuple(sorted(fact.sensitivities)),
                start=p.start if p else None,
                end=p.end if p else None,
                recorded_at=fact.recorded_at,
            )
    raise TypeError("a person, worker or worker role has no section of its own")


def _crisis_part(fact: f.CrisisEvent) -> CrisisEventPart:
    status = fact.legal_status
    return CrisisEventPart(
        ref=fact.id,
        kind=fact.kind,
        subject=fact.subject,
        start=fact.period.start,
        end=fact.period.end,
        legal_status=None
        if status is None
        else LegalStatusPart(system=status.system, code=status.code, display=status.display),
        organisation=fact.organisation,
        location=fact.location,
        reason=fact.reason,
    )


def _episode_part(e: f.SocialCareEpisode) -> SocialCareEpisodePart:
    return SocialCareEpisodePart(
        ref=e.id,
        subject=e.subject,
        organisation=e.organisation,
        referral_date=e.referral_date,
        referral_source=e.referral_source,
        primary_need=e.primary_need,
        assessment_factors=e.assessment_factors,
        section_47=tuple(
            Section47Part(
                start_date=s.start,
                icpc_target_date=s.icpc_target_date,
                icpc_date=s.icpc_date,
                outcome=s.outcome,
            )
            for s in e.section47
        ),
        plans=tuple(
            PlanPart(kind=p.kind, start=p.period.start, end=p.period.end, category=p.category)
            for p in e.plans
        ),
        closure_date=e.closure_date,
        closure_reason=e.closure_reason,
        allocated_worker=e.allocated_worker,
    )


# -- parts to facts ------------------------------------------------------------------------------


def _person(p: PersonPart, la_code: str) -> f.Person:
    ids: list[PersonIdentifier] = []
    if p.la_child_id is not None:
        ids.append(LaChildId(la_code=la_code, value=p.la_child_id))
    if p.nhs_number is not None:
        ids.append(NhsNumber(value=p.nhs_number, verification=p.nhs_number_verification))
    if p.upn is not None:
        ids.append(Upn(value=p.upn))
    if p.former_upn is not None:
        ids.append(Upn(value=p.former_upn, former=True))
    return f.Person(
        id=p.ref,
        identifiers=tuple(ids),
        name=_human(p.given_names, p.surname),
        birth_date=p.date_of_birth,
        sex=_SEX_BACK[p.sex] if p.sex else None,
        ethnicity=ETHNICITY_TO_CANONICAL.get(p.ethnicity) if p.ethnicity else None,
        postcode=p.postcode,
    )


def _worker_contact(c: WorkerContactPart) -> list[f.Fact]:
    found: list[f.Fact] = []
    w = c.worker
    if w is not None:
        registration = w.social_work_england_registration
        found.append(
            f.Worker(
                id=w.ref,
                name=_human(w.given_names, w.surname),
                local_id=w.worker_id,
                registration=SweRegistration(value=registration) if registration else None,
                professional_registration=w.professional_registration,
                telecom=_points(w.telecom),
            )
        )
    found.append(
        f.WorkerRole(
            id=c.ref,
            role=c.role,
            worker=w.ref if w else None,
            organisation=c.organisation,
            subject=c.for_person,
            team=c.team,
            telecom=_points(c.telecom),
            out_of_hours=_points(c.out_of_hours),
            period=_optional_period(c.start, c.end),
        )
    )
    return found


def from_parts(document: Document) -> list[f.Fact]:
    """The facts a document's parts hold, with their refs as ids (a shared worker once)."""
    la_code = document.to.la_code
    facts: list[f.Fact] = []
    people = ([document.child] if document.child else []) + list(document.people)
    facts.extend(_person(p, la_code) for p in people)
    for r in document.relationships:
        facts.append(
            f.FamilyRelationship(
                id=r.ref,
                person=r.person,
                related_to=r.related_to,
                role=_WORD_ROLES[r.relationship],
                parental_responsibility=r.parental_responsibility,
                lives_with=r.lives_with,
            )
        )
    for o in document.organisations:
        facts.append(
            f.Organisation(
                id=o.ref,
                kind=o.kind,
                ods_code=o.ods_code,
                la_code=o.la_code,
                name=o.name,
                telecom=_points(o.telecom),
            )
        )
    seen: set[str] = set()
    for c in document.worker_contacts:
        for fact in _worker_contact(c):
            if fact.id not in seen:
                seen.add(fact.id)
                facts.append(fact)
    return facts + _content(document)


def _sections(document: Document, plural: str, single: str) -> list[object]:
    found = list(getattr(document, plural, ()))
    one = getattr(document, single, None)
    return [one, *found] if one is not None else found


def _content(document: Document) -> list[f.Fact]:
    facts: list[f.Fact] = []
    for m in _sections(document, "meetings", "meeting"):
        if isinstance(m, MeetingPart):
            facts.append(
                f.Meeting(
                    id=m.ref,
                    kind=m.kind,
                    subject=m.subject,
                    start=m.start,
                    end=m.end,
                    status=m.status,
                    participants=m.participants,
                    location=m.location,
                    reference=m.reference,
                    responses=tuple(
                        f.MeetingResponse(participant=r.participant, response=r.response)
                        for r in m.responses
                    ),
                    target_date=m.target_date,
                )
            )
    for r in _sections(document, "referrals", "referral"):
        if isinstance(r, ReferralPart):
            facts.append(
                f.Referral(
                    id=r.ref,
                    subject=r.subject,
                    household=r.household,
                    concerns=r.concerns,
                    risks=r.risks,
                    referrer=r.referrer,
                    status=r.status,
                    consent_given=r.consent_given,
                    basis_without_consent=r.basis_without_consent,
                    reference=r.reference,
                )
            )
    for k in getattr(document, "risks", ()):
        facts.append(
            f.Risk(
                id=k.ref,
                subject=k.subject,
                summary=k.summary,
                category=k.category,
                period=_optional_period(k.start, k.end),
            )
        )
    for e in getattr(document, "mental_health_episodes", ()):
        facts.append(
            f.MentalHealthEpisode(
                id=e.ref,
                subject=e.subject,
                status=e.status,
                period=_optional_period(e.start, e.end),
                organisation=e.organisation,
                team=e.team,
                care_coordinator=e.care_coordinator,
            )
        )
    for s in getattr(document, "social_care_episodes", ()):
        facts.append(
            f.SocialCareEpisode(
                id=s.ref,
                subject=s.subject,
                organisation=s.organisation,
                referral_date=s.referral_date,
                referral_source=s.referral_source,
                primary_need=s.primary_need,
                assessment_factors=s.assessment_factors,
                section47=tuple(
                    f.Section47(
                        start=x.start_date,
                        icpc_target_date=x.icpc_target_date,
                        icpc_date=x.icpc_date,
                        outcome=x.outcome,
                    )
                    for x in s.section_47
                ),
                plans=tuple(
                    f.Plan(
                        kind=p.kind,
                        period=f.Period(start=p.start, end=p.end),
                        category=p.category,
                    )
                    for p in s.plans
                ),
                closure_date=s.closure_date,
                closure_reason=s.closure_reason,
                allocated_worker=s.allocated_worker,
            )
        )
    for c in getattr(document, "crisis_events", ()):
        status = c.legal_status
        facts.append(
            f.CrisisEvent(
                id=c.ref,
                kind=c.kind,
                subject=c.subject,
                period=f.Period(start=c.start, end=c.end),
                legal_status=None
                if status is None
                else f.LegalStatus(system=status.system, code=status.code, display=status.display),
                organisation=c.organisation,
                location=c.location,
                reason=c.reason,
            )
        )
    for d in getattr(document, "diagnoses", ()):
        facts.append(
            f.Diagnosis(
                id=d.ref,
                subject=d.subject,
                code_system=d.code_system,
                code=d.code,
                display=d.display,
            )
        )
    for c in getattr(document, "consents", ()):
        facts.append(
            f.Consent(
                id=c.ref,
                subject=c.subject,
                given_by=c.given_by,
                decision=c.decision,
                recipients=c.recipients,
                purposes=c.purposes,
                element_classes=c.element_classes,
                sensitivities=frozenset(c.sensitivities),
                period=_optional_period(c.start, c.end),
                recorded_at=c.recorded_at,
            )
        )
    return facts
