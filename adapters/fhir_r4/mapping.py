"""The FHIR adapter's mapping table, for the docs and for loss reports.

``python -m adapters.fhir_r4.describe > docs/mappings/fhir-r4.md`` writes the mapping page
(:func:`markdown`) from ``MAPPING`` and ``CONFORMANCE``; a test checks the committed page equals
this output, and the conformance test checks ``CONFORMANCE`` against the UK Core examples.
"""

from __future__ import annotations

from adapters.base import MappingRow

_E = "Bundle.entry[0].resource"  # the MessageHeader
_LOCAL = "https://joined-up.org.uk"

MAPPING: tuple[MappingRow, ...] = (
    # -- the input ---------------------------------------------------------------------------
    MappingRow(
        "(body)",
        "(input)",
        "JSON or XML, told by the first non-whitespace byte; at most 4 MiB (413) and 64 levels"
        " of nesting; XML: no DOCTYPE, no entities, no DTD, no network, UTF-8 only",
    ),
    MappingRow(
        "Bundle (type message)",
        "message",
        "kind from the MessageHeader event; must be self-contained (every reference resolves)",
    ),
    MappingRow(
        "Bundle (type collection, batch, transaction), or a single resource",
        "message.kind = record-update",
        "subject: the one Patient, if exactly one; optional references outside the input are"
        " reported as unmapped; entries without a resource (queries, deletions) too",
    ),
    MappingRow(
        "Bundle.id (else MessageHeader.id, else the resource id)",
        "message.message_id",
        "else sha256 of the body",
    ),
    MappingRow("Bundle.timestamp", "message.sent_at"),
    MappingRow(
        f"{_E}.eventCoding",
        "message.kind",
        f"local system {_LOCAL}/CodeSystem/message-event: the MessageKind values",
    ),
    MappingRow(
        f"{_E}.focus",
        "message.subject",
        "crisis-event: one Encounter; referral: one ServiceRequest; referral-status: one Task or"
        " ServiceRequest; meeting-invitation, meeting-reply, icpc-scheduled: one Appointment;"
        " consent-directive: one Consent; the subject is a focus Patient, else the person the"
        " focus resource is about",
    ),
    MappingRow(
        f"{_E}.reason.coding", "message.purpose", f"local system {_LOCAL}/CodeSystem/purpose"
    ),
    MappingRow(
        f"{_E}.extension:sharing-request",
        "message.request",
        "lawfulBasis (a lawful basis code), ageBand, noConsentReason; override (reason,"
        " justification, approver); withhold (by, moreDetrimentalJudgement): the basis the"
        " sender relies on, its urgent override, or its decision not to share",
    ),
    MappingRow(
        f"{_E}.sender",
        "provenance.organisation + organisation",
        "ODS or DfE LA code, by reference or identifier",
    ),
    MappingRow(
        "Bundle.identifier.assigner (record update)",
        "provenance.organisation",
        "ODS or DfE LA code; without one the provenance says (undeclared): the gateway takes it"
        " as the authenticated partner's when the partner speaks for one organisation",
    ),
    MappingRow(
        "(any element not read)",
        "message.unmapped",
        "element path and reason, never the value; unknown resource types likewise",
    ),
    MappingRow(
        "modifierExtension, implicitRules",
        "(refused)",
        "a modifier the gateway does not understand: the resource cannot be read safely",
    ),
    # -- people ------------------------------------------------------------------------------
    MappingRow(
        "Patient",
        "person",
        "an NHS number, LA child id or UPN is required; the subject of a crisis needs an NHS"
        " number; check digit; a second NHS number or a repeated identifier is refused",
    ),
    MappingRow(
        "Patient.identifier:nhs-number.extension:NHSNumberVerificationStatus",
        "person.identifiers[nhs-number].verification",
        "UKCore-NHSNumberVerificationStatusEngland or the older URL without England",
    ),
    MappingRow(
        "identifier system .../Id/la-child-id, value LLL/ID",
        "person.identifiers[la-child-id]",
        "DfE LA code, a slash, the council's child id",
    ),
    MappingRow("identifier system .../Id/upn (use old = former)", "person.identifiers[upn]"),
    MappingRow("Patient.name (usual, else official)", "person.name"),
    MappingRow("Patient.birthDate / gender", "person.birth_date / sex", "full dates only"),
    MappingRow(
        "Patient.address (home).postalCode (+ DS4P inline label)",
        "person.postcode (+ element label)",
    ),
    MappingRow(
        "Patient.extension:Extension-UKCore-EthnicCategory (England)",
        "person.ethnicity",
        "held as the DfE code: schemas/codes/ethnicity.yaml",
    ),
    MappingRow("Patient.meta.security", "person.labels", "U/L/M read as N"),
    MappingRow(
        "RelatedPerson (child role)",
        "person (child) + family-relationship(person=parent, related_to=child)",
        "role from the code (STPCHLD, CHLDFOST) or the parent's gender: MTH, FTH, PRN",
    ),
    MappingRow(
        "RelatedPerson (other role)",
        "person (3RDPARTY) + family-relationship(person=related, related_to=patient)",
        "codes: schemas/codes/relationship-role.yaml (v3-RoleCode, v2-0131, UK Core and the older"
        " PDS system); an unlisted code is refused",
    ),
    MappingRow(
        "RelatedPerson.patient (reference, or identifier)",
        "family-relationship.related_to",
        "by NHS number: the message's person with it; in a record update, else a new person",
    ),
    # -- organisations and workers ------------------------------------------------------------
    MappingRow(
        "Organization (ODS / DfE LA identifier, type)",
        "organisation",
        f"kind from {_LOCAL}/CodeSystem/organisation-kind, else LA code: local-authority,"
        " 3-character R/T ODS code: nhs-trust, else other",
    ),
    MappingRow(
        "Practitioner",
        "worker",
        "name, telecom; SWE registration; GMC/NMC/HCPC/GPhC number as professional_registration"
        f" (which register is not carried); {_LOCAL}/Id/worker-local-id as local_id",
    ),
    MappingRow(
        "PractitionerRole",
        "worker-role",
        f"role from code in {_LOCAL}/CodeSystem/worker-role (else unmapped); practitioner,"
        " organization, healthcareService display (team), period, telecom",
    ),
    MappingRow(
        "PractitionerRole.telecom + extension out-of-hours",
        "worker-role.telecom / out_of_hours",
        f"{_LOCAL}/StructureDefinition/out-of-hours (valueBoolean); old or ended contacts dropped",
    ),
    MappingRow(
        "CareTeam.subject + participant (member, role, onBehalfOf, period)",
        "worker-role (subject = the team's subject)",
        "member PractitionerRole, or Practitioner / Organization with a worker-role coded role;"
        " family members are not worker roles",
    ),
    # -- health ------------------------------------------------------------------------------
    MappingRow(
        "EpisodeOfCare",
        "mental-health-episode",
        "status, period, managingOrganization, team (CareTeam.name or display)",
    ),
    MappingRow(
        "EpisodeOfCare.careManager -> PractitionerRole / Practitioner",
        "worker-role (care-coordinator, for the patient) + worker",
    ),
    MappingRow(
        "Encounter.type (crisis-event-kind) / legal status / class",
        "crisis-event.kind",
        "stated kind, else detaining status = detention, else IMP/ACUTE/NONAC = admission;"
        " another Encounter (not the focus) that is none of these is unmapped",
    ),
    MappingRow(
        "Encounter.extension:Extension-UKCore-LegalStatus.legalStatusClassification",
        "crisis-event.legal_status",
        "complex extension; England codes and detention from schemas/codes/legal-status.yaml,"
        " Wales codes too; required for a detention",
    ),
    MappingRow("Encounter.period", "crisis-event.period", "start required"),
    MappingRow("Encounter.serviceProvider", "crisis-event.organisation"),
    MappingRow(
        "Encounter.location[0] (Location.name, else display)",
        "crisis-event.location",
        "labelled PATLOC (plus any inline labels)",
    ),
    MappingRow(
        "Encounter.reasonCode[0].text",
        "crisis-event.reason",
        "labelled PSY (plus any inline labels)",
    ),
    MappingRow(
        "Condition.code (SNOMED CT, else ICD-10)",
        "diagnosis",
        "always labelled R + PSY; entered-in-error and refuted left out",
    ),
    # -- social care -------------------------------------------------------------------------
    MappingRow(
        "Flag (code in plan-kind)",
        "social-care-episode.plans[]",
        f"{_LOCAL}/CodeSystem/plan-kind; period, author (the council), {_LOCAL}/CodeSystem/"
        "abuse-category; plan flags of one child and council form one episode",
    ),
    MappingRow(
        "Flag (any other)",
        "risk",
        "summary: code.text, else a coding's display (required); category; period; entered in"
        " error, or inactive without an end date: unmapped",
    ),
    MappingRow(
        "Appointment (appointmentType in meeting-kind)",
        "meeting",
        "subject: the one Patient participant; worker participants (PractitionerRole, or"
        " Practitioner / Organization with a worker-role type) as worker roles; their status"
        " accepted/declined/tentative as responses; Location participant as location;"
        f" identifier in {_LOCAL}/Id/meeting-reference as reference; extension"
        " meeting-target (targetDate as target_date; afterTarget derived from it and start)",
    ),
    MappingRow(
        "Appointment.status",
        "meeting.status",
        "proposed/pending/waitlist: proposed; booked/arrived/checked-in: booked; fulfilled;"
        " cancelled; noshow: fulfilled (reported)",
    ),
    MappingRow(
        "ServiceRequest (category referral-category|childrens-social-care, or a focus)",
        "referral",
        "subject; note texts as concerns; supportingInfo: household persons and risks;"
        " requester PractitionerRole as referrer; extension referral-consent; identifier in"
        f" {_LOCAL}/Id/referral-reference",
    ),
    MappingRow(
        "Task (focus: the referral's ServiceRequest)",
        "referral.status",
        f"businessStatus in {_LOCAL}/CodeSystem/referral-status; else status requested: sent,"
        " received, accepted: allocated, rejected: no-further-action; no Task: sent",
    ),
    MappingRow(
        "Consent (active, scope patient-privacy)",
        "consent",
        "patient, dateTime, given by (extension consent-given-by, else performer), provision"
        " type, period, actor organisations, purpose, class, securityLabel; any provision"
        " element it cannot carry refuses it (never widened or narrowed)",
    ),
    MappingRow(
        "Communication",
        "(references checked; content unmapped)",
        "subject, about, sender and recipient are followed; the payload text is not carried",
    ),
    MappingRow(
        "meta.security", "<fact>.labels", "v3-Confidentiality, v3-ActCode, ObservationValue"
    ),
    # -- rendering ---------------------------------------------------------------------------
    MappingRow(
        "MessageHeader.extension:withheld-manifest (render)",
        "disclosure.withheld",
        "sub-extensions element, reasonCode, reason, ask",
    ),
    MappingRow(
        "MessageHeader.extension:disclosure-basis (render)",
        "disclosure.agreement_id/version, flow_id, lawful_basis",
    ),
    MappingRow(
        "Flag + Communication (render)",
        "cp-plan-started / cp-plan-ended",
        "one plan Flag per plan; a Communication to the addressee about them",
    ),
    MappingRow(
        "Flag + Organization (render)",
        "child-status",
        "plan type, start/end, the responsible council with its office-hours and out-of-hours"
        " contacts",
    ),
    MappingRow(
        "Appointment (render)",
        "meeting-invitation / meeting-reply",
        "extension meeting-target: an initial conference's target date and whether it is after it",
    ),
    MappingRow(
        "Communication (render)",
        "icpc-scheduled",
        "to the addressee: the conference's date and its target (extension meeting-target)",
    ),
    MappingRow("ServiceRequest + Task (render)", "referral / referral-status"),
    MappingRow("PractitionerRole + CareTeam (render)", "worker-contact / allocated-worker-changed"),
)

