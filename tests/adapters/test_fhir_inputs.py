"""The FHIR adapter's inputs beyond the crisis message: XML, record updates, every resource type,
the limits and the checks fhir.resources does not make."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from adapters.fhir_r4 import FhirR4Adapter
from adapters.fhir_r4.limits import MAX_BODY_BYTES, MAX_DEPTH
from gateway.errors import InvalidMessage, Issue
from schemas.facts import (
    AbuseCategory,
    Consent,
    ConsentActor,
    ContactPoint,
    FamilyRelationship,
    HumanName,
    LegalStatus,
    Meeting,
    MeetingKind,
    MeetingResponse,
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
from schemas.identifiers import LaChildId, NhsNumber
from schemas.labels import ElementLabels, Purpose, SecurityLabels, Sensitivity
from schemas.message import MessageKind, Unmapped
from tests.adapters.helpers import FIXTURES, TRUST, failure, load

ADAPTER = FhirR4Adapter()
LOCAL = "https://joined-up.org.uk"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
V3_ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
PATLOC = SecurityLabels(sensitivity=frozenset({Sensitivity.PATLOC}))


def parse(data: dict[str, Any] | bytes, adapter: FhirR4Adapter = ADAPTER) -> Any:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return adapter.parse(body, TRUST)


def problems(data: dict[str, Any] | bytes) -> list[Issue]:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return failure(lambda b: ADAPTER.parse(b, TRUST), body).issues


def raw(name: str) -> bytes:
    return FIXTURES.joinpath("fhir", name).read_bytes()


def entry(data: dict[str, Any], resource_type: str, n: int = 0) -> dict[str, Any]:
    """The n-th resource of a type in a Bundle."""
    found = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == resource_type]
    resource: dict[str, Any] = found[n]
    return resource


# -- XML -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["crisis-s136", "referral"])
def test_xml_and_json_give_the_same_message(name: str) -> None:
    """The same Bundle in FHIR XML and FHIR JSON is the same canonical message, unmapped
    elements and all."""
    assert parse(raw(f"{name}.json")) == parse(raw(f"{name}.xml"))


def test_xml_with_a_byte_order_mark_and_leading_space_is_read() -> None:
    """The format is told by the first non-whitespace byte, after any UTF-8 byte order mark."""
    assert parse(raw("crisis-s136.json")) == parse(b"\xef\xbb\xbf \n" + raw("crisis-s136.xml"))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Patient xmlns="http://hl7.org/fhir"><id value="&lol2;"/></Patient>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["bomb", "external"])
def test_a_document_type_declaration_is_refused_before_parsing(body: bytes) -> None:
    """XML bombs and external entities come in through a DOCTYPE: any DOCTYPE is refused."""
    assert [
        Issue("(body)", "must not have a document type declaration (DOCTYPE)", "security")
    ] == problems(body)


def test_an_undeclared_entity_is_not_well_formed() -> None:
    """Without a DOCTYPE no entity exists, so one referred to is a syntax error, by line."""
    body = b'<Patient xmlns="http://hl7.org/fhir">\n<id value="&x;"/></Patient>'
    assert [Issue("(body)", "is not well-formed XML (line 2)", "structure")] == problems(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'<Patient xmlns="http://example.org/not-fhir"><id value="x"/></Patient>',
            Issue(
                "(root)",
                "must be a resource in the FHIR namespace (http://hl7.org/fhir)",
                "structure",
            ),
        ),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><gender value="female"/>Jane</Patient>',
            Issue(
                "Patient",
                "must not hold text: FHIR XML values are in value attributes",
                "structure",
            ),
        ),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><gender value="female"/>'
            b'<gender value="male"/></Patient>',
            Issue("Patient.gender", "must not repeat", "structure"),
        ),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>',
            Issue("Patient.active", "must be true or false", "value"),
        ),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><name colour="red"/></Patient>',
            Issue("Patient.name[0]", "has an attribute FHIR XML does not define here", "structure"),
        ),
    ],
    ids=["namespace", "text", "repeat", "boolean", "attribute"],
)
def test_xml_that_breaks_the_fhir_xml_rules_is_refused_at_the_element(
    body: bytes, expected: Issue
) -> None:
    """Each rule of FHIR XML the conversion relies on is checked, and named at its element."""
    assert [expected] == problems(body)


def test_repeating_xml_elements_become_arrays_even_when_single() -> None:
    """One <identifier> is still an array in the JSON shape (its definition repeats)."""
    body = (
        b'<Patient xmlns="http://hl7.org/fhir"><identifier><system value="' + NHS.encode() + b'"/>'
        b'<value value="9000000009"/></identifier><birthDate value="1990-04-12"/></Patient>'
    )
    person = parse(body).facts[0]
    assert ((NhsNumber(value="9000000009"),), date(1990, 4, 12)) == (
        person.identifiers,
        person.birth_date,
    )


def test_a_body_neither_json_nor_xml_is_refused() -> None:
    """The first non-whitespace byte must open a JSON object or an XML element."""
    assert [
        Issue("(body)", "is neither FHIR JSON (an object) nor FHIR XML", "structure")
    ] == problems(b"  resourceType=Patient")


# -- limits --------------------------------------------------------------------------------------


def test_a_body_over_the_size_limit_is_refused_413() -> None:
    """More than MAX_BODY_BYTES is refused before it is parsed, as too costly, with 413."""
    body = b'{"resourceType": "Bundle", "id": "' + b"x" * MAX_BODY_BYTES + b'"}'
    refused = failure(lambda b: ADAPTER.parse(b, TRUST), body)
    assert (
        413,
        [
            Issue(
                "(body)",
                f"is larger than the {MAX_BODY_BYTES} bytes a FHIR message may be",
                "too-costly",
            )
        ],
    ) == (
        refused.status,
        refused.issues,
    )


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 2000])
def test_json_nested_too_deep_is_refused(depth: int) -> None:
    """Nesting past MAX_DEPTH (and past orjson's own limit) is one specific issue, not a crash."""
    body = b'{"resourceType": "Patient", "extension": ' + b"[" * depth + b"]" * depth + b"}"
    assert [
        Issue("(body)", f"is nested more than {MAX_DEPTH} levels deep", "too-costly")
    ] == problems(body)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    """A narrative full of brackets is not deep: the parsed value decides."""
    data = load("fhir", "crisis-s136.json")
    data["entry"][1]["resource"]["name"][0]["family"] = "[" * 100
    message = parse(data)
    assert "[" * 100 == message.facts[0].name.family


def test_xml_nested_too_deep_is_refused() -> None:
    """Nested extensions past MAX_DEPTH in XML: the element where the limit was passed."""
    body = (
        b'<Patient xmlns="http://hl7.org/fhir">'
        + b'<extension url="x">' * (MAX_DEPTH + 5)
        + b"</extension>" * (MAX_DEPTH + 5)
        + b"</Patient>"
    )
    issue = problems(body)[0]
    assert (f"is nested more than {MAX_DEPTH} levels deep", "too-costly") == (
        issue.reason,
        issue.code,
    )


def test_deep_json_is_checked_on_the_parsed_value_when_validating_models() -> None:
    """Full validation recurses, so it checks depth on the parsed value whatever the estimate."""
    data = load("fhir", "crisis-s136.json")
    deep: Any = {}
    for _ in range(MAX_DEPTH + 1):
        deep = {"x": deep}
    data["entry"][1]["resource"]["_gender"] = deep
    assert [
        Issue("(body)", f"is nested more than {MAX_DEPTH} levels deep", "too-costly")
    ] == failure(
        lambda b: FhirR4Adapter(validate_models=True).parse(b, TRUST), orjson.dumps(data)
    ).issues


# -- record updates -------------------------------------------------------------------------------


def test_a_transaction_is_a_record_update_with_its_deletions_and_other_types_unmapped() -> None:
    """A transaction's people map; its sender is Bundle.identifier.assigner; a DELETE and an
    Observation are listed as unmapped."""
    message = parse(raw("record-update-transaction.json"))
    assert (MessageKind.RECORD_UPDATE, "person-0", "RX9") == (
        message.kind,
        message.subject,
        message.provenance.organisation,
    )
    assert ["person", "person", "family-relationship", "organisation"] == [
        f.fact for f in message.facts
    ]
    assert (
        Unmapped(
            element="Bundle.entry[2]",
            reason="a deletion cannot be carried: the canonical model records facts",
        ),
        Unmapped(
            element="Bundle.entry[3].resource",
            reason="Observation resources are not carried by the canonical model",
        ),
    ) == message.unmapped


def test_a_record_update_without_an_id_is_named_by_its_digest() -> None:
    """A single resource without an id gets the body's SHA-256 as its message id."""
    patient = {"resourceType": "Patient", "identifier": [{"system": NHS, "value": "9000000025"}]}
    message = parse(patient)
    assert ("sha256:", 71) == (message.message_id[:7], len(message.message_id))


def test_an_optional_reference_outside_a_record_update_is_unmapped() -> None:
    """A PractitionerRole whose organisation is another of the sender's records: the role maps,
    the reference is listed as not followed."""
    role = {
        "resourceType": "PractitionerRole",
        "code": [{"coding": [{"system": f"{LOCAL}/CodeSystem/worker-role", "code": "amhp"}]}],
        "organization": {"reference": "Organization/elsewhere"},
    }
    message = parse(role)
    assert (
        [WorkerRole(id="worker-role-0", role=RoleKind.AMHP)],
        (
            Unmapped(
                element="PractitionerRole.organization",
                reason="refers to a resource outside the message: not followed",
            ),
        ),
    ) == (list(message.facts), message.unmapped)


def test_a_required_reference_outside_a_record_update_is_refused() -> None:
    """A Flag whose Patient is not in the input cannot be about anyone the index knows."""
    flag = {
        "resourceType": "Flag",
        "status": "active",
        "code": {"text": "Aggressive dog at the address"},
        "subject": {"reference": "Patient/elsewhere"},
    }
    assert [
        Issue(
            "Flag.subject.reference", "does not resolve to a resource in the message", "not-found"
        )
    ] == problems(flag)


def test_a_subject_named_by_nhs_number_becomes_a_person_in_a_record_update() -> None:
    """A logical reference by NHS number is enough for a record update: the person is the
    number."""
    flag = {
        "resourceType": "Flag",
        "status": "active",
        "code": {"text": "Aggressive dog at the address"},
        "subject": {"identifier": {"system": NHS, "value": "9000000033"}},
    }
    facts = parse(flag).facts
    assert [
        Person(id="person-subject-0", identifiers=(NhsNumber(value="9000000033"),)),
        Risk(id="risk-0", subject="person-subject-0", summary="Aggressive dog at the address"),
    ] == list(facts)


def test_an_input_with_nothing_the_canonical_model_carries_is_refused_saying_why() -> None:
    """A batch of queries maps to nothing: refused, each entry's reason given."""
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "Patient?identifier=x"}}],
    }
    assert [
        Issue("Bundle.entry[0]", "a request without a resource carries no fact", "not-supported")
    ] == problems(batch)


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            {"resourceType": "Widget"},
            Issue("Widget", "not a FHIR R4 resource type", "not-supported"),
        ),
        (
            {"resourceType": "Observation", "status": "final"},
            Issue(
                "Observation",
                "Observation resources are not carried by the canonical model",
                "not-supported",
            ),
        ),
        (
            {"id": "x"},
            Issue("resourceType", "is required: a FHIR resource or Bundle", "structure"),
        ),
    ],
    ids=["unknown", "unhandled", "untyped"],
)
def test_a_single_resource_of_no_handled_type_is_refused(
    resource: dict[str, Any], expected: Issue
) -> None:
    """Unknown and unhandled types, and a resource without a type, are refused by name."""
    assert [expected] == problems(resource)


