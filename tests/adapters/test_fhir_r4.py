"""The FHIR R4 UK Core adapter: parsing crisis messages, refusing bad ones precisely, rendering."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import Adapter, Loss
from adapters.fhir_r4 import FhirR4Adapter
from adapters.fhir_r4.codes import OUT_OF_HOURS_EXTENSION, WITHHELD_EXTENSION
from gateway.errors import InvalidMessage, Issue
from schemas.disclosure import Addressee
from schemas.facts import (
    ContactPoint,
    CrisisEvent,
    CrisisKind,
    Diagnosis,
    EpisodeStatus,
    FamilyRelationship,
    HumanName,
    LegalStatus,
    MentalHealthEpisode,
    Organisation,
    OrganisationKind,
    Period,
    Person,
    Plan,
    PlanKind,
    RelationshipRole,
    RoleKind,
    Sex,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId, NhsNumber, NhsNumberVerification
from schemas.labels import (
    Confidentiality,
    ElementLabels,
    Purpose,
    SecurityLabels,
    Sensitivity,
)
from schemas.message import CanonicalMessage, MessageKind, Unmapped
from schemas.provenance import Provenance
from tests.adapters.helpers import TRUST, content, disclosure, failure, issues, load

ADAPTER = FhirR4Adapter()
LEGAL_STATUS = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-LegalStatus"
ENGLAND = "https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusClassificationEngland"
ENCOUNTER = "Bundle.entry[3].resource"
CLASSIFICATION = f"{ENCOUNTER}.extension[0].extension[1].valueCodeableConcept.coding[0]"
PATIENT_URL = "urn:uuid:5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"


def bundle() -> dict[str, Any]:
    """The s136 crisis message fixture."""
    return load("fhir", "crisis-s136.json")


def parse(data: dict[str, Any] | bytes, adapter: FhirR4Adapter = ADAPTER) -> CanonicalMessage:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return adapter.parse(body, TRUST)


def problems(data: dict[str, Any] | bytes, adapter: FhirR4Adapter = ADAPTER) -> list[Issue]:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return issues(lambda b: adapter.parse(b, TRUST), body)


def resource(data: dict[str, Any], index: int) -> dict[str, Any]:
    found: dict[str, Any] = data["entry"][index]["resource"]
    return found


EXPECTED = CanonicalMessage(
    message_id="3f0c7a52-1d3e-4c1b-9a7e-5b2d6c8e9f01",
    kind=MessageKind.CRISIS_EVENT,
    subject="person-1",
    purpose=Purpose.SAFEGUARDING_CHILD,
    sent_at=datetime(2025, 3, 14, 23, 5, tzinfo=UTC),
    provenance=Provenance(
        organisation="RX9",
        system="northtown-trust",
        source_format="fhir-r4",
        source_message_id="3f0c7a52-1d3e-4c1b-9a7e-5b2d6c8e9f01",
        received_at=TRUST.received_at,
    ),
    facts=(
        Person(
            id="person-1",
            identifiers=(
                NhsNumber(value="9000000009", verification=NhsNumberVerification.VERIFIED),
            ),
            name=HumanName(given=("Jane",), family="Smith"),
            birth_date=date(1990, 4, 12),
            sex=Sex.FEMALE,
        ),
        Person(
            id="person-2",
            identifiers=(NhsNumber(value="9000000017"), LaChildId(la_code="999", value="CH000123")),
            name=HumanName(given=("Sam",), family="Smith"),
            birth_date=date(2016, 9, 3),
            sex=Sex.MALE,
        ),
        FamilyRelationship(
            id="family-relationship-2",
            person="person-1",
            related_to="person-2",
            role=RelationshipRole.MOTHER,
        ),
        Organisation(
            id="organisation-9",
            kind=OrganisationKind.NHS_TRUST,
            ods_code="RX9",
            name="Northtown Mental Health NHS Foundation Trust",
        ),
        Worker(
            id="worker-7",
            name=HumanName(given=("Alex",), family="Morgan"),
            telecom=(ContactPoint(system="email", value="alex.morgan@rx9.example"),),
        ),
        WorkerRole(
            id="worker-role-5",
            role=RoleKind.CARE_COORDINATOR,
            worker="worker-7",
            organisation="organisation-9",
            subject="person-1",
            team="Northtown Community Mental Health Team",
            telecom=(ContactPoint(system="phone", value="01632 960123"),),
            out_of_hours=(ContactPoint(system="phone", value="01632 960999", out_of_hours=True),),
        ),
        MentalHealthEpisode(
            id="mental-health-episode-5",
            subject="person-1",
            status=EpisodeStatus.ACTIVE,
            period=Period(start=date(2024, 6, 1)),
            organisation="organisation-9",
            team="Northtown Community Mental Health Team",
            care_coordinator="worker-role-5",
        ),
        CrisisEvent(
            id="crisis-event-3",
            kind=CrisisKind.DETENTION,
            subject="person-1",
            period=Period(start=datetime(2025, 3, 14, 22, 40, tzinfo=UTC)),
            legal_status=LegalStatus(
                system=ENGLAND,
                code="20",
                display="Formally detained under Mental Health Act Section 136",
            ),
            organisation="organisation-9",
            location="Northtown Hospital health-based place of safety",
            reason=(
                "Brought to the place of safety by police under section 136 after expressing"
                " thoughts of self-harm"
            ),
            element_labels=(
                ElementLabels(
                    element="location",
                    labels=SecurityLabels(sensitivity=frozenset({Sensitivity.PATLOC})),
                ),
                ElementLabels(
                    element="reason",
                    labels=SecurityLabels(sensitivity=frozenset({Sensitivity.PSY})),
                ),
            ),
        ),
        Diagnosis(
            id="diagnosis-10",
            subject="person-1",
            code_system="http://snomed.info/sct",
            code="20010003",
            display="Borderline personality disorder",
            labels=SecurityLabels(
                confidentiality=Confidentiality.R, sensitivity=frozenset({Sensitivity.PSY})
            ),
        ),
    ),
    unmapped=(
        Unmapped(
            element="Bundle.entry[1].resource.identifier[1]",
            reason="an identifier system the gateway does not match people on",
        ),
        Unmapped(
            element="Bundle.entry[2].resource.active",
            reason="is not carried by the canonical model",
        ),
        Unmapped(
            element="Bundle.entry[3].resource.episodeOfCare",
            reason="is not carried by the canonical model",
        ),
        Unmapped(
            element="Bundle.entry[4].resource.status",
            reason="is not carried by the canonical model",
        ),
        Unmapped(
            element="Bundle.entry[4].resource.managingOrganization",
            reason="is not carried by the canonical model",
        ),
        Unmapped(
            element="Bundle.entry[10].resource.clinicalStatus",
            reason="is not carried by the canonical model",
        ),
        Unmapped(
            element="Bundle.entry[10].resource.category",
            reason="is not carried by the canonical model",
        ),
    ),
)


# -- the happy path ----------------------------------------------------------------------------


def test_adapter_implements_the_protocol() -> None:
    """FhirR4Adapter is an Adapter named fhir-r4 that takes FHIR JSON and FHIR XML."""
    assert isinstance(ADAPTER, Adapter)
    assert ("fhir-r4", ("application/fhir+json", "application/fhir+xml")) == (
        ADAPTER.name,
        ADAPTER.content_types,
    )


def test_crisis_message_maps_to_canonical_facts() -> None:
    """The s136 fixture becomes parent, child, link, trust, detention, coordinator, episode and
    a restricted diagnosis."""
    assert EXPECTED == parse(bundle())


def test_references_by_type_and_id_resolve_like_full_urls() -> None:
    """``Patient/<id>`` references resolve as well as ``urn:uuid:`` full URLs."""
    data = bundle()
    for entry in data["entry"]:
        del entry["fullUrl"]
    text = orjson.dumps(data).decode()
    for entry in data["entry"]:
        res = entry["resource"]
        text = text.replace(f'"urn:uuid:{res["id"]}"', f'"{res["resourceType"]}/{res["id"]}"')
    assert EXPECTED == parse(text.encode())


@pytest.mark.parametrize(
    "system",
    [
        "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland",
        "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus",
    ],
)
def test_verification_status_accepts_current_and_older_code_system(system: str) -> None:
    """Both the UK Core URL and the older one the demographics service uses read as verified."""
    data = bundle()
    coding = resource(data, 1)["identifier"][0]["extension"][0]["valueCodeableConcept"]["coding"]
    coding[0]["system"] = system
    parent = parse(data).facts[0]
    assert isinstance(parent, Person)
    assert (NhsNumber(value="9000000009", verification=NhsNumberVerification.VERIFIED),) == (
        parent.identifiers
    )


def test_unknown_resource_types_are_reported_as_unmapped() -> None:
    """Resources the canonical model has no place for (and unknown types) are listed, not read."""
    data = bundle()
    data["entry"].append({"resource": {"resourceType": "Observation", "status": "final"}})
    data["entry"].append({"resource": {"resourceType": "Widget"}})
    message = parse(data)
    assert EXPECTED.facts == message.facts
    assert (
        *EXPECTED.unmapped,
        Unmapped(
            element="Bundle.entry[11].resource",
            reason="Observation resources are not carried by the canonical model",
        ),
        Unmapped(element="Bundle.entry[12].resource", reason="not a FHIR R4 resource type"),
    ) == message.unmapped


def test_detention_is_inferred_from_a_detaining_legal_status() -> None:
    """Without a stated kind, a section 136 legal status makes the crisis a detention."""
    data = bundle()
    del resource(data, 3)["type"]
    event = next(f for f in parse(data).facts if isinstance(f, CrisisEvent))
    assert CrisisKind.DETENTION == event.kind


def test_admission_is_inferred_from_an_inpatient_class() -> None:
    """Without a stated kind or a legal status, an inpatient Encounter is an admission."""
    data = bundle()
    encounter = resource(data, 3)
    del encounter["type"], encounter["extension"]
    encounter["class"]["code"] = "IMP"
    event = next(f for f in parse(data).facts if isinstance(f, CrisisEvent))
    assert (CrisisKind.ADMISSION, None) == (event.kind, event.legal_status)


@pytest.mark.parametrize(
    ("gender", "code", "role"),
    [
        ("female", "CHILD", RelationshipRole.MOTHER),
        ("male", "SONC", RelationshipRole.FATHER),
        ("unknown", "NCHILD", RelationshipRole.PARENT),
        ("female", "STPCHLD", RelationshipRole.STEP_PARENT),
        ("male", "CHLDFOST", RelationshipRole.CARER),
    ],
)
def test_a_child_role_makes_the_patient_the_parent(
    gender: str, code: str, role: RelationshipRole
) -> None:
    """RelatedPerson CHILD of the Patient: the Patient is MTH/FTH/PRN by gender, or what the code
    says (step-parent, foster carer)."""
    data = bundle()
    resource(data, 1)["gender"] = gender
    resource(data, 2)["relationship"][0]["coding"][0]["code"] = code
    link = next(f for f in parse(data).facts if isinstance(f, FamilyRelationship))
    assert ("person-1", "person-2", role) == (link.person, link.related_to, link.role)


def test_other_related_people_are_third_parties_related_to_the_parent() -> None:
    """A RelatedPerson MTH of the Patient is the parent's mother: a third party, not a child."""
    data = bundle()
    data["entry"].append(
        {
            "fullUrl": "urn:uuid:11111111-2222-4333-8444-555555555555",
            "resource": {
                "resourceType": "RelatedPerson",
                "patient": {"reference": PATIENT_URL},
                "relationship": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                "code": "MTH",
                            }
                        ]
                    }
                ],
                "name": [{"family": "Smith", "given": ["Joan"]}],
            },
        }
    )
    facts = parse(data).facts
    grandmother = next(f for f in facts if f.id == "person-11")
    link = next(f for f in facts if f.id == "family-relationship-11")
    assert SecurityLabels(sensitivity=frozenset({Sensitivity.THIRDPARTY})) == grandmother.labels
    assert (
        FamilyRelationship(
            id="family-relationship-11",
            person="person-11",
            related_to="person-1",
            role=RelationshipRole.MOTHER,
        )
        == link
    )


