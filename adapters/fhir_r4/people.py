"""Patient and RelatedPerson to canonical Person and FamilyRelationship facts.

In a crisis message the Patient is the parent. A RelatedPerson whose relationship is a child role is
the parent's child: it must carry an identifier the council can match (NHS number or LA child id).
Any other related person (a grandparent, a guardian of the parent) is a third party to the
safeguarding purpose and is labelled ``3RDPARTY`` so that policy can protect their identity.

``patient_to_person`` and ``related_person_to_facts`` map single resources outside a Bundle (for
example demographics-service responses) and raise InvalidMessage on any problem.
"""

from __future__ import annotations

from adapters.fhir_r4 import relationships
from adapters.fhir_r4.identifiers import read_identifiers
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.walk import (
    Issues,
    JsonObject,
    child_date,
    child_str,
    codings,
    objects,
    strings,
)
from gateway.errors import InvalidMessage
from schemas.facts import FamilyRelationship, HumanName, Person, Sex
from schemas.labels import SecurityLabels, Sensitivity

_SEXES = {s.value: s for s in Sex}
_THIRD_PARTY = SecurityLabels(sensitivity=frozenset({Sensitivity.THIRDPARTY}))
_NAME_PREFERENCE = ("usual", "official", None, "nickname", "temp", "anonymous", "maiden")


def read_person(
    resource: JsonObject,
    path: str,
    issues: Issues,
    fact_id: str,
    labels: SecurityLabels | None = None,
) -> Person:
    """Identifiers, name, birth date, gender and labels of a Patient or RelatedPerson."""
    gender = child_str(resource, "gender", path, issues)
    if gender is not None and gender not in _SEXES:
        issues.add(f"{path}.gender", "must be male, female, other or unknown", "code-invalid")
    return Person(
        id=fact_id,
        identifiers=tuple(read_identifiers(resource, path, issues)),
        name=read_person_name(resource, path, issues),
        birth_date=child_date(resource, "birthDate", path, issues),
        sex=_SEXES.get(gender) if gender else None,
        labels=read_security(resource, path, issues, labels),
    )


def read_person_name(resource: JsonObject, path: str, issues: Issues) -> HumanName | None:
    """The usual name, else the official one, else the first that is not old."""
    candidates: dict[str | None, HumanName] = {}
    for name_path, name in objects(resource, "name", path, issues):
        use = name.get("use")
        use = use if isinstance(use, str) else None
        if use == "old" or use in candidates:
            continue
        candidates[use] = HumanName(
            given=strings(name, "given", name_path, issues),
            family=child_str(name, "family", name_path, issues),
        )
    for use in _NAME_PREFERENCE:
        if use in candidates:
            return candidates[use]
    return next(iter(candidates.values()), None)


def read_relationship(
    resource: JsonObject, path: str, issues: Issues, parent_sex: Sex | None
) -> relationships.Reading | None:
    """The relationship a RelatedPerson states to its patient; unknown code systems are refused."""
    readings: list[relationships.Reading] = []
    unknown: list[str] = []
    for concept_path, concept in objects(resource, "relationship", path, issues):
        for coding_path, system, code, _ in codings(concept, concept_path, issues):
            if system is None or code is None:
                issues.add(coding_path, "must have a system and a code", "required")
                continue
            reading = relationships.read_code(system, code, parent_sex)
            if reading is None:
                unknown.append(f"{coding_path}.system")
            else:
                readings.append(reading)
    if not readings:
        if unknown:
            for element in unknown:
                issues.add(
                    element,
                    "is not a relationship code system the gateway recognises"
                    " (v3-RoleCode, UK Core relationship roles, v2-0131)",
                    "code-invalid",
                )
        else:
            issues.add(
                f"{path}.relationship", "is required: who is this to the patient?", "required"
            )
        return None
    return relationships.best(readings)


def read_related_person(
    resource: JsonObject,
    path: str,
    issues: Issues,
    *,
    fact_id: str,
    link_id: str,
    parent: Person,
) -> tuple[Person, FamilyRelationship] | None:
    """A related person and how they relate to the patient (the parent)."""
    reading = read_relationship(resource, path, issues, parent.sex)
    person = read_person(
        resource,
        path,
        issues,
        fact_id,
        None if reading is None or reading.related_is_child else _THIRD_PARTY,
    )
    if reading is None:
        return None
    if reading.related_is_child:
        if not person.identifiers:
            issues.add(
                f"{path}.identifier",
                "a child needs an NHS number or an LA child id the council can match",
                "required",
            )
        link = FamilyRelationship(
            id=link_id,
            person=parent.id,
            related_to=person.id,
            role=reading.role,
        )
    else:
        link = FamilyRelationship(
            id=link_id,
            person=person.id,
            related_to=parent.id,
            role=reading.role,
        )
    return person, link


def patient_to_person(resource: JsonObject, *, fact_id: str = "person") -> Person:
    """Map one Patient resource on its own; raise InvalidMessage naming every problem."""
    issues = Issues()
    if resource.get("resourceType") != "Patient":
        issues.add("Patient.resourceType", "must be Patient", "structure")
        issues.raise_if_any()
    person = read_person(resource, "Patient", issues, fact_id)
    if not any(i.type == "nhs-number" for i in person.identifiers):
        issues.add("Patient.identifier", "must include a valid NHS number", "required")
    issues.raise_if_any()
    return person


def related_person_to_facts(
    resource: JsonObject, parent: Person, *, fact_id: str = "related-person"
) -> tuple[Person, FamilyRelationship]:
    """Map one RelatedPerson of ``parent`` on its own; raise InvalidMessage on any problem."""
    issues = Issues()
    if resource.get("resourceType") != "RelatedPerson":
        issues.add("RelatedPerson.resourceType", "must be RelatedPerson", "structure")
        issues.raise_if_any()
    found = read_related_person(
        resource,
        "RelatedPerson",
        issues,
        fact_id=fact_id,
        link_id=f"{fact_id}-relationship",
        parent=parent,
    )
    if found is None or issues:
        if not issues:  # read_related_person reports why whenever it finds nothing
            issues.add("RelatedPerson", "could not be mapped", "processing")
        raise InvalidMessage(list(issues.items))
    return found