def test_a_patient_with_no_identifier_the_index_can_match_is_refused() -> None:
    """A Patient needs an NHS number, an LA child id or a UPN."""
    patient = {"resourceType": "Patient", "name": [{"family": "Smith"}]}
    assert [
        Issue(
            "Patient.identifier",
            "must include an NHS number, LA child id or UPN the gateway can match",
            "required",
        )
    ] == problems(patient)


# -- checks fhir.resources does not make ------------------------------------------------------------


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        ("9000000009", "repeats another identifier of this resource"),
        ("9000000025", "is a second, different NHS number for one person"),
    ],
)
def test_duplicate_identifiers_are_refused(second: str, reason: str) -> None:
    """The same identifier twice, or two NHS numbers for one person, cannot be indexed."""
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": "9000000009"}, {"system": NHS, "value": second}],
    }
    assert [Issue("Patient.identifier[1]", reason, "duplicate")] == problems(patient)


def test_two_entries_with_one_identity_are_refused() -> None:
    """Two entries with the same fullUrl make references ambiguous."""
    data = load("fhir", "crisis-s136.json")
    data["entry"][2]["fullUrl"] = data["entry"][1]["fullUrl"]
    assert Issue(
        "Bundle.entry[2].fullUrl",
        "repeats the identity of another entry in the Bundle",
        "duplicate",
    ) in problems(data)