def test_sender_may_be_given_by_ods_identifier() -> None:
    """``MessageHeader.sender.identifier`` with an ODS code is the sending organisation."""
    data = bundle()
    resource(data, 0)["sender"] = {
        "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RX9"}
    }
    assert ("RX9", EXPECTED.facts) == (parse(data).provenance.organisation, parse(data).facts)


def test_restricted_patient_is_labelled_and_unknown_labels_refused() -> None:
    """meta.security R marks the person restricted; a sensitivity the gateway cannot honour is
    refused rather than dropped."""
    data = bundle()
    confidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    resource(data, 1)["meta"]["security"] = [{"system": confidentiality, "code": "R"}]
    assert Confidentiality.R == parse(data).facts[0].labels.confidentiality
    resource(data, 1)["meta"]["security"].append(
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}
    )
    assert [
        Issue(
            "Bundle.entry[1].resource.meta.security[1].code",
            "is a sensitivity label the gateway cannot honour",
            "code-invalid",
        )
    ] == problems(data)


def test_refuted_conditions_are_not_diagnoses() -> None:
    """A refuted Condition is left out."""
    data = bundle()
    resource(data, 10)["verificationStatus"]["coding"][0]["code"] = "refuted"
    assert [] == [f for f in parse(data).facts if isinstance(f, Diagnosis)]


