"""Person identifiers in FHIR: NHS number (with verification status), LA child id, UPN.

The LA child id has no national FHIR system. Joined-up writes it in the system
``https://joined-up.org.uk/Id/la-child-id`` with the value ``<DfE LA code>/<council's child id>``,
for example ``999/CH000123``: a council's child id means nothing without the council, and one
identifier carries both. A UPN whose ``use`` is ``old`` is a former UPN.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from adapters.fhir_r4.codes import (
    NHS_VERIFICATION_EXTENSION,
    NHS_VERIFICATION_SYSTEM,
    NHS_VERIFICATION_SYSTEMS,
)
from adapters.fhir_r4.walk import Issues, JsonObject, child_object, child_str, codings, extensions
from adapters.fhir_r4.walk import objects as each
from schemas.identifiers import (
    LA_CHILD_ID_SYSTEM,
    NHS_NUMBER_SYSTEM,
    UPN_SYSTEM,
    LaChildId,
    NhsNumber,
    NhsNumberVerification,
    PersonIdentifier,
    Upn,
)

_LA_CHILD_ID = re.compile(r"^(\d{3})/([\x21-\x7e]{1,64})$")
_UPN = re.compile(r"^[A-Za-z]\d{11}[A-Za-z\d]$")
_VERIFICATIONS = {v.value: v for v in NhsNumberVerification}


def read_identifiers(
    resource: JsonObject, path: str, issues: Issues, unread: list[str] | None = None
) -> list[PersonIdentifier]:
    """The NHS numbers, LA child ids and UPNs of a Patient or RelatedPerson.

    Other identifiers (local record numbers) are not matched on; their paths go to ``unread``. The
    same identifier twice, or two different NHS numbers for one person, is refused: the index
    could not tell which is right.
    """
    found: list[PersonIdentifier] = []
    for id_path, identifier in each(resource, "identifier", path, issues):
        if not is_person_system(identifier.get("system")):
            if unread is not None:
                unread.append(id_path)
            continue
        read = read_identifier(identifier, id_path, issues)
        if read is not None and not _duplicate(read, found, id_path, issues):
            found.append(read)
    return found


PERSON_SYSTEMS = frozenset({NHS_NUMBER_SYSTEM, LA_CHILD_ID_SYSTEM, UPN_SYSTEM})


def is_person_system(system: object) -> bool:
    """Whether ``system`` (any JSON value) names a person identifier the gateway matches on."""
    return isinstance(system, str) and system in PERSON_SYSTEMS


def read_identifier(identifier: JsonObject, path: str, issues: Issues) -> PersonIdentifier | None:
    """One NHS number, LA child id or UPN (``identifier.system`` is one of PERSON_SYSTEMS)."""
    system = child_str(identifier, "system", path, issues)
    value = child_str(identifier, "value", path, issues, required=True)
    if value is None:
        return None
    value_path = f"{path}.value"
    if system == NHS_NUMBER_SYSTEM:
        return _nhs_number(identifier, value, path, issues)
    if system == LA_CHILD_ID_SYSTEM:
        match = _LA_CHILD_ID.match(value)
        if match is None:
            issues.add(
                value_path,
                "must be the council's three-digit DfE LA code, a slash, then its child id",
                "value",
            )
            return None
        return LaChildId(la_code=match[1], value=match[2])
    if _UPN.match(value) is None:
        issues.add(
            value_path, "a UPN is a letter, eleven digits, then a digit or a letter", "value"
        )
        return None
    return Upn(value=value, former=identifier.get("use") == "old")


def _duplicate(
    identifier: PersonIdentifier, found: list[PersonIdentifier], path: str, issues: Issues
) -> bool:
    for other in found:
        if other.key == identifier.key:
            issues.add(path, "repeats another identifier of this resource", "duplicate")
            return True
        if isinstance(other, NhsNumber) and isinstance(identifier, NhsNumber):
            issues.add(path, "is a second, different NHS number for one person", "duplicate")
            return True
    return False


def _nhs_number(identifier: JsonObject, value: str, path: str, issues: Issues) -> NhsNumber | None:
    verification = _verification(identifier, path, issues)
    try:
        # NhsNumber checks length and check digit itself (validate_nhs_number): once is enough.
        return NhsNumber(value=value, verification=verification)
    except ValidationError as exc:
        # SECURITY: the validator's message names the rule broken, never the number; pydantic's
        # own message would quote it, so only the validator's is read.
        found = exc.errors(include_url=False, include_input=False)
        error = found[0].get("ctx", {}).get("error") if found else None
        issues.add(f"{path}.value", str(error) if error else "is not a valid NHS number", "value")
        return None


def _verification(
    identifier: JsonObject, path: str, issues: Issues
) -> NhsNumberVerification | None:
    for ext_path, ext in extensions(identifier, NHS_VERIFICATION_EXTENSION, path, issues):
        concept = child_object(ext, "valueCodeableConcept", ext_path, issues, required=True)
        if concept is None:
            return None
        concept_path = f"{ext_path}.valueCodeableConcept"
        for coding_path, system, code, _ in codings(concept, concept_path, issues):
            if system not in NHS_VERIFICATION_SYSTEMS:
                issues.add(
                    f"{coding_path}.system",
                    "is not the UK Core NHS number verification status code system",
                    "code-invalid",
                )
            elif code not in _VERIFICATIONS:
                issues.add(f"{coding_path}.code", "must be a code from 01 to 08", "code-invalid")
            else:
                return _VERIFICATIONS[code]
    return None


def identifier_json(identifier: PersonIdentifier) -> JsonObject:
    """A FHIR Identifier for a canonical person identifier (used by the renderer)."""
    if isinstance(identifier, NhsNumber):
        nhs: JsonObject = {"system": NHS_NUMBER_SYSTEM, "value": identifier.value}
        if identifier.verification is not None:
            coding = {"system": NHS_VERIFICATION_SYSTEM, "code": identifier.verification.value}
            nhs["extension"] = [
                {"url": NHS_VERIFICATION_EXTENSION, "valueCodeableConcept": {"coding": [coding]}}
            ]
        return nhs
    if isinstance(identifier, LaChildId):
        return {"system": LA_CHILD_ID_SYSTEM, "value": f"{identifier.la_code}/{identifier.value}"}
    upn: JsonObject = {"system": UPN_SYSTEM, "value": identifier.value}
    if identifier.former:
        upn["use"] = "old"
    return upn