def test_a_modifier_extension_is_refused() -> None:
    """A modifier extension changes what a resource means: one not understood is refused."""
    data = load("fhir", "crisis-s136.json")
    data["entry"][1]["resource"]["modifierExtension"] = [{"url": "x", "valueBoolean": True}]
    assert [
        Issue(
            "Bundle.entry[1].resource.modifierExtension",
            "is a modifier extension the gateway does not understand: the resource cannot be read"
            " safely",
            "not-supported",
        )
    ] == problems(data)


def test_an_unlisted_code_of_a_known_relationship_system_is_refused() -> None:
    """v3-RoleCode is known, but a code the mapping file does not list is not guessed at."""
    data = load("fhir", "crisis-s136.json")
    data["entry"][2]["resource"]["relationship"][0]["coding"][0]["code"] = "NOTACODE"
    assert [
        Issue(
            "Bundle.entry[2].resource.relationship[0].coding[0].code",
            "is not a relationship code of its system the gateway knows"
            " (schemas/codes/relationship-role.yaml)",
            "code-invalid",
        )
    ] == problems(data)


@pytest.mark.parametrize(
    ("system", "code", "role"),
    [
        (
            "https://fhir.nhs.uk/R4/CodeSystem/UKCore-AdditionalRelatedPersonRole",
            "Guardian",
            "GUARD",
        ),
        (
            "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdditionalPersonRelationshipRole",
            "Carer",
            "CAREGIVER",
        ),
        ("http://terminology.hl7.org/CodeSystem/v2-0131", "N", "O"),
        (V3_ROLE, "GRMTH", "O"),
        (V3_ROLE, "ADOPTF", "FTH"),
    ],
)
def test_relationship_codes_come_from_the_mapping_file(system: str, code: str, role: str) -> None:
    """Current and older (PDS) UK Core systems, v2-0131 and v3-RoleCode read as the file says."""
    data = load("fhir", "crisis-s136.json")
    data["entry"][2]["resource"]["relationship"][0]["coding"][0] = {"system": system, "code": code}
    link = next(f for f in parse(data).facts if isinstance(f, FamilyRelationship))
    assert ("person-2", "person-1", RelationshipRole(role)) == (
        link.person,
        link.related_to,
        link.role,
    )


