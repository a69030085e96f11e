"""Canonical facts from CSC models: the pieces every CSC message maps the same way.

Fact ids are built from positions and fixed names (``person-child``, ``worker-role-1-1``), never
from record ids, which travel inside disclosures. What a message says that the canonical model
cannot carry is listed in ``CanonicalMessage.unmapped``, by JSON path and reason, never by value.

The envelope's ``sharing_request`` becomes ``CanonicalMessage.request`` exactly as the FHIR
adapter reads its sharing-request extension, so the policy treats both formats alike.

Third parties: a person a message names who is neither the child nor, by what the message says,
one of the child's parents or carers (a ``family[]`` member or an invited trust worker's person
whose ``relationship`` is ``other``, or an invitee whose relationship is not given) is a third
party to the safeguarding purpose, as the FHIR adapter's related people who are not the subject's
child are: the Person fact is labelled ``3RDPARTY`` so that policy can protect their identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from adapters.csc.common import CscModel, Envelope, OutOfHours
from adapters.csc.common import SharingRequest as RequestIn
from adapters.csc.common import Worker as WorkerIn
from adapters.csc.vocabulary import PARENT_OR_CARER, SEX_TO_CANONICAL, FamilyWord
from schemas.facts import (
    ContactPoint,
    Fact,
    HumanName,
    Organisation,
    OrganisationKind,
    Period,
    Person,
    RoleKind,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId, NhsNumber, PersonIdentifier, SweRegistration, Upn
from schemas.labels import LawfulBasis, SecurityLabels, Sensitivity
from schemas.message import CanonicalMessage, MessageKind, Unmapped
from schemas.provenance import Provenance
from schemas.request import Override, SharingRequest, Withhold

SOURCE_FORMAT = "csc"
CHILD = "person-child"
COUNCIL = "organisation-la"

NOT_CARRIED = "the canonical model has no element for it"
RECORD_ID = "council record ids are not carried: the child is identified by la_child_id"
PURGED = "purged: the canonical model carries no deletions"
CP_LATEST = "the canonical plan carries one category: the initial one"
REPLY_COMMENT = "the canonical meeting response has no comment"
_REASONS = {"postcode": "placement addresses are not carried (the minimum necessary)"}
THIRD_PARTY = SecurityLabels(sensitivity=frozenset({Sensitivity.THIRDPARTY}))
NOT_THIRD_PARTY = SecurityLabels()


def family_labels(relationship: FamilyWord | None) -> SecurityLabels:
    """The labels of a person the message links to the child: ``3RDPARTY`` unless the message
    says they are the child's parent or carer."""
    return NOT_THIRD_PARTY if relationship in PARENT_OR_CARER else THIRD_PARTY


def sharing_request(given: RequestIn | None) -> SharingRequest | None:
    """The canonical request, built as the FHIR adapter builds it from its extension."""
    if given is None:
        return None
    basis = None
    if given.lawful_basis is not None:
        basis = LawfulBasis.from_code(given.lawful_basis).model_copy(
            update={"age_band": given.age_band, "no_consent_reason": given.no_consent_reason}
        )
    override = given.override
    withhold = given.withhold
    return SharingRequest(
        lawful_basis=basis,
        override=None
        if override is None
        else Override(
            reason_code=override.reason,
            justification=override.justification,
            approver=override.approver,
        ),
        withhold=None
        if withhold is None
        else Withhold(
            by=withhold.by, more_detrimental_judgement=withhold.more_detrimental_judgement
        ),
    )