# -- refusals ----------------------------------------------------------------------------------


def test_malformed_json_is_refused_at_the_body() -> None:
    """Bytes that are not JSON: one issue at (body)."""
    assert [Issue("(body)", "is not well-formed JSON", "structure")] == problems(
        b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "9000'
    )


def test_json_that_is_not_an_object_is_refused() -> None:
    """A JSON array is not a FHIR resource."""
    assert [
        Issue("(body)", "is neither FHIR JSON (an object) nor FHIR XML", "structure")
    ] == problems(b"[1, 2]")


def test_a_single_patient_is_a_record_update_about_them() -> None:
    """A bare Patient is a record update whose subject is that person, sender undeclared."""
    message = parse(resource(bundle(), 1))
    assert (MessageKind.RECORD_UPDATE, "person-0", "(undeclared)", ["person"]) == (
        message.kind,
        message.subject,
        message.provenance.organisation,
        [f.fact for f in message.facts],
    )


def test_a_collection_is_a_record_update_of_every_resource() -> None:
    """The crisis Bundle as a collection gives the same facts, as a record update without a
    declared sender or purpose."""
    data = bundle()
    data["type"] = "collection"
    message = parse(data)
    assert (EXPECTED.facts, MessageKind.RECORD_UPDATE, None, "person-1") == (
        message.facts,
        message.kind,
        message.purpose,
        message.subject,
    )