def test_legal_status_display_comes_from_the_mapping_file_when_left_out() -> None:
    """A section 2 code without a display gets the published England display."""
    data = load("fhir", "crisis-s136.json")
    coding = data["entry"][3]["resource"]["extension"][0]["extension"][1]["valueCodeableConcept"]
    coding["coding"][0] = {
        "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusClassificationEngland",
        "code": "02",
    }
    event = next(f for f in parse(data).facts if f.fact == "crisis-event")
    assert (
        LegalStatus(
            system="https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusClassificationEngland",
            code="02",
            display="Formally detained under Mental Health Act Section 2",
        )
        == event.legal_status
    )


def test_an_unknown_ethnic_category_code_is_refused() -> None:
    """A code the UK Core England system does not have is refused at the code."""
    data = load("fhir", "referral.json")
    patient = entry(data, "Patient")
    patient["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "Q"
    assert [
        Issue(
            "Bundle.entry[1].resource.extension[0].valueCodeableConcept.coding[0].code",
            "is not a code of UKCore-EthnicCategoryEngland",
            "code-invalid",
        )
    ] == problems(data)


# -- referral --------------------------------------------------------------------------------------


def test_a_referral_message_maps_to_its_referral_and_the_people_in_it() -> None:
    """The referral fixture: mother (ethnicity as the DfE code, postcode labelled PATLOC), child,
    risk, care coordinator, and the referral naming them all."""
    message = parse(raw("referral.json"))
    by_id = {f.id: f for f in message.facts}
    assert (MessageKind.REFERRAL, Purpose.REFERRAL, "person-1") == (
        message.kind,
        message.purpose,
        message.subject,
    )
    assert (
        Person(
            id="person-1",
            identifiers=(NhsNumber(value="9000000009"),),
            name=HumanName(given=("Jane",), family="Smith"),
            birth_date=date(1990, 4, 12),
            sex=Sex.FEMALE,
            ethnicity="WBRI",
            postcode="NT1 2AB",
            element_labels=(ElementLabels(element="postcode", labels=PATLOC),),
        ),
        Referral(
            id="referral-7",
            subject="person-1",
            household=("person-2",),
            concerns="Jane was detained under section 136 last night. Sam (9) is staying with a"
            " neighbour.\n\nJane agreed to the referral.",
            risks=("risk-6",),
            referrer="worker-role-5",
            consent_given=True,
            reference="RX9-REF-0042",
        ),
        Risk(
            id="risk-6",
            subject="person-1",
            summary="Mother has expressed thoughts of self-harm; the child may be left alone"
            " when she is unwell",
            category="Safety",
            period=Period(start=date(2025, 3, 1)),
        ),
        WorkerRole(
            id="worker-role-5",
            role=RoleKind.CARE_COORDINATOR,
            worker="worker-4",
            organisation="organisation-3",
            team="Northtown Community Mental Health Team",
            telecom=(ContactPoint(system="phone", value="01632 960123"),),
            out_of_hours=(ContactPoint(system="phone", value="01632 960999", out_of_hours=True),),
        ),
        Worker(
            id="worker-4",
            name=HumanName(given=("Alex",), family="Morgan"),
            professional_registration="12A3456B",
        ),
    ) == tuple(by_id[i] for i in ("person-1", "referral-7", "risk-6", "worker-role-5", "worker-4"))


def test_a_referral_without_concerns_in_words_is_refused() -> None:
    """The concerns are the point of a referral: a focus ServiceRequest without them is refused."""
    data = load("fhir", "referral.json")
    del entry(data, "ServiceRequest")["note"]
    assert [
        Issue(
            "Bundle.entry[7].resource.note",
            "is required: the concerns, in words (note text)",
            "required",
        )
    ] == problems(data)


def _with_task(status: str, business: str | None) -> dict[str, Any]:
    data = load("fhir", "referral.json")
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": status,
        "intent": "order",
        "focus": {"reference": data["entry"][7]["fullUrl"]},
    }
    if business is not None:
        task["businessStatus"] = {
            "coding": [{"system": f"{LOCAL}/CodeSystem/referral-status", "code": business}]
        }
    data["entry"].append({"resource": task})
    return data