class Builder:
    """The facts of one message, and what of it the canonical model could not carry."""

    def __init__(self, envelope: Envelope, partner: str, received_at: datetime) -> None:
        self.envelope = envelope
        self.partner = partner
        self.received_at = received_at
        self.facts: list[Fact] = []
        self.unmapped: list[Unmapped] = []

    def add(self, *facts: Fact) -> None:
        self.facts.extend(facts)

    def not_carried(self, element: str, reason: str = NOT_CARRIED) -> None:
        self.unmapped.append(Unmapped(element=element, reason=reason))

    def rest(self, model: CscModel, path: str, carried: Iterable[str] = ()) -> None:
        """Report every field ``model`` holds that the mapping did not carry."""
        done = {"message_type", *carried}
        for name in type(model).model_fields:
            value = getattr(model, name)
            if name in done or value is None or value == () or (name == "purge" and not value):
                continue
            reason = RECORD_ID if name.endswith("_id") else _REASONS.get(name, NOT_CARRIED)
            self.not_carried(f"{path}.{name}", reason)

    def message(self, kind: MessageKind, subject: str | None = CHILD) -> CanonicalMessage:
        e = self.envelope
        return CanonicalMessage(
            message_id=e.message_id,
            kind=kind,
            subject=subject,
            facts=tuple(self.facts),
            provenance=Provenance(
                organisation=e.la_code,
                system=self.partner,
                source_format=SOURCE_FORMAT,
                source_message_id=e.message_id,
                received_at=self.received_at,
            ),
            sent_at=e.sent_at,
            unmapped=tuple(self.unmapped),
            purpose=e.purpose,
            request=sharing_request(e.sharing_request),
        )


def name(first: str | None, last: str | None) -> HumanName | None:
    if first is None and last is None:
        return None
    return HumanName(given=(first,) if first else (), family=last)


def split_name(full: str | None) -> HumanName | None:
    """A worker's name is one string: the last word is taken as the family name."""
    if full is None:
        return None
    *given, family = full.split()
    return HumanName(given=tuple(given), family=family)


def child(
    envelope: Envelope,
    *,
    first_name: str | None = None,
    surname: str | None = None,
    birth_date: date | None = None,
    sex: str | None = None,
    nhs_number: str | None = None,
    upn: str | None = None,
    former_upn: str | None = None,
    ethnicity: str | None = None,
    postcode: str | None = None,
) -> Person:
    """The child: the council's LA child id (namespaced by its LA code), then NHS number, UPNs."""
    identifiers: list[PersonIdentifier] = [
        LaChildId(la_code=envelope.la_code, value=envelope.la_child_id)
    ]
    if nhs_number is not None:
        identifiers.append(NhsNumber(value=nhs_number))
    if upn is not None:
        identifiers.append(Upn(value=upn))
    if former_upn is not None:
        identifiers.append(Upn(value=former_upn, former=True))
    return Person(
        id=CHILD,
        identifiers=tuple(identifiers),
        name=name(first_name, surname),
        birth_date=birth_date,
        sex=SEX_TO_CANONICAL[sex] if sex else None,
        ethnicity=ethnicity,
        postcode=postcode,
    )


def out_of_hours(line: OutOfHours | None) -> tuple[ContactPoint, ...]:
    if line is None:
        return ()
    contacts = [ContactPoint(system="phone", value=line.phone, out_of_hours=True)]
    if line.email is not None:
        contacts.append(ContactPoint(system="email", value=line.email, out_of_hours=True))
    return tuple(contacts)


def council(envelope: Envelope, line: OutOfHours | None = None) -> Organisation:
    return Organisation(
        id=COUNCIL,
        kind=OrganisationKind.LOCAL_AUTHORITY,
        la_code=envelope.la_code,
        telecom=out_of_hours(line),
    )


def contacts(phone: str | None, email: str | None) -> tuple[ContactPoint, ...]:
    found = []
    if phone is not None:
        found.append(ContactPoint(system="phone", value=phone))
    if email is not None:
        found.append(ContactPoint(system="email", value=email))
    return tuple(found)


def worker_in_role(
    entry: WorkerIn,
    suffix: str,
    role: RoleKind,
    *,
    period: Period | None,
    line: OutOfHours | None = None,
    subject: str | None = CHILD,
) -> tuple[Worker, WorkerRole]:
    """A council worker (``worker_id``, name, registration, contacts) in a role for the child."""
    telecom = contacts(entry.phone, entry.email)
    registration = entry.social_worker_registration_no
    worker = Worker(
        id=f"worker-{suffix}",
        name=split_name(entry.worker_name),
        local_id=entry.worker_id,
        registration=SweRegistration(value=registration) if registration else None,
        telecom=telecom,
    )
    held = WorkerRole(
        id=f"worker-role-{suffix}",
        role=role,
        worker=worker.id,
        organisation=COUNCIL,
        subject=subject,
        team=entry.team,
        telecom=telecom,
        out_of_hours=out_of_hours(line),
        period=period,
    )
    return worker, held