def test_a_bundle_of_another_type_is_refused() -> None:
    """A searchset (a query's answer) is not something a partner sends: refused at Bundle.type."""
    data = bundle()
    data["type"] = "searchset"
    assert [
        Issue("Bundle.type", "must be message, collection, batch or transaction", "value")
    ] == problems(data)


def test_a_wrong_nhs_check_digit_is_refused_without_the_number() -> None:
    """A bad check digit is named at the identifier's value, and the parent then lacks one."""
    data = bundle()
    resource(data, 1)["identifier"][0]["value"] = "9000000008"
    assert [
        Issue(
            "Bundle.entry[1].resource.identifier[0].value",
            "the NHS number's check digit is wrong",
            "value",
        ),
        Issue("Bundle.entry[1].resource.identifier", "must include a valid NHS number", "required"),
    ] == problems(data)


def test_a_detention_without_legal_status_is_refused() -> None:
    """A stated detention must carry Extension-UKCore-LegalStatus."""
    data = bundle()
    del resource(data, 3)["extension"]
    assert [
        Issue(
            f"{ENCOUNTER}.extension('{LEGAL_STATUS}')",
            "is required for a detention event",
            "required",
        )
    ] == problems(data)


def test_a_detention_with_an_informal_status_is_refused() -> None:
    """Informal (01) is not a detaining status."""
    data = bundle()
    coding = resource(data, 3)["extension"][0]["extension"][1]["valueCodeableConcept"]["coding"]
    coding[0]["code"] = "01"
    assert [
        Issue(
            f"{CLASSIFICATION}.code",
            "must be a detaining legal status for a detention event",
            "business-rule",
        )
    ] == problems(data)