@pytest.mark.parametrize(
    ("status", "business", "expected"),
    [
        ("requested", None, ReferralStatus.SENT),
        ("received", None, ReferralStatus.RECEIVED),
        ("accepted", None, ReferralStatus.ALLOCATED),
        ("rejected", None, ReferralStatus.NO_FURTHER_ACTION),
        ("in-progress", "section-47", ReferralStatus.SECTION_47),
        ("completed", "assessment", ReferralStatus.ASSESSMENT),
    ],
)
def test_a_task_gives_the_referral_its_status(
    status: str, business: str | None, expected: ReferralStatus
) -> None:
    """The business status says exactly; else the Task status where it means one thing."""
    referral = next(f for f in parse(_with_task(status, business)).facts if f.fact == "referral")
    assert expected == referral.status


def test_a_task_status_that_says_nothing_needs_a_business_status() -> None:
    """in-progress could be an assessment or a section 47: the business status must say."""
    assert [
        Issue(
            "Bundle.entry[8].resource.businessStatus",
            "is required to say where the referral is (referral-status code system) when the"
            " Task status does not",
            "required",
        )
    ] == problems(_with_task("in-progress", None))


def test_a_service_request_that_is_not_a_referral_is_unmapped() -> None:
    """A scan request in a record update is not a referral to children's social care."""
    request = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"identifier": {"system": NHS, "value": "9000000009"}},
    }
    assert [
        Issue(
            "ServiceRequest",
            "not a referral to children's social care (referral-category code)",
            "not-supported",
        )
    ] == problems(request)[:1]


