"""RelatedPerson.relationship codes, and which way round the relationship runs.

FHIR's ``RelatedPerson.relationship`` is the role the *related person* plays for the *patient*:
``MTH`` means the related person is the patient's mother; ``CHILD`` means the related person is the
patient's child. The canonical :class:`~schemas.facts.FamilyRelationship` reads "``person`` is
``role`` of ``related_to``". So:

* a parent role (MTH, GUARD ...) maps across: person = related person, related_to = patient;
* a child role (CHILD, SONC, STPCHLD ...) is inverted: person = the patient (the parent),
  related_to = the related person (the child), and role = the parent's role, taken from the code
  where it says (STPCHLD -> step-parent, CHLDFOST -> carer) or else from the patient's gender
  (female -> MTH, male -> FTH, otherwise PRN).

Accepted code systems: v3-RoleCode, UK Core AdditionalPersonRelationshipRole, the demographics
service's AdditionalRelatedPersonRole (PDS), and v2-0131 contact roles (which say nothing about
family, so read as "other").
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.facts import RelationshipRole, Sex

V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V2_CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
UK_CORE_ROLE = "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdditionalPersonRelationshipRole"
PDS_ROLE = "https://fhir.nhs.uk/R4/CodeSystem/UKCore-AdditionalRelatedPersonRole"

_R = RelationshipRole
# v3-RoleCode: the related person is the patient's ...
_V3_PARENT_ROLES: dict[str, RelationshipRole] = {
    **dict.fromkeys(("MTH", "NMTH", "ADOPTM"), _R.MOTHER),
    **dict.fromkeys(("FTH", "NFTH", "ADOPTF"), _R.FATHER),
    **dict.fromkeys(("PRN", "NPRN", "ADOPTP"), _R.PARENT),
    **dict.fromkeys(("STPMTH", "STPFTH", "STPPRN"), _R.STEP_PARENT),
    **dict.fromkeys(("MTHFOST", "FTHFOST", "PRNFOST"), _R.CARER),
    "GUARD": _R.GUARDIAN,
}
# v3-RoleCode: the related person is the patient's child; the patient's role (None = by gender).
_V3_CHILD_ROLES: dict[str, RelationshipRole | None] = {
    **dict.fromkeys(
        ("CHILD", "NCHILD", "SON", "DAU", "SONC", "DAUC", "CHLDADOPT", "SONADOPT", "DAUADOPT")
    ),
    **dict.fromkeys(("STPCHLD", "STPSON", "STPDAU"), _R.STEP_PARENT),
    **dict.fromkeys(("CHLDFOST", "SONFOST", "DAUFOST"), _R.CARER),
}
_UK_CORE_ROLES: dict[str, RelationshipRole] = {"Guardian": _R.GUARDIAN, "Carer": _R.CARER}
KNOWN_SYSTEMS = frozenset({V3_ROLE_CODE, V2_CONTACT_ROLE, UK_CORE_ROLE, PDS_ROLE})


@dataclass(frozen=True, slots=True)
class Reading:
    """One relationship coding, read: the role and whether the related person is the child."""

    role: RelationshipRole
    related_is_child: bool


def read_code(system: str, code: str, patient_sex: Sex | None) -> Reading | None:
    """The reading of one coding, or None when the system is not one the adapter knows."""
    if system == V3_ROLE_CODE:
        if code in _V3_CHILD_ROLES:
            return Reading(_V3_CHILD_ROLES[code] or parent_role(patient_sex), related_is_child=True)
        return Reading(_V3_PARENT_ROLES.get(code, _R.OTHER), related_is_child=False)
    if system in (UK_CORE_ROLE, PDS_ROLE):
        return Reading(_UK_CORE_ROLES.get(code, _R.OTHER), related_is_child=False)
    if system == V2_CONTACT_ROLE:
        return Reading(_R.OTHER, related_is_child=False)
    return None


def best(readings: list[Reading]) -> Reading | None:
    """The most telling of several codings: a child link first, then a specific role."""
    for reading in readings:
        if reading.related_is_child:
            return reading
    for reading in readings:
        if reading.role is not _R.OTHER:
            return reading
    return readings[0] if readings else None


def parent_role(sex: Sex | None) -> RelationshipRole:
    """A parent's role from their recorded gender: MTH, FTH, or PRN when it does not say."""
    if sex is Sex.FEMALE:
        return _R.MOTHER
    if sex is Sex.MALE:
        return _R.FATHER
    return _R.PARENT


# Rendering: the coding for "the related person is <role> of the patient" ...
def coding_for_role(role: RelationshipRole) -> tuple[str, str]:
    """(system, code) saying the related person is ``role`` of the patient."""
    if role is _R.CARER:
        return UK_CORE_ROLE, "Carer"
    if role is _R.OTHER:
        return V2_CONTACT_ROLE, "O"
    return V3_ROLE_CODE, role.value


# ... and for "the patient is <role> of the related person" (the related person is the child).
_CHILD_CODE_FOR_PARENT_ROLE: dict[RelationshipRole, str] = {
    _R.MOTHER: "CHILD",
    _R.FATHER: "CHILD",
    _R.PARENT: "CHILD",
    _R.STEP_PARENT: "STPCHLD",
    _R.CARER: "CHLDFOST",
}


def coding_for_child_of(role: RelationshipRole) -> tuple[str, str] | None:
    """(system, code) saying the related person is the patient's child, the patient being
    ``role``; None where v3-RoleCode has no such inverse (guardian, other)."""
    code = _CHILD_CODE_FOR_PARENT_ROLE.get(role)
    return None if code is None else (V3_ROLE_CODE, code)
