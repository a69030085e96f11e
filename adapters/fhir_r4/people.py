"""Patient and RelatedPerson to canonical Person and FamilyRelationship facts.

Every Patient is a Person. A RelatedPerson is a Person too, linked to its patient by a
FamilyRelationship whose direction follows its relationship code (see ``relationships``). One whose
relationship is a child role is the patient's child: it must carry an identifier the council can
match (NHS number or LA child id). Any other related person (a grandparent, a guardian of the
parent) is a third party to the safeguarding purpose and is labelled ``3RDPARTY`` so that policy can
protect their identity.

The postcode is the home (or unstated-use) address's, with any DS4P inline label on that address
as the label of ``person.postcode`` (a refuge's postcode is labelled PATLOC). The ethnic category
(``Extension-UKCore-EthnicCategory``, England codes) is held as the DfE code the canonical model
uses, through ``schemas/codes/ethnicity.yaml``.

``patient_to_person`` and ``related_person_to_facts`` map single resources outside a Bundle (for
example demographics-service responses) and raise InvalidMessage on any problem.
"""

from __future__ import annotations

from adapters.fhir_r4 import relationships
from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.codes import ETHNIC_CATEGORY_EXTENSION, ETHNIC_CATEGORY_SYSTEM
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.identifiers import is_person_system, read_identifier, read_identifiers
from adapters.fhir_r4.security import read_inline, read_security
from adapters.fhir_r4.walk import (
    Issues,
    JsonObject,
    child_date,
    child_object,
    child_str,
    codings,
    extensions,
    objects,
    strings,
)
from gateway.errors import InvalidMessage
from schemas.codes import load
from schemas.facts import FamilyRelationship, HumanName, Person, Sex
from schemas.identifiers import NhsNumber
from schemas.labels import ElementLabels, SecurityLabels, Sensitivity

_SEXES = {s.value: s for s in Sex}
_THIRD_PARTY = SecurityLabels(sensitivity=frozenset({Sensitivity.THIRDPARTY}))
_NAME_PREFERENCE = ("usual", "official", None, "nickname", "temp", "anonymous", "maiden")
_ETHNICITY = load("ethnicity")
_DFE_ETHNICITY: dict[str, str] = {
    pair.target: source
    for pair in _ETHNICITY.pairs
    if (source := _ETHNICITY.to_source(pair.target)) is not None
}
PATIENT_ELEMENTS = elements({"identifier", "name", "gender", "birthDate", "address"})
RELATED_ELEMENTS = PATIENT_ELEMENTS | {"patient", "relationship"}
PERSON_EXTENSIONS = frozenset({ETHNIC_CATEGORY_EXTENSION})
UNREAD_IDENTIFIER = "an identifier system the gateway does not match people on"
PERSON_IDENTIFIER = "must include an NHS number, LA child id or UPN the gateway can match"