# How the UK Core examples (../shared/corpus/uk-core) fare: outcome -> number of files. Checked
# file by file by tests/adapters/test_fhir_corpus.py.
CONFORMANCE: tuple[tuple[str, int], ...] = (
    ("translated (a record update)", 9),
    ("refused: a reference it must follow leads outside the example", 7),
    ("refused: only resource types the canonical model does not carry", 8),
    ("refused: no NHS number, LA child id or UPN to match the person on", 4),
    ("refused: the NHS number's check digit is wrong", 1),
    ("refused: not a referral to children's social care", 5),
    ("refused: not a cross-agency meeting", 1),
    ("refused: no role the canonical model carries", 2),
    ("refused: a Task not about a referral", 1),
    ("refused: a notification, whose content is not carried", 1),
    ("refused: a batch of queries, which carry no facts", 1),
    ("refused: a search result Bundle is not an input", 1),
)

_NORMALISATIONS = (
    "A FamilyRelationship whose role is CHILD (the related person is the subject's child) reads"
    " back inverted, as the subject's parent role (MTH, FTH or PRN by gender).",
    "A related person who is not the subject's child reads back labelled 3RDPARTY.",
    "A diagnosis reads back labelled R and PSY; a crisis event's location PATLOC and its reason"
    " PSY, whatever else they carry.",
    "A field label on a field with no FHIR element of its own (anything but a person's postcode"
    " and a crisis event's location and reason) is applied to the whole resource.",
    "Social care episodes of one child with one council read back as one episode; an episode's"
    " allocated worker is the child's allocated social worker where there is exactly one.",
    "A worker role's contacts marked out-of-hours read back in out_of_hours.",
)


