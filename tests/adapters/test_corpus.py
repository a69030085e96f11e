"""Conformance: the FHIR adapter's Patient and RelatedPerson mapping against the NHS demographics
service (PDS) sandbox responses in ``../shared/corpus`` (absent for users of the project: skipped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.fhir_r4 import patient_to_person, related_person_to_facts
from gateway.errors import InvalidMessage, Issue
from schemas.facts import Person, RelationshipRole
from schemas.identifiers import NhsNumber, NhsNumberVerification, validate_nhs_number
from schemas.labels import Confidentiality, Sensitivity

pytestmark = pytest.mark.corpus

PDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "pds"
PARENT = Person(id="patient")
ROLES = {"Guardian": RelationshipRole.GUARDIAN, "Carer": RelationshipRole.CARER}


def _resources(folder: str, resource_type: str) -> list[tuple[str, int, dict[str, Any]]]:
    """(file name, entry index, resource) for each resource of a type in a corpus folder."""
    directory = PDS / folder
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        data = orjson.loads(path.read_bytes())
        if data.get("resourceType") == resource_type:
            found.append((path.name, -1, data))
        for i, entry in enumerate(data.get("entry", [])):
            if entry.get("resource", {}).get("resourceType") == resource_type:
                found.append((path.name, i, entry["resource"]))
    return found


def _cases(folder: str, resource_type: str) -> list[Any]:
    found = _resources(folder, resource_type)
    if not found:
        return [pytest.param(None, id="absent")]
    return [pytest.param(r, id=f"{name}[{i}]") for name, i, r in found]


def _present(resource: dict[str, Any] | None) -> dict[str, Any]:
    if resource is None:
        pytest.skip(f"shared corpus absent: {PDS.resolve()}")
    return resource


@pytest.mark.parametrize(
    "resource", _cases("patientResponses", "Patient") + _cases("searchResponses", "Patient")
)
def test_pds_patients_map_or_are_refused_clearly(resource: dict[str, Any] | None) -> None:
    """Each PDS Patient maps to a Person with its NHS number, verification status and
    confidentiality; one whose NHS number fails the check digit is refused at that element."""
    patient = _present(resource)
    identifier = patient["identifier"][0]
    try:
        validate_nhs_number(identifier["value"])
    except ValueError:
        with pytest.raises(InvalidMessage) as refused:
            patient_to_person(patient)
        assert [
            Issue("Patient.identifier[0].value", "the NHS number's check digit is wrong", "value"),
            Issue("Patient.identifier", "must include a valid NHS number", "required"),
        ] == refused.value.issues
        assert identifier["value"] not in str(refused.value)
        return
    verification = identifier["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]
    restricted = any(s["code"] == "R" for s in patient.get("meta", {}).get("security", []))
    person = patient_to_person(patient)
    assert (
        (NhsNumber(value=identifier["value"], verification=NhsNumberVerification(verification)),),
        Confidentiality.R if restricted else Confidentiality.N,
    ) == (person.identifiers, person.labels.confidentiality)


@pytest.mark.parametrize("resource", _cases("relatedPersonResponses", "RelatedPerson"))
def test_pds_related_people_are_third_parties_of_the_patient(
    resource: dict[str, Any] | None,
) -> None:
    """Each PDS RelatedPerson (old R4 relationship code system) is a labelled third party who
    stands in their coded role to the patient."""
    related = _present(resource)
    code = related["relationship"][0]["coding"][0]["code"]
    person, link = related_person_to_facts(related, PARENT)
    assert (
        (person.id, PARENT.id, ROLES.get(code, RelationshipRole.OTHER)),
        frozenset({Sensitivity.THIRDPARTY}),
    ) == ((link.person, link.related_to, link.role), person.labels.sensitivity)