# -- consent ---------------------------------------------------------------------------------------


def test_a_consent_directive_maps_every_provision_element() -> None:
    """Deny, for the council by LA code, for coordination of care (every purpose COC stands for),
    for diagnoses, for PSY-labelled data, from the day it was given; given by the patient."""
    message = parse(raw("consent-directive.json"))
    assert (MessageKind.CONSENT_DIRECTIVE, "person-1") == (message.kind, message.subject)
    assert (
        Consent(
            id="consent-3",
            subject="person-1",
            given_by=ConsentActor.SUBJECT,
            decision="deny",
            recipients=("999",),
            purposes=(
                Purpose.CHILD_PROTECTION_CONFERENCE,
                Purpose.CARE_COORDINATION,
                Purpose.REFERRAL,
            ),
            element_classes=("diagnosis",),
            sensitivities=frozenset({Sensitivity.PSY}),
            period=Period(start=date(2025, 3, 15)),
            recorded_at=datetime(2025, 3, 15, 10, 0, tzinfo=UTC),
        )
        == message.facts[-1]
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda p: p.update(provision=[{"type": "permit"}]),
            Issue(
                "Bundle.entry[3].resource.provision.provision",
                "cannot be carried: a consent directive is not widened or narrowed in translation",
                "not-supported",
            ),
        ),
        (
            lambda p: p.update(
                purpose=[
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                        "code": "HRESCH",
                    }
                ]
            ),
            Issue(
                "Bundle.entry[3].resource.provision.purpose[0]",
                "is not a purpose the gateway knows (Joined-up purposes, or the v3-ActReason codes"
                " they map to): cannot be carried: a consent directive is not widened or narrowed"
                " in translation",
                "code-invalid",
            ),
        ),
        (
            lambda p: p.update(
                securityLabel=[
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                        "code": "R",
                    }
                ]
            ),
            Issue(
                "Bundle.entry[3].resource.provision.securityLabel[0]",
                "is not a sensitivity label (v3-ActCode) the gateway knows: cannot be carried: a"
                " consent directive is not widened or narrowed in translation",
                "code-invalid",
            ),
        ),
        (
            lambda p: p.update(actor=[{"reference": {"reference": "urn:uuid:nowhere"}}]),
            Issue(
                "Bundle.entry[3].resource.provision.actor[0].reference.reference",
                "does not resolve to an entry in the Bundle",
                "not-found",
            ),
        ),
    ],
    ids=["nested", "purpose", "label", "actor"],
)
def test_a_provision_the_canonical_model_cannot_carry_is_refused(
    change: Any, expected: Issue
) -> None:
    """Nested provisions and unknown purposes, labels or recipients refuse the consent."""
    data = load("fhir", "consent-directive.json")
    change(entry(data, "Consent")["provision"])
    assert expected in problems(data)


def test_a_consent_recorded_by_a_practitioner_does_not_say_whose_it_is() -> None:
    """The performer must be the patient, a parent or the council (or the extension says)."""
    data = load("fhir", "consent-directive.json")
    entry(data, "Consent")["performer"] = [{"reference": data["entry"][2]["fullUrl"]}]
    assert [
        Issue(
            "Bundle.entry[3].resource.performer",
            "must say whose consent it is: the patient, a parent (RelatedPerson) or the council,"
            " or the consent-given-by extension",
            "required",
        )
    ] == problems(data)