def markdown() -> str:
    """The mapping page: the table, the normalisations, the conformance counts."""
    lines = [
        "# FHIR R4 UK Core mapping",
        "",
        "Generated from `FhirR4Adapter().describe()` by"
        " `python -m adapters.fhir_r4.describe > docs/mappings/fhir-r4.md`; do not edit by hand.",
        "",
        "| FHIR | canonical | notes |",
        "|---|---|---|",
    ]
    for row in MAPPING:
        cells = (row.source, row.canonical, row.note)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += [
        "",
        "## What a round trip normalises",
        "",
        "Canonical to FHIR to canonical is the identity for everything FHIR carries, except:",
        "",
        *(f"- {item}" for item in _NORMALISATIONS),
        "",
        "## Conformance: the UK Core examples",
        "",
        "Every UK Core example in `../shared/corpus/uk-core/` translates to canonical or is refused"
        " with a specific reason (`tests/adapters/test_fhir_corpus.py` checks each file, and these"
        " counts). The examples are single resources and non-message Bundles, so each is a record"
        " update: most refusals are references to records the example does not include, types the"
        " canonical model has no place for, or clinical resources (a scan request, a clinic"
        " appointment) that are not the safeguarding ones the gateway reads. The NHS"
        " demographics service's Patients and RelatedPersons (`../shared/corpus/pds/`) are checked"
        " by `tests/adapters/test_corpus.py`.",
        "",
        "| outcome | files |",
        "|---|---|",
        *(f"| {outcome} | {count} |" for outcome, count in CONFORMANCE),
        f"| total | {sum(count for _, count in CONFORMANCE)} |",
        "",
    ]
    return "\n".join(lines)