def test_a_flat_legal_status_is_not_the_uk_core_shape() -> None:
    """UK Core's legal status is a complex extension; a valueCodeableConcept is refused."""
    data = bundle()
    resource(data, 3)["extension"] = [
        {
            "url": LEGAL_STATUS,
            "valueCodeableConcept": {"coding": [{"system": ENGLAND, "code": "20"}]},
        }
    ]
    assert [
        Issue(
            f"{ENCOUNTER}.extension[0].valueCodeableConcept",
            "is not the UK Core shape: give legalStatusContext and legalStatusClassification"
            " sub-extensions",
            "structure",
        )
    ] == problems(data)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "system",
            "http://snomed.info/sct",
            Issue(
                f"{CLASSIFICATION}.system",
                "is not a legal status code system"
                " (UKCore-LegalStatusClassificationEngland or -Wales)",
                "code-invalid",
            ),
        ),
        (
            "code",
            "11",
            Issue(
                f"{CLASSIFICATION}.code",
                "is not a code of its legal status code system",
                "code-invalid",
            ),
        ),
    ],
)
def test_legal_status_code_system_and_code_are_checked(
    field: str, value: str, expected: Issue
) -> None:
    """The legal status must be an England or Wales classification code that exists."""
    data = bundle()
    coding = resource(data, 3)["extension"][0]["extension"][1]["valueCodeableConcept"]["coding"]
    coding[0][field] = value
    assert [expected] == problems(data)


def test_an_unknown_event_code_is_refused() -> None:
    """An event code outside the adapter's list is named at eventCoding."""
    data = bundle()
    resource(data, 0)["eventCoding"]["code"] = "crisis"
    assert [
        Issue(
            "Bundle.entry[0].resource.eventCoding",
            "is not a message event this adapter accepts",
            "code-invalid",
        )
    ] == problems(data)


def test_an_event_in_another_code_system_is_refused() -> None:
    """crisis-event in someone else's code system is not ours."""
    data = bundle()
    resource(data, 0)["eventCoding"]["system"] = (
        "https://fhir.hl7.org.uk/CodeSystem/UKCore-MessageEvent"
    )
    assert [
        Issue(
            "Bundle.entry[0].resource.eventCoding.system",
            "is not the Joined-up message-event code system",
            "code-invalid",
        )
    ] == problems(data)


def test_a_relationship_in_an_unknown_code_system_is_refused() -> None:
    """Without a relationship the gateway can read, the direction of the link is unknowable."""
    data = bundle()
    resource(data, 2)["relationship"][0]["coding"][0]["system"] = "http://snomed.info/sct"
    assert [
        Issue(
            "Bundle.entry[2].resource.relationship[0].coding[0].system",
            "is not a relationship code system the gateway recognises"
            " (v3-RoleCode, UK Core relationship roles, v2-0131)",
            "code-invalid",
        )
    ] == problems(data)


def test_a_child_without_a_matchable_identifier_is_refused() -> None:
    """A child needs an NHS number or an LA child id; a local record number is not enough."""
    data = bundle()
    resource(data, 2)["identifier"] = [{"system": "https://epr.rx9.example/Id/mrn", "value": "7"}]
    assert [
        Issue(
            "Bundle.entry[2].resource.identifier",
            "a child needs an NHS number or an LA child id the council can match",
            "required",
        )
    ] == problems(data)


