"""A Disclosure as a FHIR R4 message Bundle, for the trust's system.

The MessageHeader (event = the disclosure's kind, reason = its purpose, focus = what the kind is
about) carries two local complex extensions: ``disclosure-basis`` (agreement, version, flow, lawful
basis) and one ``withheld-manifest`` per withheld element (``element``, ``reasonCode``, ``reason``,
``ask``), so the recipient learns what was not sent, why, and whom to ask.

Facts become resources, each read back by the parser to the same facts (what does not survive
is returned as a Loss, or is a documented normalisation in docs/mappings/fhir-r4.md):

* Person: Patient (the subject, and anyone not linked to the subject), RelatedPerson (a person
  linked to the subject by a FamilyRelationship, with the relationship coded);
* Organisation: Organization (ODS and DfE LA codes, the kind as a local type coding);
* Worker: Practitioner; WorkerRole: PractitionerRole, and, for a role that is for a person (an
  allocated social worker), a participant of that person's CareTeam;
* MentalHealthEpisode: EpisodeOfCare; CrisisEvent: Encounter; Diagnosis: Condition;
* Risk: Flag; SocialCareEpisode: one plan Flag per plan (plan kind, category, period, the council
  as author), plus, for CP plan started / ended, a Communication saying so to the addressee;
* Meeting: Appointment (participants' responses as their status; the location as a Location;
  the target date, with whether the meeting is after it, in the ``meeting-target`` extension);
* Referral: ServiceRequest, and a Task carrying its status once it is past "sent";
* Consent: Consent (privacy scope; one provision with actors, purposes, classes, labels, period).

Fact labels become ``meta.security``, field labels DS4P inline labels where the field has an
element to sit on (else they apply to the whole resource). Resource ids are UUIDv5 of the
disclosure id and fact id: the same disclosure renders the same bytes (a retried delivery is
byte-identical), and fact ids never become resource ids.
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
from schemas.codes import load
from schemas.disclosure import Disclosure
from schemas.facts import (
    Consent,
    ContactPoint,
    CrisisEvent,
    CrisisKind,
    Diagnosis,
    Fact,
    FamilyRelationship,
    HumanName,
    Meeting,
    MentalHealthEpisode,
    Organisation,
    Period,
    Person,
    PlanKind,
    Referral,
    ReferralStatus,
    Risk,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.identifiers import DFE_LA_CODE_SYSTEM, ODS_CODE_SYSTEM, SWE_REGISTRATION_SYSTEM
from schemas.labels import ACT_CODE_SYSTEM, LAWFUL_BASIS_SYSTEM, PURPOSE_SYSTEM, SecurityLabels
from schemas.message import MessageKind

_NAMESPACE = uuid.UUID("6f1d8c3e-2b7a-5e44-9c0d-4a5b6c7d8e9f")
_CLASSES: dict[CrisisKind, str] = {
    CrisisKind.CRISIS_TEAM_CONTACT: "FLD",
    CrisisKind.SELF_HARM_ATTENDANCE: "EMER",
    CrisisKind.MISSED_APPOINTMENT: "AMB",
}
# Field labels written inline on the element that carries the field; others go on the resource.
_INLINE = {"person": {"postcode"}, "crisis-event": {"location", "reason"}}
_ETHNICITY = load("ethnicity")
_TASK_STATUS: dict[ReferralStatus, str] = {
    ReferralStatus.SENT: "requested",
    ReferralStatus.RECEIVED: "received",
    ReferralStatus.ALLOCATED: "accepted",
    ReferralStatus.ASSESSMENT: "in-progress",
    ReferralStatus.SECTION_47: "in-progress",
    ReferralStatus.NO_FURTHER_ACTION: "completed",
}
_PLAN_NAMES: dict[PlanKind, str] = {
    PlanKind.CHILD_PROTECTION: "Child protection plan",
    PlanKind.CHILD_IN_NEED: "Child in need plan",
    PlanKind.LOOKED_AFTER: "Looked after child",
    PlanKind.UNBORN_CHILD_PROTECTION: "Unborn child protection plan",
}
# What each kind of message is about: the header's focus (else the subject Patient).
_FOCUS: dict[MessageKind, tuple[str, ...]] = {
    MessageKind.CRISIS_EVENT: ("Encounter",),
    MessageKind.REFERRAL: ("ServiceRequest",),
    MessageKind.REFERRAL_STATUS: ("Task",),
    MessageKind.MEETING_INVITATION: ("Appointment",),
    MessageKind.MEETING_REPLY: ("Appointment",),
    MessageKind.ICPC_SCHEDULED: ("Appointment",),
    MessageKind.CONSENT_DIRECTIVE: ("Consent",),
    MessageKind.CP_PLAN_STARTED: ("Flag",),
    MessageKind.CP_PLAN_ENDED: ("Flag",),
    MessageKind.CHILD_STATUS: ("Flag",),
    MessageKind.WORKER_CONTACT: ("CareTeam", "PractitionerRole"),
    MessageKind.ALLOCATED_WORKER_CHANGED: ("CareTeam", "PractitionerRole"),
    MessageKind.THINK_FAMILY: ("Flag",),  # the think-family flag on the parent's record
    MessageKind.REFERRAL_ESCALATION: ("ServiceRequest",),  # the referral not acknowledged
}
_EPISODE_FIELDS = (
    "referral_date",
    "referral_source",
    "primary_need",
    "assessment_factors",
    "section47",
    "closure_date",
    "closure_reason",
)


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


def _code_identifier(code: str) -> JsonObject:
    # A DfE LA code is three digits; every ODS code has a letter.
    system = DFE_LA_CODE_SYSTEM if code.isdigit() and len(code) == 3 else ODS_CODE_SYSTEM
    return {"system": system, "value": code}


def _sub(url: str, key: str, value: object) -> JsonObject:
    return {"url": url, key: value}


def _concept(system: str, code: str) -> JsonObject:
    return {"coding": [{"system": system, "code": code}]}


class _Renderer:
    """One rendering: assigns fullUrls, builds resources, collects losses."""

    def __init__(self, disclosure: Disclosure) -> None:
        self.d = disclosure
        self.facts: dict[str, Fact] = {f.id: f for f in disclosure.facts}
        self.losses: dict[str, Loss] = {}
        self.resources: list[tuple[str, JsonObject]] = []
        self.focus: list[str] = []
        self.care_teams: dict[str, list[JsonObject]] = {}  # subject id -> participants
        self.plan_flags: list[str] = []
        subject = self.facts.get(disclosure.subject) if disclosure.subject else None
        self.subject = subject if isinstance(subject, Person) else None
        coordinators = {
            (f.care_coordinator, f.subject)
            for f in disclosure.facts
            if isinstance(f, MentalHealthEpisode)
        }
        self.coordinators = {role for role, _ in coordinators if role is not None}
        self.links = [f for f in disclosure.facts if isinstance(f, FamilyRelationship)]
        # People rendered as RelatedPerson (linked to the subject): FHIR has no episode, event,
        # flag, meeting, referral, consent or care team about a RelatedPerson, only a Patient.
        self.related = {
            f.id
            for f in disclosure.facts
            if isinstance(f, Person) and f is not self.subject and self.relationships(f)
        }

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

    def add(self, fact: Fact, resource: JsonObject, key: str | None = None) -> str:
        key = key or fact.id
        resource["id"] = self.uid(key)
        labels = fact.labels
        inline = _INLINE.get(fact.fact, set())
        for item in fact.element_labels:
            if item.element not in inline:
                # SECURITY: a field label with no element to sit on applies to the whole resource.
                labels = merge(labels, item.labels)
        security = security_codings(labels)
        if security:
            resource["meta"] = {"security": security}
        url = f"urn:uuid:{self.uid(key)}"
        self.resources.append((url, resource))
        if resource["resourceType"] in _FOCUS.get(self.d.kind, ()):
            self.focus.append(url)
        return url

    def add_plain(self, key: str, resource: JsonObject) -> str:
        """A resource that is not a fact of its own (a CareTeam, a Location, a Task)."""
        resource["id"] = self.uid(key)
        url = f"urn:uuid:{self.uid(key)}"
        self.resources.append((url, resource))
        if resource["resourceType"] in _FOCUS.get(self.d.kind, ()):
            self.focus.append(url)
        return url

    def field_labels(self, fact: Fact, element: str) -> SecurityLabels | None:
        for item in fact.element_labels:
            if item.element == element:
                return item.labels
        return None

    def subject_ref(self, fact: Fact, person_id: str) -> JsonObject | None:
        """A Reference to the person a fact is about; a loss when that person was not sent."""
        found = self.ref(person_id, Person)
        if found is None:
            self.lose(fact.fact, f"a {fact.fact} cannot be sent without the person it is about")
        elif person_id in self.related:
            self.lose(
                fact.fact,
                f"a {fact.fact} about a related person of the subject: FHIR has it about a Patient",
            )
            return None
        return found

    # -- people and organisations --------------------------------------------------------------

    def person(self, person: Person) -> None:
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
            address: JsonObject = {"use": "home", "postalCode": person.postcode}
            labels = self.field_labels(person, "postcode")
            if labels is not None and inline_labels(labels):
                address["extension"] = inline_labels(labels)
            resource["address"] = [address]
        if person.ethnicity is not None:
            self.ethnicity(person.ethnicity, resource)
        relationship = self.relationships(person)
        if not relationship or self.subject is None:
            self.add(person, {"resourceType": "Patient", **resource})
            return
        related: JsonObject = {"resourceType": "RelatedPerson", **resource}
        related["patient"] = {"reference": self.url(self.subject.id)}
        related["relationship"] = relationship
        self.add(person, related)

    def ethnicity(self, code: str, resource: JsonObject) -> None:
        target = _ETHNICITY.to_target(code)
        if target is None:
            self.lose("person.ethnicity", "not a DfE ethnicity code UK Core has a category for")
            return
        if _ETHNICITY.to_source(target) != code:
            self.lose(
                "person.ethnicity",
                "UK Core has no category of its own for this DfE code: the broader one is sent",
            )
        coding = {"system": codes.ETHNIC_CATEGORY_SYSTEM, "code": target}
        resource["extension"] = [
            {"url": codes.ETHNIC_CATEGORY_EXTENSION, "valueCodeableConcept": {"coding": [coding]}}
        ]

    def relationships(self, person: Person) -> list[JsonObject]:
        """The codings of ``person``'s relationships to the subject (empty: not related)."""
        if self.subject is None or person is self.subject:
            return []
        ends = {person.id, self.subject.id}
        found: list[JsonObject] = []
        for link in self.links:
            if {link.person, link.related_to} != ends:
                continue
            coding = self.relationship_coding(person, link)
            if coding is not None:
                found.append({"coding": [{"system": coding[0], "code": coding[1]}]})
        return found

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

    def check_link(self, link: FamilyRelationship) -> None:
        """A relationship is carried on a RelatedPerson only if it involves the subject."""
        ends = {link.person, link.related_to}
        if self.subject is None or self.subject.id not in ends or not ends <= self.facts.keys():
            self.lose("family-relationship", "only relationships to the subject can be carried")
        for field in ("parental_responsibility", "lives_with"):
            if getattr(link, field) is not None:
                self.lose(f"family-relationship.{field}", "RelatedPerson has no element for it")

    def organisation(self, organisation: Organisation) -> None:
        resource: JsonObject = {
            "resourceType": "Organization",
            "type": [_concept(codes.ORGANISATION_KIND_SYSTEM, organisation.kind.value)],
        }
        identifiers = []
        if organisation.ods_code is not None:
            identifiers.append({"system": ODS_CODE_SYSTEM, "value": organisation.ods_code})
        if organisation.la_code is not None:
            identifiers.append({"system": DFE_LA_CODE_SYSTEM, "value": organisation.la_code})
        if identifiers:
            resource["identifier"] = identifiers
        if organisation.name is not None:
            resource["name"] = organisation.name
        if organisation.telecom:
            resource["telecom"] = telecom_json(organisation.telecom)
        self.add(organisation, resource)

    # -- workers -------------------------------------------------------------------------------

    def worker(self, worker: Worker) -> None:
        resource: JsonObject = {"resourceType": "Practitioner"}
        identifiers: list[JsonObject] = []
        if worker.registration is not None:
            identifiers.append(
                {"system": SWE_REGISTRATION_SYSTEM, "value": worker.registration.value}
            )
        if worker.local_id is not None:
            identifiers.append({"system": codes.WORKER_LOCAL_ID_SYSTEM, "value": worker.local_id})
        if identifiers:
            resource["identifier"] = identifiers
        if worker.name is not None:
            resource["name"] = [_name(worker.name)]
        if worker.telecom:
            resource["telecom"] = telecom_json(worker.telecom)
        if worker.professional_registration is not None:
            self.lose(
                "worker.professional_registration",
                "the canonical model does not say which register it is on",
            )
        self.add(worker, resource)

    def worker_role(self, role: WorkerRole) -> None:
        resource: JsonObject = {
            "resourceType": "PractitionerRole",
            "code": [_concept(codes.WORKER_ROLE_SYSTEM, role.role.value)],
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
            out_of_hours = tuple(
                ContactPoint(system=c.system, value=c.value, out_of_hours=True)
                for c in role.out_of_hours
            )
            resource["telecom"] = telecom_json((*role.telecom, *out_of_hours))
        if role.period is not None:
            resource["period"] = _period(role.period)
        url = self.add(role, resource)
        if role.subject is None or role.id in self.coordinators:
            return
        if self.ref(role.subject, Person) is None:
            self.lose("worker-role.subject", "the person the role is for was not sent")
            return
        if role.subject in self.related:
            self.lose(
                "worker-role.subject",
                "a care team is for a Patient, not a related person of the subject",
            )
            return
        self.care_teams.setdefault(role.subject, []).append(
            {
                "role": [_concept(codes.WORKER_ROLE_SYSTEM, role.role.value)],
                "member": {"reference": url},
            }
        )

    def care_team_resources(self) -> None:
        for subject, participants in self.care_teams.items():
            self.add_plain(
                f"care-team|{subject}",
                {
                    "resourceType": "CareTeam",
                    "status": "active",
                    "subject": {"reference": self.url(subject)},
                    "participant": participants,
                },
            )

    # -- health --------------------------------------------------------------------------------

    def episode(self, episode: MentalHealthEpisode) -> None:
        patient = self.subject_ref(episode, episode.subject)
        if patient is None:
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
        subject = self.subject_ref(event, event.subject)
        if subject is None:
            return
        resource: JsonObject = {
            "resourceType": "Encounter",
            "status": self.encounter_status(event),
            "class": {
                "system": codes.V3_ACT_CODE,
                "code": _CLASSES.get(event.kind, "IMP"),
            },
            "type": [_concept(codes.CRISIS_KIND_SYSTEM, event.kind.value)],
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
                            "valueCodeableConcept": _concept(CONTEXT_SYSTEM, context),
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
            if labels is not None and inline_labels(labels):
                location["extension"] = inline_labels(labels)
            resource["location"] = [location]
        if event.reason is not None:
            reason: JsonObject = {"text": event.reason}
            labels = self.field_labels(event, "reason")
            if labels is not None and inline_labels(labels):
                reason["extension"] = inline_labels(labels)
            resource["reasonCode"] = [reason]
        self.add(event, resource)

    @staticmethod
    def encounter_status(event: CrisisEvent) -> str:
        if event.kind is CrisisKind.MISSED_APPOINTMENT:
            return "cancelled"
        return "finished" if event.period.end is not None else "in-progress"

    def diagnosis(self, diagnosis: Diagnosis) -> None:
        subject = self.subject_ref(diagnosis, diagnosis.subject)
        if subject is None:
            return
        coding: JsonObject = {"system": diagnosis.code_system, "code": diagnosis.code}
        if diagnosis.display is not None:
            coding["display"] = diagnosis.display
        self.add(
            diagnosis,
            {"resourceType": "Condition", "code": {"coding": [coding]}, "subject": subject},
        )

    # -- social care ---------------------------------------------------------------------------

    def risk(self, risk: Risk) -> None:
        subject = self.subject_ref(risk, risk.subject)
        if subject is None:
            return
        ended = risk.period is not None and risk.period.end is not None
        resource: JsonObject = {
            "resourceType": "Flag",
            "status": "inactive" if ended else "active",
            "code": {"text": risk.summary},
            "subject": subject,
        }
        if risk.category is not None:
            resource["category"] = [{"text": risk.category}]
        if risk.period is not None:
            resource["period"] = _period(risk.period)
        self.add(risk, resource)

    def social_care_episode(self, episode: SocialCareEpisode) -> None:
        for field in _EPISODE_FIELDS:
            if getattr(episode, field) not in (None, ()):
                self.lose(
                    f"social-care-episode.{field}",
                    "the FHIR plan flags carry the plans, the child and the council only",
                )
        if not episode.plans:
            self.lose("social-care-episode", "an episode without a plan has no FHIR plan flag")
            return
        subject = self.subject_ref(episode, episode.subject)
        if subject is None:
            return
        author = self.ref(episode.organisation, Organisation)
        for i, plan in enumerate(episode.plans):
            code: JsonObject = {
                "coding": [
                    {
                        "system": codes.PLAN_KIND_SYSTEM,
                        "code": plan.kind.value,
                        "display": _PLAN_NAMES[plan.kind],
                    }
                ]
            }
            if plan.category is not None:
                code["coding"].append(  # type: ignore[attr-defined]
                    {"system": codes.ABUSE_CATEGORY_SYSTEM, "code": plan.category.value}
                )
            resource: JsonObject = {
                "resourceType": "Flag",
                "status": "inactive" if plan.period.end is not None else "active",
                "code": code,
                "subject": subject,
            }
            if plan.period.start is not None or plan.period.end is not None:
                resource["period"] = _period(plan.period)
            if author is not None:
                resource["author"] = author
            self.plan_flags.append(self.add(episode, resource, f"{episode.id}|plan|{i}"))

    def plan_notice(self) -> None:
        """CP plan started / ended: a Communication to the addressee about the plan flags."""
        if self.d.kind not in (MessageKind.CP_PLAN_STARTED, MessageKind.CP_PLAN_ENDED):
            return
        episodes = [f for f in self.d.facts if isinstance(f, SocialCareEpisode) and f.plans]
        if not episodes or not self.plan_flags:
            return
        lines = []
        for episode in episodes:
            for plan in episode.plans:
                name = _PLAN_NAMES[plan.kind]
                if self.d.kind is MessageKind.CP_PLAN_ENDED and plan.period.end is not None:
                    lines.append(f"{name} ended on {_when(plan.period.end)}.")
                elif plan.period.start is not None:
                    lines.append(f"{name} started on {_when(plan.period.start)}.")
        recipient = self.ref(self.d.recipient.worker_role, WorkerRole) or {
            "identifier": _code_identifier(self.d.recipient.organisation)
        }
        resource: JsonObject = {
            "resourceType": "Communication",
            "status": "completed",
            "subject": {"reference": self.url(episodes[0].subject)},
            "about": [{"reference": url} for url in self.plan_flags],
            "sent": _when(self.d.created_at),
            "recipient": [recipient],
            "sender": self.sender(),
            "payload": [{"contentString": " ".join(lines) or "Plan status changed."}],
        }
        self.add_plain("plan-notice", resource)

    def icpc_notice(self) -> None:
        """ICPC scheduled (no Appointment: the council gives a date, not a time): a
        Communication to the addressee with the date, the target and whether it is after it."""
        if self.d.kind is not MessageKind.ICPC_SCHEDULED:
            return
        episodes = [f for f in self.d.facts if isinstance(f, SocialCareEpisode)]
        enquiries = [s for e in episodes for s in e.section47 if s.icpc_date is not None]
        if not enquiries:
            return
        enquiry = enquiries[-1]
        icpc = enquiry.icpc_date
        if icpc is None:
            return
        lines = [f"Initial child protection conference set for {_when(icpc)}."]
        resource: JsonObject = {"resourceType": "Communication", "status": "completed"}
        target = enquiry.icpc_target_date
        if target is not None:
            late = icpc > target
            lines.append(
                f"Its target date is {_when(target)}"
                + (": it is set after its target." if late else ".")
            )
            parts = [
                _sub("targetDate", "valueDate", _when(target)),
                _sub("afterTarget", "valueBoolean", late),
            ]
            resource["extension"] = [{"url": codes.MEETING_TARGET_EXTENSION, "extension": parts}]
        recipient = self.ref(self.d.recipient.worker_role, WorkerRole) or {
            "identifier": _code_identifier(self.d.recipient.organisation)
        }
        resource.update(
            {
                "subject": {"reference": self.url(episodes[0].subject)},
                "sent": _when(self.d.created_at),
                "recipient": [recipient],
                "sender": self.sender(),
                "payload": [{"contentString": " ".join(lines)}],
            }
        )
        self.add_plain("icpc-notice", resource)

    def meeting(self, meeting: Meeting) -> None:
        subject = self.subject_ref(meeting, meeting.subject)
        if subject is None:
            return
        responses = {r.participant: r.response for r in meeting.responses}
        participants: list[JsonObject] = [
            {"actor": subject, "required": "information-only", "status": "needs-action"}
        ]
        for role_id in meeting.participants:
            actor = self.ref(role_id, WorkerRole)
            if actor is None:
                self.lose("meeting.participants", "a participant whose role was not sent")
                continue
            participants.append(
                {
                    "actor": actor,
                    "required": "required",
                    "status": responses.get(role_id, "needs-action"),
                }
            )
        if meeting.location is not None:
            location = self.add_plain(
                f"{meeting.id}|location", {"resourceType": "Location", "name": meeting.location}
            )
            participants.append(
                {"actor": {"reference": location}, "required": "required", "status": "accepted"}
            )
        resource: JsonObject = {
            "resourceType": "Appointment",
            "status": meeting.status,
            "appointmentType": _concept(codes.MEETING_KIND_SYSTEM, meeting.kind.value),
            "start": _when(meeting.start),
            "participant": participants,
        }
        if meeting.end is not None:
            resource["end"] = _when(meeting.end)
        if meeting.reference is not None:
            resource["identifier"] = [
                {"system": codes.MEETING_REFERENCE_SYSTEM, "value": meeting.reference}
            ]
        if meeting.target_date is not None:
            # The target both sides know (an ICPC's 15 working days), and whether it is missed.
            late = meeting.start.date() > meeting.target_date
            parts = [
                _sub("targetDate", "valueDate", _when(meeting.target_date)),
                _sub("afterTarget", "valueBoolean", late),
            ]
            resource["extension"] = [{"url": codes.MEETING_TARGET_EXTENSION, "extension": parts}]
        self.add(meeting, resource)

    def referral(self, referral: Referral) -> None:
        subject = self.subject_ref(referral, referral.subject)
        if subject is None:
            return
        resource: JsonObject = {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "category": [_concept(codes.REFERRAL_CATEGORY_SYSTEM, codes.REFERRAL_CATEGORY)],
            "subject": subject,
        }
        if referral.concerns:
            resource["note"] = [{"text": referral.concerns}]
        supporting = [
            found
            for found in (
                *(self.ref(p, Person) for p in referral.household),
                *(self.ref(r, Risk) for r in referral.risks),
            )
            if found is not None
        ]
        if len(supporting) < len(referral.household) + len(referral.risks):
            self.lose("referral.household", "a household member or risk that was not sent")
        if supporting:
            resource["supportingInfo"] = supporting
        requester = self.ref(referral.referrer, WorkerRole)
        if requester is not None:
            resource["requester"] = requester
        if referral.reference is not None:
            resource["identifier"] = [
                {"system": codes.REFERRAL_REFERENCE_SYSTEM, "value": referral.reference}
            ]
        parts: list[JsonObject] = []
        if referral.consent_given is not None:
            parts.append(_sub("consentGiven", "valueBoolean", referral.consent_given))
        if referral.basis_without_consent is not None:
            parts.append(_sub("basisWithoutConsent", "valueString", referral.basis_without_consent))
        if parts:
            resource["extension"] = [{"url": codes.REFERRAL_CONSENT_EXTENSION, "extension": parts}]
        url = self.add(referral, resource)
        if (
            referral.status is ReferralStatus.SENT
            and self.d.kind is not MessageKind.REFERRAL_STATUS
        ):
            return
        self.add_plain(
            f"{referral.id}|task",
            {
                "resourceType": "Task",
                "status": _TASK_STATUS[referral.status],
                "intent": "order",
                "businessStatus": _concept(codes.REFERRAL_STATUS_SYSTEM, referral.status.value),
                "focus": {"reference": url},
                "for": subject,
            },
        )

    def consent(self, consent: Consent) -> None:
        subject = self.subject_ref(consent, consent.subject)
        if subject is None:
            return
        provision: JsonObject = {"type": consent.decision}
        if consent.period is not None:
            provision["period"] = _period(consent.period)
        if consent.recipients:
            recipient_role = _concept(codes.V3_PARTICIPATION_TYPE, "IRCP")
            provision["actor"] = [
                {"role": recipient_role, "reference": {"identifier": _code_identifier(code)}}
                for code in consent.recipients
            ]
        if consent.purposes:
            provision["purpose"] = [
                {"system": PURPOSE_SYSTEM, "code": p.value} for p in consent.purposes
            ]
        if consent.element_classes:
            provision["class"] = [
                {"system": codes.ELEMENT_CLASS_SYSTEM, "code": c} for c in consent.element_classes
            ]
        if consent.sensitivities:
            provision["securityLabel"] = [
                {"system": ACT_CODE_SYSTEM, "code": s.value} for s in sorted(consent.sensitivities)
            ]
        self.add(
            consent,
            {
                "resourceType": "Consent",
                "extension": [
                    _sub(codes.CONSENT_GIVEN_BY_EXTENSION, "valueCode", consent.given_by.value)
                ],
                "status": "active",
                "scope": _concept(codes.CONSENT_SCOPE, "patient-privacy"),
                "category": [_concept(codes.V3_ACT_CODE, "IDSCL")],
                "patient": subject,
                "dateTime": _when(consent.recorded_at),
                "provision": provision,
            },
        )

    # -- the message ---------------------------------------------------------------------------

    def facts_to_resources(self) -> None:
        for link in self.links:
            self.check_link(link)
        if self.subject is not None:
            self.person(self.subject)
        renderers = {
            Organisation: self.organisation,
            Worker: self.worker,
            WorkerRole: self.worker_role,
            MentalHealthEpisode: self.episode,
            CrisisEvent: self.crisis,
            Diagnosis: self.diagnosis,
            Risk: self.risk,
            SocialCareEpisode: self.social_care_episode,
            Meeting: self.meeting,
            Referral: self.referral,
            Consent: self.consent,
        }
        for fact in self.d.facts:
            if isinstance(fact, Person):
                if fact is not self.subject:
                    self.person(fact)
            elif not isinstance(fact, FamilyRelationship):
                renderers[type(fact)](fact)  # type: ignore[operator]
        self.care_team_resources()
        self.plan_notice()
        self.icpc_notice()

    def sender(self) -> JsonObject:
        d = self.d
        return next(
            (
                {"reference": self.url(f.id)}
                for f in d.facts
                if isinstance(f, Organisation) and d.sender_organisation in (f.ods_code, f.la_code)
            ),
            {"identifier": _code_identifier(d.sender_organisation)},
        )

    def header(self) -> JsonObject:
        d = self.d
        receiver = self.ref(d.recipient.worker_role, WorkerRole) or {
            "identifier": _code_identifier(d.recipient.organisation)
        }
        focus = list(self.focus)
        if not focus and self.subject is not None:
            focus = [self.url(self.subject.id)]
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
            "sender": self.sender(),
            "source": {"endpoint": f"{codes.PARTNER_ENDPOINT_PREFIX}{d.sender_partner}"},
            "reason": {"coding": [{"system": PURPOSE_SYSTEM, "code": d.purpose.value}]},
        }
        if focus:
            header["focus"] = [{"reference": url} for url in focus]
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