def read_person(
    resource: JsonObject,
    path: str,
    issues: Issues,
    fact_id: str,
    *,
    labels: SecurityLabels | None = None,
    unread: list[str] | None = None,
) -> Person:
    """Identifiers, name, birth date, gender, postcode, ethnicity and labels of a person."""
    gender = child_str(resource, "gender", path, issues)
    if gender is not None and gender not in _SEXES:
        issues.add(f"{path}.gender", "must be male, female, other or unknown", "code-invalid")
    postcode, postcode_labels = _postcode(resource, path, issues)
    return Person(
        id=fact_id,
        identifiers=tuple(read_identifiers(resource, path, issues, unread)),
        name=read_person_name(resource, path, issues),
        birth_date=child_date(resource, "birthDate", path, issues),
        sex=_SEXES.get(gender) if gender else None,
        ethnicity=_ethnicity(resource, path, issues),
        postcode=postcode,
        labels=read_security(resource, path, issues, labels),
        element_labels=()
        if postcode_labels is None
        else (ElementLabels(element="postcode", labels=postcode_labels),),
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


def _postcode(
    resource: JsonObject, path: str, issues: Issues
) -> tuple[str | None, SecurityLabels | None]:
    if "address" not in resource:
        return None, None
    for address_path, address in objects(resource, "address", path, issues):
        if address.get("use") not in (None, "home"):
            continue
        postcode = child_str(address, "postalCode", address_path, issues)
        if postcode is not None:
            if len(postcode) > 16:
                issues.add(f"{address_path}.postalCode", "is too long for a postcode", "too-long")
                return None, None
            return postcode, read_inline(address, address_path, issues)
    return None, None


def _ethnicity(resource: JsonObject, path: str, issues: Issues) -> str | None:
    if "extension" not in resource:
        return None
    for ext_path, ext in extensions(resource, ETHNIC_CATEGORY_EXTENSION, path, issues):
        concept = child_object(ext, "valueCodeableConcept", ext_path, issues, required=True)
        if concept is None:
            return None
        for coding_path, system, code, _ in codings(
            concept, f"{ext_path}.valueCodeableConcept", issues
        ):
            if system != ETHNIC_CATEGORY_SYSTEM:
                continue  # another system's coding: the England one is the one carried
            if code is None or code not in _DFE_ETHNICITY:
                issues.add(
                    f"{coding_path}.code",
                    "is not a code of UKCore-EthnicCategoryEngland",
                    "code-invalid",
                )
                return None
            return _DFE_ETHNICITY[code]
    return None


def read_patient(ctx: ReadContext, entry: Entry) -> Person:
    """The Person for a Patient entry (one fact however often it is referenced)."""
    known = ctx.persons.get(entry.index)
    if known is not None:
        return known
    unread: list[str] = []
    person = read_person(
        entry.resource, entry.path, ctx.issues, f"person-{entry.index}", unread=unread
    )
    if entry.index in ctx.nhs_required:
        if not has_nhs_number(person):
            ctx.issues.add(
                f"{entry.path}.identifier", "must include a valid NHS number", "required"
            )
    elif not person.identifiers:
        ctx.issues.add(f"{entry.path}.identifier", PERSON_IDENTIFIER, "required")
    for path in unread:
        ctx.unmap(path, UNREAD_IDENTIFIER)
    keys = {i.key for i in person.identifiers}
    if keys & ctx.patient_keys:
        # Two Patients for one person: which of them holds the truth cannot be told.
        ctx.issues.add(
            f"{entry.path}.identifier",
            "identifies the same person as another Patient in the message",
            "duplicate",
        )
    ctx.patient_keys |= keys
    report_unread(ctx, entry, PATIENT_ELEMENTS, PERSON_EXTENSIONS)
    _keep(ctx, entry, person)
    return person


def _keep(ctx: ReadContext, entry: Entry, person: Person) -> None:
    ctx.add(person)
    ctx.persons[entry.index] = person
    ctx.people[person.id] = person
    ctx.person_paths[person.id] = entry.path
    ctx.mapped.add(entry.index)
    for identifier in person.identifiers:
        ctx.persons_by_key.setdefault(identifier.key, person.id)


def has_nhs_number(person: Person) -> bool:
    """Whether the person carries a (valid) NHS number."""
    return any(isinstance(i, NhsNumber) for i in person.identifiers)


def person_reference(
    ctx: ReadContext,
    parent: JsonObject,
    key: str,
    path: str,
    *,
    required: bool = True,
    types: tuple[str, ...] = ("Patient",),
) -> str | None:
    """The Person fact id ``parent[key]`` refers to: by reference within the input, or by a person
    identifier (``Reference.identifier``: NHS number, LA child id, UPN).

    A person named only by identifier is the message's person with that identifier if there is
    one; in a record update it may otherwise be a person of the sender's records, and becomes a
    Person fact holding just that identifier.
    """
    reference = child_object(parent, key, path, ctx.issues, required=required)
    if reference is None:
        return None
    target = reference.get("reference")
    if target.__class__ is str:  # the common case first: a Patient in the message, already read
        known_entry = ctx.bundle.lookup(target)
        if (
            known_entry is not None
            and known_entry.type in types
            and known_entry.index in ctx.persons
        ):
            return ctx.persons[known_entry.index].id
    here = f"{path}.{key}"
    if "reference" in reference:
        entry = ctx.follow(reference, here, types, required=required)
        if entry is None:
            return None
        person = ctx.persons.get(entry.index)
        if person is None:
            person = read_patient(ctx, entry) if entry.type == "Patient" else None
        return None if person is None else person.id
    identifier = child_object(reference, "identifier", here, ctx.issues)
    if identifier is not None and is_person_system(identifier.get("system")):
        found = read_identifier(identifier, f"{here}.identifier", ctx.issues)
        if found is None:
            return None
        known = ctx.persons_by_key.get(found.key)
        if known is not None:
            return known
        if ctx.self_contained:
            ctx.issues.add(
                f"{here}.identifier", "must identify a person in the message", "not-found"
            )
            return None
        stub = Person(id=f"person-{key}-{len(ctx.facts)}", identifiers=(found,))
        ctx.persons_by_key[found.key] = ctx.add(stub)
        ctx.people[stub.id] = stub
        return stub.id
    if required:
        ctx.issues.add(
            here,
            "must refer to a person in the message, or identify one by NHS number, LA child id"
            " or UPN",
            "required",
        )
    else:
        ctx.unmap(here, "names no person the gateway can identify: not followed")
    return None


def read_relationship(
    resource: JsonObject, path: str, issues: Issues, parent_sex: Sex | None
) -> relationships.Reading | None:
    """The relationship a RelatedPerson states to its patient; unknown codes are refused."""
    readings: list[relationships.Reading] = []
    unknown: list[tuple[str, str]] = []
    for concept_path, concept in objects(resource, "relationship", path, issues):
        for coding_path, system, code, _ in codings(concept, concept_path, issues):
            if system is None or code is None:
                issues.add(coding_path, "must have a system and a code", "required")
                continue
            reading = relationships.read_code(system, code, parent_sex)
            if reading is not None:
                readings.append(reading)
            elif system in relationships.KNOWN_SYSTEMS:
                unknown.append(
                    (
                        f"{coding_path}.code",
                        "is not a relationship code of its system"
                        " the gateway knows (schemas/codes/relationship-role.yaml)",
                    )
                )
            else:
                unknown.append(
                    (
                        f"{coding_path}.system",
                        "is not a relationship code system the"
                        " gateway recognises (v3-RoleCode, UK Core relationship roles,"
                        " v2-0131)",
                    )
                )
    if not readings:
        if unknown:
            for element, reason in unknown:
                issues.add(element, reason, "code-invalid")
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
    unread: list[str] | None = None,
) -> tuple[Person, FamilyRelationship] | None:
    """A related person and how they relate to the patient ``parent``."""
    reading = read_relationship(resource, path, issues, parent.sex)
    person = read_person(
        resource,
        path,
        issues,
        fact_id,
        labels=None if reading is None or reading.related_is_child else _THIRD_PARTY,
        unread=unread,
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
            id=link_id, person=parent.id, related_to=person.id, role=reading.role
        )
    else:
        link = FamilyRelationship(
            id=link_id, person=person.id, related_to=parent.id, role=reading.role
        )
    return person, link


