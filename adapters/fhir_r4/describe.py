"""The FHIR adapter's mapping table, for the docs and for loss reports."""

from __future__ import annotations

from adapters.base import MappingRow

_E = "Bundle.entry[0].resource"  # the MessageHeader

MAPPING: tuple[MappingRow, ...] = (
    MappingRow("Bundle.id (else MessageHeader.id)", "message.message_id"),
    MappingRow("Bundle.timestamp", "message.sent_at"),
    MappingRow(
        f"{_E}.eventCoding",
        "message.kind",
        "local system .../CodeSystem/message-event: crisis-event",
    ),
    MappingRow(f"{_E}.reason.coding", "message.purpose", "local system .../CodeSystem/purpose"),
    MappingRow(
        f"{_E}.sender", "provenance.organisation + organisation", "ODS code, by reference or id"
    ),
    MappingRow(f"{_E}.focus", "crisis-event", "exactly one Encounter; its subject is the subject"),
    MappingRow("Patient", "person (the subject: the parent)", "NHS number required, check digit"),
    MappingRow(
        "Patient.identifier:nhs-number.extension:NHSNumberVerificationStatus",
        "person.identifiers[nhs-number].verification",
        "UKCore-NHSNumberVerificationStatusEngland or the older URL without England",
    ),
    MappingRow("Patient.name (usual, else official)", "person.name"),
    MappingRow("Patient.birthDate / gender", "person.birth_date / sex", "full dates only"),
    MappingRow("Patient.meta.security", "person.labels", "U/L/M read as N"),
    MappingRow("Patient.address, telecom, contact", "(not mapped)", "not needed by any flow yet"),
    MappingRow(
        "RelatedPerson (child role)",
        "person (child) + family-relationship(person=parent, related_to=child)",
        "role from the code (STPCHLD, CHLDFOST) or the parent's gender: MTH, FTH, PRN",
    ),
    MappingRow(
        "RelatedPerson (other role)",
        "person (3RDPARTY) + family-relationship(person=related, related_to=parent)",
        "v3-RoleCode, UK Core and PDS relationship roles, v2-0131",
    ),
    MappingRow(
        "identifier system .../Id/la-child-id, value LLL/ID",
        "person.identifiers[la-child-id]",
        "DfE LA code, a slash, the council's child id",
    ),
    MappingRow("identifier system .../Id/upn (use old = former)", "person.identifiers[upn]"),
    MappingRow(
        "Encounter.type (crisis-event-kind) / legal status / class",
        "crisis-event.kind",
        "stated kind, else detaining status = detention, else IMP/ACUTE/NONAC = admission",
    ),
    MappingRow(
        "Encounter.extension:Extension-UKCore-LegalStatus.legalStatusClassification",
        "crisis-event.legal_status",
        "complex extension; England or Wales codes; required for a detention",
    ),
    MappingRow("Encounter.period", "crisis-event.period", "start required"),
    MappingRow("Encounter.serviceProvider", "crisis-event.organisation"),
    MappingRow("Encounter.location[0] (Location.name)", "crisis-event.location", "labelled PATLOC"),
    MappingRow("Encounter.reasonCode[0].text", "crisis-event.reason", "labelled PSY"),
    MappingRow("EpisodeOfCare", "mental-health-episode", "status, period, managingOrganization"),
    MappingRow("EpisodeOfCare.team (CareTeam.name)", "mental-health-episode.team"),
    MappingRow(
        "EpisodeOfCare.careManager -> PractitionerRole / Practitioner",
        "worker-role (care-coordinator) + worker",
        "role telecom; out-of-hours by local extension .../out-of-hours",
    ),
    MappingRow("Practitioner.name, telecom", "worker.name, worker.telecom"),
    MappingRow("Organization (ODS identifier)", "organisation", "3-character R/T code: nhs-trust"),
    MappingRow(
        "Condition.code (SNOMED CT, else ICD-10)",
        "diagnosis",
        "always labelled R + PSY; entered-in-error and refuted left out",
    ),
    MappingRow(
        "meta.security", "<fact>.labels", "v3-Confidentiality, v3-ActCode, ObservationValue"
    ),
    MappingRow("(other resource types)", "(not mapped)", "ignored, not reported"),
    MappingRow(
        "MessageHeader.extension:withheld-manifest (render)",
        "disclosure.withheld",
        "sub-extensions element, reasonCode, reason, ask",
    ),
    MappingRow(
        "MessageHeader.extension:disclosure-basis (render)",
        "disclosure.agreement_id/version, flow_id, lawful_basis",
    ),
)