# -- meetings, plans, care teams -----------------------------------------------------------------


def test_a_meeting_invitation_maps_participants_responses_and_place() -> None:
    """The ICPC: the child as subject, the allocated social worker (for the child, from the care
    team) and the care coordinator as participants, one acceptance, the room."""
    message = parse(raw("meeting-invitation.json"))
    meeting = next(f for f in message.facts if isinstance(f, Meeting))
    roles = {f.id: f for f in message.facts if isinstance(f, WorkerRole)}
    assert (MessageKind.MEETING_INVITATION, "999", "person-1") == (
        message.kind,
        message.provenance.organisation,
        message.subject,
    )
    assert (
        Meeting(
            id="meeting-10",
            kind=MeetingKind.INITIAL_CP_CONFERENCE,
            subject="person-1",
            start=datetime.fromisoformat("2025-04-01T10:00:00+01:00"),
            end=datetime.fromisoformat("2025-04-01T12:00:00+01:00"),
            participants=("worker-role-5-0", "worker-role-8"),
            location="Northtown Civic Centre, room 4",
            reference="ICPC-2025-017",
            responses=(MeetingResponse(participant="worker-role-5-0", response="accepted"),),
        ),
        ("person-1", None),
    ) == (meeting, (roles["worker-role-5-0"].subject, roles["worker-role-8"].subject))


def test_an_appointment_without_a_meeting_kind_as_the_focus_is_refused() -> None:
    """A meeting invitation must say which kind of meeting it is."""
    data = load("fhir", "meeting-invitation.json")
    del entry(data, "Appointment")["appointmentType"]
    assert [
        Issue(
            "Bundle.entry[10].resource.appointmentType",
            "must state the meeting kind (meeting-kind code system)",
            "required",
        )
    ] == problems(data)


def _plan_flag(
    code: str, start: str, end: str | None = None, *, child: str, council: str
) -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "Flag",
        "status": "inactive" if end else "active",
        "code": {
            "coding": [
                {"system": f"{LOCAL}/CodeSystem/plan-kind", "code": code},
                {"system": f"{LOCAL}/CodeSystem/abuse-category", "code": "NEG"},
            ]
        },
        "subject": {"reference": child},
        "period": period,
        "author": {"reference": council},
    }


def test_plan_flags_of_one_child_and_council_are_one_social_care_episode() -> None:
    """Two plan flags (a CIN plan that ended, a CP plan) become one episode with both plans, and
    the child's one allocated social worker is its allocated worker."""
    data = load("fhir", "meeting-invitation.json")
    at = {"child": data["entry"][1]["fullUrl"], "council": data["entry"][2]["fullUrl"]}
    data["entry"] += [
        {"resource": _plan_flag("child-in-need", "2024-06-01", "2025-01-19", **at)},
        {"resource": _plan_flag("child-protection", "2025-01-20", **at)},
    ]
    episode = next(f for f in parse(data).facts if isinstance(f, SocialCareEpisode))
    assert (
        SocialCareEpisode(
            id="social-care-episode-11",
            subject="person-1",
            organisation="organisation-2",
            plans=(
                Plan(
                    kind=PlanKind.CHILD_IN_NEED,
                    period=Period(start=date(2024, 6, 1), end=date(2025, 1, 19)),
                    category=AbuseCategory.NEGLECT,
                ),
                Plan(
                    kind=PlanKind.CHILD_PROTECTION,
                    period=Period(start=date(2025, 1, 20)),
                    category=AbuseCategory.NEGLECT,
                ),
            ),
            allocated_worker="worker-role-5-0",
        )
        == episode
    )


def test_a_risk_without_words_is_refused() -> None:
    """A flag that is a bare code is a label, and a label is never the point."""
    flag = {
        "resourceType": "Flag",
        "status": "active",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "226201008"}]},
        "subject": {"identifier": {"system": NHS, "value": "9000000009"}},
    }
    assert [
        Issue(
            "Flag.code.text",
            "is required: a risk is shared in words (code.text, or a coding's display)",
            "required",
        )
    ] == problems(flag)


