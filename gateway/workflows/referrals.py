"""Referral to the council's front door, acknowledgements back, escalation when none comes.

The practitioners in the study did not know which form to use for a referral, nor whether it had
arrived. Here a trust's structured referral (a FHIR ``referral`` message: a ServiceRequest with
concerns, risks, household, referrer and consent) is addressed to the council's **front door**,
and the council's ``referral-status`` messages (received, allocated, an outcome) go back to the
referrer. What the gateway keeps of it is one ``referrals`` row per referral it carried: codes,
the referrer's reference and contact, surrogate person ids and times, never the concerns.

``resolve_referral`` (in the pipeline's resolve stage, in a reader thread):

1. checks what a referral must carry, naming each missing element (422): concerns, the child,
   the referrer with a way to reach them, the consent status (or the basis for referring without
   consent) and the referrer's reference;
2. finds the child: the referral's subject if a child, else the first child in its household,
   else the subject's one child in the index;
3. finds the council: the one whose LA child id the message quotes for the child, else, among
   the councils the sender's agreements have a ``referral`` flow to, the one the index holds the
   child's LA child id, allocated social worker or social care episode for, else the only one;
4. addresses the council's front door from the directory, or the council itself when the
   directory has no front door for it (a referral is never lost for want of a directory entry);
5. refuses, as a recorded decision, a referral made without consent that names no basis for it
   (DPA 2018 Sch 1 para 18, or an urgent override): nothing is sent and nothing is tracked.

The row is written in the exchange's own unit, and only if the referral was permitted to the
front door. ``resolve_referral_status`` matches an acknowledgement to its referral by the
referrer's reference **and** the acknowledging council (an unknown reference and another
council's referral answer the same 404), refuses a status that moves backwards (409), and
addresses the referrer. The escalation timer is ``gateway.workflows.escalation``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from gateway import directory, index
from gateway.errors import Conflict, InvalidMessage, Issue, NotFound
from gateway.index import IndexedRole
from gateway.policy.engine import Decision, Outcome, decide
from gateway.recipients import Candidate
from gateway.store.tables import referrals, social_care_episodes
from gateway.workcal import WorkingCalendar
from schemas.facts import (
    FamilyRelationship,
    Organisation,
    OrganisationKind,
    Person,
    Referral,
    ReferralStatus,
    RelationshipRole,
    RoleKind,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId
from schemas.labels import Dpa2018Condition
from schemas.message import CanonicalMessage, MessageKind

if TYPE_CHECKING:
    from gateway.pipeline import Exchange
    from gateway.services import Services

# How far a referral has got. A status may repeat or move forward, never back: received, then
# allocated, then an outcome; an assessment may still lead to a section 47 enquiry or to no
# further action, and those two may follow each other.
STATUS_RANK: dict[ReferralStatus, int] = {
    ReferralStatus.SENT: 0,
    ReferralStatus.RECEIVED: 1,
    ReferralStatus.ALLOCATED: 2,
    ReferralStatus.ASSESSMENT: 3,
    ReferralStatus.SECTION_47: 4,
    ReferralStatus.NO_FURTHER_ACTION: 4,
}
CONSENT_NOT_GIVEN = "consent-not-given"
MAX_REFERENCE = 255  # referrals.reference
_PARENT_ROLES = frozenset(RelationshipRole) - {RelationshipRole.CHILD, RelationshipRole.OTHER}
_NOT_FOUND = "no referral with this reference was made to this organisation through the gateway"


def _invalid(*issues: Issue) -> InvalidMessage:
    return InvalidMessage(list(issues), status=422)


def the_referral(message: CanonicalMessage) -> Referral:
    """The one Referral fact of a referral or referral-status message (else 422)."""
    found = [f for f in message.facts if isinstance(f, Referral)]
    if len(found) != 1:
        raise _invalid(
            Issue("referral", "a referral message carries exactly one referral", "structure")
        )
    return found[0]


def _referrer_facts(
    message: CanonicalMessage, referral: Referral
) -> tuple[WorkerRole, Worker | None, Organisation | None] | None:
    role = message.fact(referral.referrer) if referral.referrer else None
    if not isinstance(role, WorkerRole):
        return None
    worker = message.fact(role.worker) if role.worker else None
    org = message.fact(role.organisation) if role.organisation else None
    return (
        role,
        worker if isinstance(worker, Worker) else None,
        org if isinstance(org, Organisation) else None,
    )


def _required(message: CanonicalMessage, referral: Referral) -> list[Issue]:
    """What a referral must carry; each missing element named (FHIR names in brackets)."""
    issues: list[Issue] = []
    if not referral.concerns.strip():
        issues.append(
            Issue(
                "referral.concerns",
                "is required: the concerns, in words (FHIR: ServiceRequest.note)",
                "required",
            )
        )
    referrer = _referrer_facts(message, referral)
    reachable = referrer is not None and bool(
        referrer[0].telecom
        or referrer[0].out_of_hours
        or (referrer[1] is not None and referrer[1].telecom)
    )
    if not reachable:
        issues.append(
            Issue(
                "referral.referrer",
                "is required: the referrer's role with a telephone number or email to reach them"
                " (FHIR: ServiceRequest.requester, a PractitionerRole with telecom)",
                "required",
            )
        )
    if referral.consent_given is None and referral.basis_without_consent is None:
        issues.append(
            Issue(
                "referral.consent_given",
                "is required: whether consent to the referral was given, or the basis for "
                "referring without it (FHIR: the referral-consent extension)",
                "required",
            )
        )
    elif referral.consent_given is not True and not (referral.basis_without_consent or "").strip():
        issues.append(
            Issue(
                "referral.basis_without_consent",
                "is required when consent was not given: why the referral is made without it "
                "(FHIR: referral-consent extension, basisWithoutConsent)",
                "required",
            )
        )
    if referral.reference is not None and len(referral.reference) > MAX_REFERENCE:
        issues.append(
            Issue("referral.reference", f"is longer than {MAX_REFERENCE} characters", "too-long")
        )
    if referral.reference is None:
        issues.append(
            Issue(
                "referral.reference",
                "is required: the referrer's own reference, which the council's "
                "acknowledgements quote (FHIR: ServiceRequest.identifier, referral-reference)",
                "required",
            )
        )
    return issues


def _under_18(person: Person, at: datetime) -> bool:
    born = person.birth_date
    if born is None:
        return False
    day = at.date()
    return (day.year - born.year - ((day.month, day.day) < (born.month, born.day))) < 18


@dataclass(frozen=True, slots=True)
class _Child:
    fact_id: str | None  # the child's Person fact in the message, if it names the child
    person_id: str  # the child's id in the index, "" if not indexed yet
    la_codes: tuple[str, ...]  # councils whose LA child id the message quotes for the child


def _is_child(ex: Exchange, person: Person, parent_fact: str | None) -> bool:
    message, snapshot = ex.parsed, ex.snapshot
    if _under_18(person, ex.received_at) or any(
        isinstance(i, LaChildId) for i in person.identifiers
    ):
        return True
    for link in message.facts:
        if not isinstance(link, FamilyRelationship):
            continue
        if link.person == person.id and link.role is RelationshipRole.CHILD:
            return True
        if link.related_to == person.id and link.role in _PARENT_ROLES:
            return parent_fact is None or link.person == parent_fact
    person_id = ex.known.get(person.id)
    return bool(person_id and snapshot and any(child == person_id for _, child in snapshot.links))


def _child_of(p: Person, ex: Exchange) -> _Child:
    return _Child(
        p.id,
        ex.known.get(p.id, ""),
        tuple(dict.fromkeys(i.la_code for i in p.identifiers if isinstance(i, LaChildId))),
    )


def find_child(ex: Exchange, referral: Referral) -> _Child:
    """The child the referral is about (else 422 naming what to add)."""
    message = ex.parsed
    persons = {f.id: f for f in message.facts if isinstance(f, Person)}
    subject = persons.get(referral.subject)
    found: _Child | None = None
    if subject is not None and _is_child(ex, subject, None):
        found = _child_of(subject, ex)
    else:
        for member in referral.household:
            person = persons.get(member)
            if person is not None and _is_child(ex, person, referral.subject):
                found = _child_of(person, ex)
                break
    if found is None:
        subject_id = ex.known.get(referral.subject)
        indexed = ex.snapshot.children_of(subject_id) if subject_id and ex.snapshot else []
        if len(indexed) == 1:
            found = _Child(None, indexed[0], ())
    if found is None:
        raise _invalid(
            Issue(
                "referral.household",
                "names no child: the referral's subject must be a child, or its household "
                "must hold the child (with a date of birth or a relationship to the subject; "
                "FHIR: ServiceRequest.supportingInfo, a RelatedPerson or Patient)",
                "required",
            )
        )
    child_fact = persons.get(found.fact_id) if found.fact_id else None
    if not found.person_id and child_fact is not None and not child_fact.identifiers:
        raise _invalid(
            Issue(
                "referral.household",
                "the child is not known to the gateway and carries no identifier: give the "
                "child's NHS number, LA child id or UPN",
                "required",
            )
        )
    return found


def _index_councils(conn: Connection, ex: Exchange, child_id: str) -> list[str]:
    """Councils the index links the child to: its LA child ids, allocated social workers and
    social care episodes, in that order."""
    snapshot = ex.snapshot
    found: list[str] = []
    keys = (
        snapshot.identifiers.get(child_id, [])
        if snapshot
        else index.identifiers_of(conn, [child_id]).get(child_id, [])
    )
    for key in keys:
        identifier = index.identifier_from_key(key)
        if isinstance(identifier, LaChildId):
            found.append(identifier.la_code)
    if snapshot is not None:
        found.extend(
            r.organisation for r in snapshot.roles_of(child_id, RoleKind.ALLOCATED_SOCIAL_WORKER)
        )
    rows = conn.execute(
        select(social_care_episodes.c.organisation).where(
            social_care_episodes.c.person_id == child_id
        )
    )
    found.extend(str(r[0]) for r in rows)
    return list(dict.fromkeys(found))


def choose_council(conn: Connection, ex: Exchange, services: Services, child: _Child) -> str:
    """The council to refer to (else 422 naming what is missing)."""
    # SECURITY: one wording whether the councils come from the index or the agreements, so the
    # answer does not say whether the child is known to children's social care anywhere.
    ambiguous = Issue(
        "referral.household",
        "more than one council could receive this referral: quote the child's LA child id at "
        "the council to refer to (FHIR: the RelatedPerson's or Patient's la-child-id identifier)",
        "invalid",
    )
    if len(child.la_codes) > 1:
        raise _invalid(ambiguous)
    if child.la_codes:
        return child.la_codes[0]
    sender = ex.parsed.provenance.organisation
    flows = list(
        dict.fromkeys(
            flow.to
            for agreement in services.agreements
            for flow in agreement.flows
            if flow.from_ == sender and MessageKind.REFERRAL in flow.message_kinds
        )
    )
    if child.person_id:
        # SECURITY: the index only chooses among the councils the sender may refer to, so a
        # refusal never reveals that another council knows the child.
        known = [c for c in _index_councils(conn, ex, child.person_id) if c in flows]
        if len(known) > 1:
            raise _invalid(ambiguous)
        if known:
            return known[0]
    if len(flows) != 1:
        raise _invalid(ambiguous)
    return flows[0]


def organisation_role(organisation: str, role: RoleKind, at: datetime) -> IndexedRole:
    """An organisation itself as the addressee, in ``role``, when the directory names nobody."""
    council = len(organisation) == 3 and organisation.isdigit()
    org = Organisation(
        id=f"{role.value}-organisation",
        kind=OrganisationKind.LOCAL_AUTHORITY if council else OrganisationKind.OTHER,
        la_code=organisation if council else None,
        ods_code=None if council else organisation,
    )
    fact = WorkerRole(id=role.value, role=role, organisation=org.id)
    return IndexedRole(
        person_id="",
        role=role.value,
        organisation=organisation,
        partner="gateway",
        updated_at=at,
        details=directory.details_json((fact, org)),
    )


def directory_roles(
    conn: Connection, organisation: str, roles: tuple[RoleKind, ...], at: datetime
) -> list[IndexedRole]:
    """Everyone the directory holds in the first of ``roles`` it has anyone in (then the next
    roles too, where ``roles`` lists several to tell); the organisation itself in the first role
    when the directory holds none."""
    found = [
        r for role in roles for r in directory.roles_for_organisation(conn, organisation, role)
    ]
    return found or [organisation_role(organisation, roles[0], at)]


def _without_consent(message: CanonicalMessage) -> bool:
    """Whether the message names a ground for sharing without consent."""
    request = message.request
    if request is None:
        return False
    basis = request.lawful_basis
    return request.override is not None or (
        basis is not None and basis.dpa2018 is Dpa2018Condition.SAFEGUARDING
    )


def _consent_refusal(ex: Exchange, services: Services, council: str) -> Decision:
    """The decision for a referral made without consent and without a ground to share without
    it: refused, under the flow the engine finds (so the refusal names it)."""
    message = ex.parsed
    if message.purpose is None:
        return Decision(
            Outcome.REFUSE,
            "purpose-missing",
            "The message names no purpose of use; nothing is disclosed without one.",
        )
    decision = decide(
        services.agreements,
        sender=message.provenance.organisation,
        recipient=council,
        kind=message.kind,
        purpose=message.purpose,
    )
    if not decision.permitted:
        return decision
    return replace(
        decision,
        outcome=Outcome.REFUSE,
        reason_code=CONSENT_NOT_GIVEN,
        explanation="The referral says consent was not given, and the message names no ground "
        "for referring without it (DPA 2018 Sch 1 para 18 with the age band and why consent was "
        "not sought, or an urgent override where the flow allows one): nothing was sent.",
    )


def stored_role(facts: tuple[WorkerRole, Worker | None, Organisation | None]) -> str:
    """The referrer's role as stored: no longer tied to a person of the referral message."""
    role, worker, org = facts
    role = role.model_copy(update={"subject": None})
    return directory.details_json(tuple(f for f in (role, worker, org) if f is not None))