def test_a_malformed_la_child_id_is_refused() -> None:
    """The LA child id is ``<LA code>/<child id>``."""
    data = bundle()
    resource(data, 2)["identifier"][1]["value"] = "CH000123"
    assert [
        Issue(
            "Bundle.entry[2].resource.identifier[1].value",
            "must be the council's three-digit DfE LA code, a slash, then its child id",
            "value",
        )
    ] == problems(data)


@pytest.mark.parametrize(
    ("index", "path", "element"),
    [
        (0, ("focus", 0), "Bundle.entry[0].resource.focus[0].reference"),
        (3, ("subject",), f"{ENCOUNTER}.subject.reference"),
        (5, ("careManager",), "Bundle.entry[5].resource.careManager.reference"),
        (2, ("patient",), "Bundle.entry[2].resource.patient.reference"),
    ],
)
def test_an_unresolvable_reference_is_refused(
    index: int, path: tuple[str | int, ...], element: str
) -> None:
    """A reference the adapter follows must resolve to an entry of the Bundle."""
    data = bundle()
    target: Any = resource(data, index)
    for step in path:
        target = target[step]
    target["reference"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
    assert Issue(element, "does not resolve to an entry in the Bundle", "not-found") in problems(
        data
    )


def test_a_reference_to_the_wrong_type_is_refused() -> None:
    """Encounter.subject pointing at the Organization is not a Patient."""
    data = bundle()
    resource(data, 3)["subject"]["reference"] = "urn:uuid:a9e8d7c6-b5a4-4321-9876-fedcba987654"
    assert Issue(
        f"{ENCOUNTER}.subject.reference", "must refer to a Patient", "invalid"
    ) in problems(data)


def test_an_unknown_purpose_is_refused() -> None:
    """A coding in the purpose system must be a Joined-up purpose."""
    data = bundle()
    resource(data, 0)["reason"]["coding"][0]["code"] = "research"
    assert [
        Issue(
            "Bundle.entry[0].resource.reason.coding[0].code",
            "is not a Joined-up purpose",
            "code-invalid",
        )
    ] == problems(data)


def test_a_sending_organisation_needs_an_ods_code() -> None:
    """The sender's Organization must carry its ODS code."""
    data = bundle()
    del resource(data, 9)["identifier"]
    assert [
        Issue(
            "Bundle.entry[9].resource.identifier",
            "the sending organisation must carry its ODS code",
            "required",
        )
    ] == problems(data)


def test_a_crisis_needs_a_start() -> None:
    """Encounter.period.start is required, and partial dates cannot be carried."""
    data = bundle()
    resource(data, 3)["period"] = {"end": "2025-03"}
    assert [
        Issue(
            f"{ENCOUNTER}.period.end",
            "must be a full date or a date-time with a time zone",
            "value",
        ),
        Issue(f"{ENCOUNTER}.period.start", "is required: when the crisis began", "required"),
    ] == problems(data)


def test_every_problem_is_reported_at_once() -> None:
    """Several faults in one message come back together, none quoting a value."""
    data = bundle()
    resource(data, 1)["identifier"][0]["value"] = "9000000008"
    resource(data, 1)["birthDate"] = "1990-04-12T00:00:00"
    resource(data, 2)["identifier"][0]["value"] = "90000000171"
    del resource(data, 3)["extension"]
    resource(data, 5)["status"] = "open"
    resource(data, 8)["telecom"][0]["system"] = "carrier-pigeon"
    found = problems(data)
    assert [
        "Bundle.entry[1].resource.identifier[0].value",
        "Bundle.entry[1].resource.birthDate",
        "Bundle.entry[1].resource.identifier",
        "Bundle.entry[2].resource.identifier[0].value",
        "Bundle.entry[5].resource.status",
        "Bundle.entry[8].resource.telecom[0].system",
        f"{ENCOUNTER}.extension('{LEGAL_STATUS}')",
    ] == [i.element for i in found]


# -- validate_models=True ----------------------------------------------------------------------


def test_model_validation_accepts_the_fixture() -> None:
    """The fixture is valid FHIR R4B, so full validation changes nothing."""
    assert EXPECTED == parse(bundle(), FhirR4Adapter(validate_models=True))


def test_model_validation_reports_what_the_focused_checks_do_not() -> None:
    """Unknown elements, wrong datatypes and unknown resource types are located, without values."""
    data = bundle()
    resource(data, 1)["maritalStatus"] = "married"
    resource(data, 6)["nickname"] = "the CMHT"
    data["entry"].append({"resource": {"resourceType": "Widget"}})
    found = failure(
        lambda b: FhirR4Adapter(validate_models=True).parse(b, TRUST), orjson.dumps(data)
    ).issues
    assert [
        Issue("Bundle.entry[1].resource.maritalStatus", "must be an object", "structure"),
        Issue("Bundle.entry[6].resource.nickname", "is not an element of this format", "structure"),
        Issue(
            "Bundle.entry[11].resource.resourceType",
            "is not a FHIR R4B resource type",
            "not-supported",
        ),
    ] == found
    # the focused parser alone reports them as unmapped, and maps the rest
    message = parse(data)
    assert EXPECTED.facts == message.facts
    assert {
        "Bundle.entry[1].resource.maritalStatus",
        "Bundle.entry[6].resource.nickname",
        "Bundle.entry[11].resource",
    } <= {u.element for u in message.unmapped}


def test_model_validation_never_quotes_a_value() -> None:
    """fhir.resources quotes bad values in its messages; the adapter passes none of them on."""
    data = bundle()
    resource(data, 1)["birthDate"] = "Jane-Smith"
    found = failure(
        lambda b: FhirR4Adapter(validate_models=True).parse(b, TRUST), orjson.dumps(data), ("Jane",)
    ).issues
    assert Issue("Bundle.entry[1].resource.birthDate", "has an invalid value", "value") in found


# -- robustness --------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_paths(value, (*prefix, i)))
    return found


_ALL_PATHS = _paths(bundle())[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_ALL_PATHS), _JSON)
def test_any_damage_is_an_invalid_message_or_a_parse(path: tuple[Any, ...], junk: Any) -> None:
    """Replacing any element with any JSON never crashes the parser and never leaks a value."""
    data = bundle()
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = junk
    try:
        parse(data, FhirR4Adapter(validate_models=True))
    except InvalidMessage as exc:
        text = " ".join(f"{i.element} {i.reason}" for i in exc.issues)
        assert [] == [s for s in ("9000000009", "9000000017", "CH000123") if s in text]


