"""A Disclosure as a FHIR R4 message Bundle.

The MessageHeader (event = the disclosure's kind, reason = its purpose) carries two local complex
extensions: ``disclosure-basis`` (agreement, version, flow, lawful basis) and one
``withheld-manifest`` per withheld element (``element``, ``reasonCode``, ``reason``, ``ask``), so
the recipient learns what was not sent, why, and whom to ask. Facts become Patient (the subject),
RelatedPerson (everyone else, with the relationship to the subject), Organization, Practitioner,
PractitionerRole, EpisodeOfCare, Encounter and Condition; fact labels become ``meta.security``,
field labels DS4P inline labels. Anything FHIR cannot carry here is returned as a Loss.

Resource ids are UUIDv5 of the disclosure id and fact id: the same disclosure renders the same
bytes (a retried delivery is byte-identical), and fact ids never become resource ids.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from adapters.base import Loss
from adapters.fhir_r4 import codes, relationships
from adapters.fhir_r4.identifiers import identifier_json
from adapters.fhir_r4.legal_status import CONTEXT_SYSTEM, LEGAL_STATUS_EXTENSION
from adapters.fhir_r4.security import inline_labels, merge, security_codings
from adapters.fhir_r4.telecom import telecom_json
from adapters.fhir_r4.walk import JsonObject
from schemas.disclosure import Disclosure
from schemas.facts import (
    CrisisEvent,
    CrisisKind,
    Diagnosis,
    Fact,
    FamilyRelationship,
    HumanName,
    MentalHealthEpisode,
    Organisation,
    Period,
    Person,
    Worker,
    WorkerRole,
)
from schemas.identifiers import DFE_LA_CODE_SYSTEM, ODS_CODE_SYSTEM, SWE_REGISTRATION_SYSTEM
from schemas.labels import LAWFUL_BASIS_SYSTEM, PURPOSE_SYSTEM, SecurityLabels

_NAMESPACE = uuid.UUID("6f1d8c3e-2b7a-5e44-9c0d-4a5b6c7d8e9f")
_CLASSES: dict[CrisisKind, str] = {
    CrisisKind.CRISIS_TEAM_CONTACT: "FLD",
    CrisisKind.SELF_HARM_ATTENDANCE: "EMER",
    CrisisKind.MISSED_APPOINTMENT: "AMB",
}
# Field labels written inline on the element that carries the field; others go on the resource.
_INLINE = {"person": {"postcode"}, "crisis-event": {"location", "reason"}}


def _when(value: datetime | date) -> str:
    return value.isoformat()


def _period(period: Period) -> JsonObject:
    rendered: JsonObject = {}
    if period.start is not None:
        rendered["start"] = _when(period.start)
    if period.end is not None:
        rendered["end"] = _when(period.end)
    return rendered


def _name(name: HumanName) -> JsonObject:
    rendered: JsonObject = {"use": "usual"}
    if name.family is not None:
        rendered["family"] = name.family
    if name.given:
        rendered["given"] = list(name.given)
    return rendered


def _organisation_identifier(code: str) -> JsonObject:
    # A DfE LA code is three digits; every ODS code has a letter.
    system = DFE_LA_CODE_SYSTEM if code.isdigit() and len(code) == 3 else ODS_CODE_SYSTEM
    return {"system": system, "value": code}


def _sub(url: str, key: str, value: object) -> JsonObject:
    return {"url": url, key: value}


class _Renderer:
    """One rendering: assigns fullUrls, builds resources, collects losses."""

    def __init__(self, disclosure: Disclosure) -> None:
        self.d = disclosure
        self.facts: dict[str, Fact] = {f.id: f for f in disclosure.facts}
        self.losses: dict[str, Loss] = {}
        self.resources: list[tuple[str, JsonObject]] = []
        subject = self.facts.get(disclosure.subject) if disclosure.subject else None
        self.subject = subject if isinstance(subject, Person) else None
        coordinators = {
            f.care_coordinator for f in disclosure.facts if isinstance(f, MentalHealthEpisode)
        }
        self.coordinators = coordinators - {None}

    def uid(self, key: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.d.disclosure_id}|{key}"))

    def url(self, fact_id: str) -> str:
        return f"urn:uuid:{self.uid(fact_id)}"

    def ref(self, fact_id: str | None, *types: type[Fact]) -> JsonObject | None:
        """A Reference to a fact rendered as a resource, or None if it was not disclosed."""
        fact = self.facts.get(fact_id) if fact_id is not None else None
        if fact is None or not isinstance(fact, types):
            return None
        return {"reference": self.url(fact.id)}

    def lose(self, element: str, reason: str) -> None:
        self.losses.setdefault(element, Loss(element, reason))

    def add(self, fact: Fact, resource: JsonObject) -> None:
        resource["id"] = self.uid(fact.id)
        labels = fact.labels
        inline = _INLINE.get(fact.fact, set())
        for item in fact.element_labels:
            if item.element not in inline:
                # SECURITY: a field label with no element to sit on applies to the whole resource.
                labels = merge(labels, item.labels)
        security = security_codings(labels)
        if security:
            resource["meta"] = {"security": security}
        self.resources.append((self.url(fact.id), resource))

    def field_labels(self, fact: Fact, element: str) -> SecurityLabels | None:
        for item in fact.element_labels:
            if item.element == element:
                return item.labels
        return None

    # -- facts ---------------------------------------------------------------------------------

    def person(self, person: Person, links: list[FamilyRelationship]) -> None:
        resource: JsonObject = {}
        if person.identifiers:
            resource["identifier"] = [identifier_json(i) for i in person.identifiers]
        if person.name is not None:
            resource["name"] = [_name(person.name)]
        if person.sex is not None:
            resource["gender"] = person.sex.value
        if person.birth_date is not None:
            resource["birthDate"] = person.birth_date.isoformat()
        if person.postcode is not None:
            address: JsonObject = {"postalCode": person.postcode}
            labels = self.field_labels(person, "postcode")
            if labels is not None:
                address["extension"] = inline_labels(labels)
            resource["address"] = [address]
        if person.ethnicity is not None:
            self.lose("person.ethnicity", "the FHIR rendering does not carry ethnic category")
        if self.subject is None or person is self.subject:
            self.add(person, {"resourceType": "Patient", **resource})
            return
        relationship = []
        for link in links:
            coding = self.relationship_coding(person, link)
            if coding is not None:
                relationship.append({"coding": [{"system": coding[0], "code": coding[1]}]})
        related: JsonObject = {"resourceType": "RelatedPerson", **resource}
        related["patient"] = {"reference": self.url(self.subject.id)}
        if relationship:
            related["relationship"] = relationship
        self.add(person, related)

    def relationship_coding(
        self, person: Person, link: FamilyRelationship
    ) -> tuple[str, str] | None:
        """The coding for ``person``'s relationship to the subject stated by ``link``."""
        if link.person == person.id:  # person is <role> of the subject
            return relationships.coding_for_role(link.role)
        coding = relationships.coding_for_child_of(link.role)  # the subject is <role> of person
        if coding is None:
            self.lose(
                "family-relationship.role", "v3-RoleCode has no inverse for a guardian or other"
            )
        return coding

    def organisation(self, organisation: Organisation) -> None:
        resource: JsonObject = {"resourceType": "Organization"}
        code = organisation.ods_code or organisation.la_code
        if code is not None:
            resource["identifier"] = [_organisation_identifier(code)]
        if organisation.name is not None:
            resource["name"] = organisation.name
        if organisation.telecom:
            resource["telecom"] = telecom_json(organisation.telecom)
        self.add(organisation, resource)

    def worker(self, worker: Worker) -> None:
        resource: JsonObject = {"resourceType": "Practitioner"}
        if worker.registration is not None:
            resource["identifier"] = [
                {"system": SWE_REGISTRATION_SYSTEM, "value": worker.registration.value}
            ]
        if worker.name is not None:
            resource["name"] = [_name(worker.name)]
        if worker.telecom:
            resource["telecom"] = telecom_json(worker.telecom)
        for field in ("local_id", "professional_registration"):
            if getattr(worker, field) is not None:
                self.lose(f"worker.{field}", "FHIR has no identifier system for it")
        self.add(worker, resource)

    def worker_role(self, role: WorkerRole) -> None:
        resource: JsonObject = {
            "resourceType": "PractitionerRole",
            "code": [{"coding": [{"system": codes.WORKER_ROLE_SYSTEM, "code": role.role.value}]}],
        }
        practitioner = self.ref(role.worker, Worker)
        if practitioner is not None:
            resource["practitioner"] = practitioner
        organization = self.ref(role.organisation, Organisation)
        if organization is not None:
            resource["organization"] = organization
        if role.team is not None:
            resource["healthcareService"] = [{"display": role.team}]
        if role.telecom or role.out_of_hours:
            resource["telecom"] = telecom_json((*role.telecom, *role.out_of_hours))
        if role.period is not None:
            resource["period"] = _period(role.period)
        if role.subject is not None and role.id not in self.coordinators:
            self.lose("worker-role.subject", "PractitionerRole has no element for the person")
        self.add(role, resource)

    def episode(self, episode: MentalHealthEpisode) -> None:
        patient = self.ref(episode.subject, Person)
        if patient is None:
            self.lose("mental-health-episode", "an EpisodeOfCare needs its patient")
            return
        resource: JsonObject = {
            "resourceType": "EpisodeOfCare",
            "status": episode.status.value,
            "patient": patient,
        }
        organization = self.ref(episode.organisation, Organisation)
        if organization is not None:
            resource["managingOrganization"] = organization
        if episode.period is not None:
            resource["period"] = _period(episode.period)
        manager = self.ref(episode.care_coordinator, WorkerRole)
        if manager is not None:
            resource["careManager"] = manager
        if episode.team is not None:
            resource["team"] = [{"display": episode.team}]
        self.add(episode, resource)

    def crisis(self, event: CrisisEvent) -> None:
        subject = self.ref(event.subject, Person)
        if subject is None:
            self.lose("crisis-event", "an Encounter needs its subject")
            return
        resource: JsonObject = {
            "resourceType": "Encounter",
            "status": self.encounter_status(event),
            "class": {
                "system": codes.V3_ACT_CODE,
                "code": _CLASSES.get(event.kind, "IMP"),
            },
            "type": [{"coding": [{"system": codes.CRISIS_KIND_SYSTEM, "code": event.kind.value}]}],
            "subject": subject,
            "period": _period(event.period),
        }
        if event.legal_status is not None:
            status = event.legal_status
            context = "discharge" if event.kind is CrisisKind.DISCHARGE else "admission"
            classification: JsonObject = {"system": status.system, "code": status.code}
            if status.display is not None:
                classification["display"] = status.display
            resource["extension"] = [
                {
                    "url": LEGAL_STATUS_EXTENSION,
                    "extension": [
                        {
                            "url": "legalStatusContext",
                            "valueCodeableConcept": {
                                "coding": [{"system": CONTEXT_SYSTEM, "code": context}]
                            },
                        },
                        {
                            "url": "legalStatusClassification",
                            "valueCodeableConcept": {"coding": [classification]},
                        },
                    ],
                }
            ]
        provider = self.ref(event.organisation, Organisation)
        if provider is not None:
            resource["serviceProvider"] = provider
        if event.location is not None:
            location: JsonObject = {"location": {"display": event.location}}
            labels = self.field_labels(event, "location")
            if labels is not None:
                location["extension"] = inline_labels(labels)
            resource["location"] = [location]
        if event.reason is not None:
            reason: JsonObject = {"text": event.reason}
            labels = self.field_labels(event, "reason")
            if labels is not None:
                reason["extension"] = inline_labels(labels)
            resource["reasonCode"] = [reason]
        self.add(event, resource)

    @staticmethod
    def encounter_status(event: CrisisEvent) -> str:
        if event.kind is CrisisKind.MISSED_APPOINTMENT:
            return "cancelled"
        return "finished" if event.period.end is not None else "in-progress"

    def diagnosis(self, diagnosis: Diagnosis) -> None:
        subject = self.ref(diagnosis.subject, Person)
        if subject is None:
            self.lose("diagnosis", "a Condition needs its subject")
            return
        coding: JsonObject = {"system": diagnosis.code_system, "code": diagnosis.code}
        if diagnosis.display is not None:
            coding["display"] = diagnosis.display
        self.add(
            diagnosis,
            {"resourceType": "Condition", "code": {"coding": [coding]}, "subject": subject},
        )

    # -- the message ---------------------------------------------------------------------------

    def facts_to_resources(self) -> None:
        links = [f for f in self.d.facts if isinstance(f, FamilyRelationship)]
        for link in links:
            self.check_link(link)
        subject = self.subject
        if subject is not None:
            self.person(subject, [])
        for fact in self.d.facts:
            if isinstance(fact, Person):
                if fact is not subject:
                    ends = {fact.id, subject.id} if subject is not None else set()
                    self.person(fact, [k for k in links if {k.person, k.related_to} == ends])
            elif isinstance(fact, Organisation):
                self.organisation(fact)
            elif isinstance(fact, Worker):
                self.worker(fact)
            elif isinstance(fact, WorkerRole):
                self.worker_role(fact)
            elif isinstance(fact, MentalHealthEpisode):
                self.episode(fact)
            elif isinstance(fact, CrisisEvent):
                self.crisis(fact)
            elif isinstance(fact, Diagnosis):
                self.diagnosis(fact)
            elif not isinstance(fact, FamilyRelationship):
                self.lose(fact.fact, f"the FHIR message rendering does not carry {fact.fact} facts")

    def check_link(self, link: FamilyRelationship) -> None:
        """A relationship is carried on a RelatedPerson only if it involves the subject."""
        ends = {link.person, link.related_to}
        if self.subject is None or self.subject.id not in ends or not ends <= self.facts.keys():
            self.lose("family-relationship", "only relationships to the subject can be carried")
        for field in ("parental_responsibility", "lives_with"):
            if getattr(link, field) is not None:
                self.lose(f"family-relationship.{field}", "RelatedPerson has no element for it")

    def header(self) -> JsonObject:
        d = self.d
        sender = next(
            (
                {"reference": self.url(f.id)}
                for f in d.facts
                if isinstance(f, Organisation) and d.sender_organisation in (f.ods_code, f.la_code)
            ),
            {"identifier": _organisation_identifier(d.sender_organisation)},
        )
        receiver = self.ref(d.recipient.worker_role, WorkerRole) or {
            "identifier": _organisation_identifier(d.recipient.organisation)
        }
        focus = next((self.url(f.id) for f in d.facts if isinstance(f, CrisisEvent)), None)
        if focus is None and self.subject is not None:
            focus = self.url(self.subject.id)
        header: JsonObject = {
            "resourceType": "MessageHeader",
            "id": self.uid("message-header"),
            "extension": [self.basis(), *(self.withheld(i) for i in range(len(d.withheld)))],
            "eventCoding": {"system": codes.MESSAGE_EVENT_SYSTEM, "code": d.kind.value},
            "destination": [
                {
                    "endpoint": f"{codes.PARTNER_ENDPOINT_PREFIX}{d.recipient.partner}",
                    "receiver": receiver,
                }
            ],
            "sender": sender,
            "source": {"endpoint": f"{codes.PARTNER_ENDPOINT_PREFIX}{d.sender_partner}"},
            "reason": {"coding": [{"system": PURPOSE_SYSTEM, "code": d.purpose.value}]},
        }
        if focus is not None:
            header["focus"] = [{"reference": focus}]
        return header

    def basis(self) -> JsonObject:
        d, url = self.d, codes.DISCLOSURE_BASIS_EXTENSION
        basis = d.lawful_basis
        parts = [
            _sub("agreement", "valueString", d.agreement_id),
            _sub("agreementVersion", "valueInteger", d.agreement_version),
            _sub("flow", "valueString", d.flow_id),
            _sub("lawfulBasis", "valueCoding", {"system": LAWFUL_BASIS_SYSTEM, "code": basis.code}),
        ]
        if basis.statutory_gateway is not None:
            parts.append(_sub("statutoryGateway", "valueString", basis.statutory_gateway))
        if basis.age_band is not None:
            parts.append(_sub("ageBand", "valueCode", basis.age_band.value))
        if basis.no_consent_reason is not None:
            parts.append(_sub("noConsentReason", "valueCode", basis.no_consent_reason.value))
        return {"url": url, "extension": parts}

    def withheld(self, index: int) -> JsonObject:
        item = self.d.withheld[index]
        parts = [
            _sub("element", "valueString", item.element),
            _sub("reasonCode", "valueCode", item.reason_code.value),
            _sub("reason", "valueString", item.reason),
        ]
        if item.ask is not None:
            parts.append(_sub("ask", "valueString", item.ask))
        return {"url": codes.WITHHELD_EXTENSION, "extension": parts}

    def bundle(self) -> JsonObject:
        self.facts_to_resources()
        d = self.d
        bundle: JsonObject = {
            "resourceType": "Bundle",
            "id": self.uid("bundle"),
            "identifier": {"system": codes.DISCLOSURE_IDENTIFIER_SYSTEM, "value": d.disclosure_id},
            "type": "message",
            "timestamp": _when(d.created_at),
            "entry": [
                {"fullUrl": f"urn:uuid:{self.uid('message-header')}", "resource": self.header()},
                *({"fullUrl": url, "resource": r} for url, r in self.resources),
            ],
        }
        security = security_codings(SecurityLabels(obligations=d.obligations))
        if security:
            bundle["meta"] = {"security": security}
        return bundle


def render_bundle(disclosure: Disclosure) -> tuple[JsonObject, tuple[Loss, ...]]:
    """The disclosure as a FHIR message Bundle, and what FHIR could not carry of it."""
    renderer = _Renderer(disclosure)
    bundle = renderer.bundle()
    return bundle, tuple(renderer.losses.values())