def resolve_referral(ex: Exchange, conn: Connection, services: Services) -> None:
    """Find the front door a referral goes to, and keep the referral if it is sent there."""
    from gateway.pipeline import Routed  # noqa: PLC0415 - the pipeline imports this package

    message = ex.parsed
    referral = the_referral(message)
    issues = _required(message, referral)
    if issues:
        raise _invalid(*issues)
    child = find_child(ex, referral)
    council = choose_council(conn, ex, services, child)
    sender = message.provenance.organisation
    reference = referral.reference or ""
    if _existing(conn, council, reference, sender) is not None:
        raise Conflict(
            "a referral with this reference was already made to this council: use a new "
            "reference for a new referral"
        )
    now = services.clock()
    front_door = directory_roles(conn, council, (RoleKind.FRONT_DOOR,), now)[0]
    keys = ex.snapshot.identifiers.get(child.person_id, []) if ex.snapshot else []
    candidate = Candidate(
        council, child.person_id, tuple(keys), front_door, child_fact_id=child.fact_id
    )
    if referral.consent_given is not True and not _without_consent(message):
        connected = services.settings.partner_for_organisation(council)
        refusal = _consent_refusal(ex, services, council)
        ex.routed.append(Routed(candidate, refusal, partner=connected.id if connected else None))
    else:
        ex.candidates.append(candidate)
    referrer = _referrer_facts(message, referral)
    if referrer is None:  # checked by _required
        raise RuntimeError("a referral's referrer was checked")
    calendar = WorkingCalendar(services.settings.workflows.working_hours)
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "exchange_id": ex.exchange_id,
        "reference": reference,
        "referrer_organisation": sender,
        "referrer_partner": ex.partner.id,
        "referrer_role": stored_role(referrer),
        "front_door_organisation": council,
        "status": ReferralStatus.SENT.value,
        "sent_at": now,
        "ack_deadline": calendar.add_working_hours(
            now, services.settings.workflows.referral_ack_working_hours
        ),
        "acknowledged_at": None,
        "status_at": now,
        "escalated_at": None,
    }
    ex.writes.append(_record(ex, row, referral.subject, child))