def test_a_care_team_gives_each_worker_participant_a_role_for_its_subject() -> None:
    """A practitioner with a coded role, and a council team, become roles for the child; a family
    member in the team does not."""
    team = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:child",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": f"{LOCAL}/Id/la-child-id", "value": "999/CH000123"}],
                },
            },
            {
                "fullUrl": "urn:uuid:duty",
                "resource": {
                    "resourceType": "Organization",
                    "identifier": [{"system": f"{LOCAL}/Id/dfe-la-code", "value": "999"}],
                    "telecom": [
                        {
                            "system": "phone",
                            "value": "01632 960000",
                            "extension": [
                                {
                                    "url": f"{LOCAL}/StructureDefinition/out-of-hours",
                                    "valueBoolean": True,
                                }
                            ],
                        }
                    ],
                },
            },
            {
                "resource": {
                    "resourceType": "CareTeam",
                    "subject": {"reference": "urn:uuid:child"},
                    "participant": [
                        {
                            "role": [
                                {
                                    "coding": [
                                        {
                                            "system": f"{LOCAL}/CodeSystem/worker-role",
                                            "code": "out-of-hours",
                                        }
                                    ]
                                }
                            ],
                            "member": {"reference": "urn:uuid:duty"},
                        },
                        {"member": {"reference": "urn:uuid:child"}},
                    ],
                }
            },
        ],
    }
    message = parse(team)
    assert [
        Person(id="person-0", identifiers=(LaChildId(la_code="999", value="CH000123"),)),
        Organisation(
            id="organisation-1",
            kind=OrganisationKind.LOCAL_AUTHORITY,
            la_code="999",
            telecom=(ContactPoint(system="phone", value="01632 960000", out_of_hours=True),),
        ),
        WorkerRole(
            id="worker-role-2-0",
            role=RoleKind.OUT_OF_HOURS,
            organisation="organisation-1",
            subject="person-0",
        ),
    ] == list(message.facts)
    assert (
        Unmapped(
            element="Bundle.entry[2].resource.participant[1].member",
            reason="only workers and teams become worker roles",
        )
        in message.unmapped
    )


def test_errors_never_quote_record_content() -> None:
    """A referral with several faults: every issue is located, none quotes a value."""
    data = load("fhir", "referral.json")
    entry(data, "Patient")["identifier"][0]["value"] = "9000000008"
    entry(data, "ServiceRequest")["identifier"][0]["system"] = 7
    entry(data, "Flag")["code"] = {"coding": [{"system": "x", "code": "Mother self-harm"}]}
    found = failure(
        lambda b: ADAPTER.parse(b, TRUST),
        orjson.dumps(data),
        ("9000000008", "Mother", "Jane", "Smith", "RX9-REF-0042", "NT1 2AB"),
    )
    assert 3 <= len(found.issues)


def test_invalid_message_is_what_every_refusal_raises() -> None:
    """Refusals are InvalidMessage (the gateway's own error type), status 400 or 413."""
    with pytest.raises(InvalidMessage):
        parse(b"{")


def test_two_patients_for_one_person_are_refused() -> None:
    """Two Patient entries with the same NHS number: which holds the truth cannot be told."""
    data = load("fhir", "crisis-s136.json")
    twin = dict(data["entry"][1]["resource"], id="another-id")
    data["entry"].append({"fullUrl": "urn:uuid:twin", "resource": twin})
    assert [
        Issue(
            "Bundle.entry[11].resource.identifier",
            "identifies the same person as another Patient in the message",
            "duplicate",
        )
    ] == problems(data)


def test_an_unknown_type_in_xml_is_refused_as_unknown_not_as_bad_xml() -> None:
    """Without definitions for the type, its narrative and elements are still converted, so the
    refusal names the type, as it would in JSON."""
    body = (
        b'<Widget xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
        b'<div xmlns="http://www.w3.org/1999/xhtml">hi</div></text><colour value="red"/></Widget>'
    )
    assert [Issue("Widget", "not a FHIR R4 resource type", "not-supported")] == problems(body)