# -- rendering ---------------------------------------------------------------------------------


def _header(rendered: dict[str, Any]) -> dict[str, Any]:
    header: dict[str, Any] = rendered["entry"][0]["resource"]
    return header


def test_render_parses_back_to_the_same_facts() -> None:
    """parse(render(disclosure of every fact)) carries the same information as the original."""
    message = parse(bundle())
    rendered = ADAPTER.render(disclosure(message.facts, message.subject))
    again = ADAPTER.parse(rendered.body, TRUST)
    assert ((), "application/fhir+json") == (rendered.losses, rendered.content_type)
    assert content(message) == content(again)
    assert (MessageKind.CRISIS_EVENT, Purpose.SAFEGUARDING_CHILD, "RX9") == (
        again.kind,
        again.purpose,
        again.provenance.organisation,
    )


def test_rendered_bundle_is_valid_r4b() -> None:
    """The rendered message passes full fhir.resources R4B validation."""
    message = parse(bundle())
    body = ADAPTER.render(disclosure(message.facts, message.subject)).body
    assert EXPECTED.facts.__len__() == len(parse(body, FhirR4Adapter(validate_models=True)).facts)


def test_render_carries_the_withheld_manifest_and_basis() -> None:
    """The header names what was withheld, why and whom to ask, and the agreement and basis."""
    message = parse(bundle())
    header = _header(orjson.loads(ADAPTER.render(disclosure(message.facts, message.subject)).body))
    withheld = [e for e in header["extension"] if e["url"] == WITHHELD_EXTENSION]
    assert [
        {
            "url": WITHHELD_EXTENSION,
            "extension": [
                {"url": "element", "valueString": "diagnosis"},
                {"url": "reasonCode", "valueCode": "sensitivity-label"},
                {
                    "url": "reason",
                    "valueString": "psychiatric information is not shared under this agreement",
                },
                {
                    "url": "ask",
                    "valueString": "Northtown Trust information governance, 01632 960000",
                },
            ],
        }
    ] == withheld
    basis = {
        part["url"]: next(v for k, v in part.items() if k != "url")
        for part in header["extension"][0]["extension"]
    }
    assert {
        "agreement": "northtown-safeguarding",
        "agreementVersion": 3,
        "flow": "trust-to-council-crisis",
        "lawfulBasis": {
            "system": "https://joined-up.org.uk/CodeSystem/lawful-basis",
            "code": "art6(1)(e)+art9(2)(g)+sch1-para18",
        },
        "ageBand": "child",
        "noConsentReason": "would-prejudice-protection",
    } == basis