def read_related(ctx: ReadContext, entry: Entry) -> None:
    """A RelatedPerson entry: its Person and its FamilyRelationship to its patient."""
    patient_id = person_reference(ctx, entry.resource, "patient", entry.path)
    patient = ctx.people.get(patient_id) if patient_id else None
    if patient is None:
        return
    unread: list[str] = []
    found = read_related_person(
        entry.resource,
        entry.path,
        ctx.issues,
        fact_id=f"person-{entry.index}",
        link_id=f"family-relationship-{entry.index}",
        parent=patient,
        unread=unread,
    )
    for path in unread:
        ctx.unmap(path, UNREAD_IDENTIFIER)
    report_unread(ctx, entry, RELATED_ELEMENTS, PERSON_EXTENSIONS)
    if found is not None:
        _keep(ctx, entry, found[0])
        ctx.add(found[1])


def patient_to_person(resource: JsonObject, *, fact_id: str = "person") -> Person:
    """Map one Patient resource on its own; raise InvalidMessage naming every problem."""
    issues = Issues()
    if resource.get("resourceType") != "Patient":
        issues.add("Patient.resourceType", "must be Patient", "structure")
        issues.raise_if_any()
    person = read_person(resource, "Patient", issues, fact_id)
    if not has_nhs_number(person):
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