def _person(ex: Exchange, fact_id: str | None) -> str | None:
    if fact_id is None:
        return None
    return ex.learnt.person_ids.get(fact_id) or ex.known.get(fact_id)


def _record(
    ex: Exchange, row: dict[str, Any], subject: str, child: _Child
) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        # SECURITY: only a referral the front door was sent is tracked (acknowledged, escalated);
        # a refused one leaves its decision in the ledger and nothing else.
        if not any(r.disclosure is not None and r.derived is None for r in ex.routed):
            return
        if _existing(
            conn, row["front_door_organisation"], row["reference"], row["referrer_organisation"]
        ):
            raise Conflict("a referral with this reference was already made to this council")
        values = dict(row)
        values["subject_person_id"] = _person(ex, subject)
        values["child_person_id"] = child.person_id or _person(ex, child.fact_id)
        conn.execute(insert(referrals).values(**values))

    return write


def _existing(conn: Connection, council: str, reference: str, referrer: str) -> str | None:
    found = conn.execute(
        select(referrals.c.id).where(
            referrals.c.front_door_organisation == council,
            referrals.c.reference == reference,
            referrals.c.referrer_organisation == referrer,
        )
    ).scalar_one_or_none()
    return str(found) if found is not None else None


def resolve_referral_status(ex: Exchange, conn: Connection, services: Services) -> None:
    """Find the referrer an acknowledgement goes back to, and move the referral on."""
    message = ex.parsed
    ack = the_referral(message)
    if ack.reference is None:
        raise _invalid(
            Issue(
                "referral.reference",
                "is required: the referrer's reference of the referral acknowledged",
                "required",
            )
        )
    sender = message.provenance.organisation
    # SECURITY: matched on the acknowledging council as well as the reference: another council's
    # referral answers exactly as an unknown one does (no existence oracle).
    rows = conn.execute(
        select(referrals).where(
            referrals.c.reference == ack.reference,
            referrals.c.front_door_organisation == sender,
        )
    ).all()
    if len(rows) > 1:
        people = {ex.known.get(f.id) for f in message.facts if isinstance(f, Person)} - {None}
        rows = [r for r in rows if {r.child_person_id, r.subject_person_id} & people]
        if len(rows) > 1:
            raise Conflict(
                "more than one referral to this organisation has this reference: name the child"
                " with an identifier the referral gave"
            )
    if not rows:
        raise NotFound(_NOT_FOUND)
    row = rows[0]
    current = ReferralStatus(row.status)
    if STATUS_RANK[ack.status] < STATUS_RANK[current] or ack.status is ReferralStatus.SENT:
        raise Conflict(
            f"the referral's status is already {current.value}: a status moves forward only "
            "(received, allocated, then an outcome: assessment, section-47 or no-further-action)"
        )
    child_id = str(row.child_person_id or "")
    keys = index.identifiers_of(conn, [child_id]).get(child_id, []) if child_id else []
    referrer = IndexedRole(
        person_id="",
        role=_role_of(str(row.referrer_role)),
        organisation=str(row.referrer_organisation),
        partner=str(row.referrer_partner),
        updated_at=row.status_at,
        details=str(row.referrer_role),
    )
    ex.candidates.append(Candidate(str(row.referrer_organisation), child_id, tuple(keys), referrer))
    ex.writes.append(_advance(str(row.id), ack.status, services.clock()))


def _role_of(details: str) -> str:
    probe = IndexedRole("", "", "", "", datetime.min, details)
    return probe.role_fact.role.value


def _advance(
    referral_id: str, status: ReferralStatus, at: datetime
) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        row = conn.execute(
            select(referrals.c.status, referrals.c.acknowledged_at).where(
                referrals.c.id == referral_id
            )
        ).one()
        if STATUS_RANK[status] < STATUS_RANK[ReferralStatus(row.status)]:
            # Another acknowledgement moved it on in between: nothing of this one is applied.
            raise Conflict(f"the referral's status is already {row.status}")
        values: dict[str, Any] = {"status": status.value, "status_at": at}
        if row.acknowledged_at is None:
            values["acknowledged_at"] = at
        conn.execute(update(referrals).where(referrals.c.id == referral_id).values(**values))

    return write