def test_render_carries_labels_and_out_of_hours() -> None:
    """Fact labels become meta.security, field labels inline DS4P labels, and the crisis line
    keeps its out-of-hours mark."""
    message = parse(bundle())
    rendered = orjson.loads(ADAPTER.render(disclosure(message.facts, message.subject)).body)
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in rendered["entry"]}
    assert [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"},
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"},
    ] == by_type["Condition"]["meta"]["security"]
    location_labels = by_type["Encounter"]["location"][0]["extension"]
    assert ["PATLOC"] == [e["valueCoding"]["code"] for e in location_labels]
    assert [
        {"system": "phone", "value": "01632 960123", "use": "work"},
        {
            "system": "phone",
            "value": "01632 960999",
            "use": "work",
            "extension": [{"url": OUT_OF_HOURS_EXTENSION, "valueBoolean": True}],
        },
    ] == by_type["PractitionerRole"]["telecom"]
    assert [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "NORDSCLCD"}
    ] == (rendered["meta"]["security"])


def test_render_is_deterministic() -> None:
    """The same disclosure renders the same bytes (a retried delivery is identical)."""
    message = parse(bundle())
    first = ADAPTER.render(disclosure(message.facts, message.subject)).body
    assert first == ADAPTER.render(disclosure(message.facts, message.subject)).body


def test_render_reports_what_fhir_cannot_carry() -> None:
    """An episode's referral date, a worker's register, relationship flags, and an episode about
    the subject's child (a RelatedPerson here) come back as losses."""
    child = Person(id="child", identifiers=(LaChildId(la_code="999", value="CH000123"),))
    parent = Person(id="parent", identifiers=(NhsNumber(value="9000000009"),), sex=Sex.FEMALE)
    facts = (
        parent,
        child,
        FamilyRelationship(
            id="link",
            person="parent",
            related_to="child",
            role=RelationshipRole.MOTHER,
            lives_with=True,
        ),
        Worker(id="sw", local_id="SW0042", professional_registration="12A3456B"),
        SocialCareEpisode(
            id="episode",
            subject="child",
            referral_date=date(2024, 11, 2),
            plans=(Plan(kind=PlanKind.CHILD_PROTECTION, period=Period(start=date(2025, 1, 20))),),
        ),
    )
    rendered = ADAPTER.render(
        disclosure(facts, "parent", recipient=Addressee(partner="trust", organisation="RX9"))
    )
    assert (
        Loss("family-relationship.lives_with", "RelatedPerson has no element for it"),
        Loss(
            "worker.professional_registration",
            "the canonical model does not say which register it is on",
        ),
        Loss(
            "social-care-episode.referral_date",
            "the FHIR plan flags carry the plans, the child and the council only",
        ),
        Loss(
            "social-care-episode",
            "a social-care-episode about a related person of the subject: FHIR has it about a"
            " Patient",
        ),
    ) == rendered.losses


def test_describe_lists_the_mapping() -> None:
    """describe() names the source and canonical element of every row."""
    rows = ADAPTER.describe()
    assert [] == [r for r in rows if not (r.source and r.canonical)]
    assert any(r.canonical == "crisis-event.legal_status" for r in rows)
