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

The codes are data: ``schemas/codes/relationship-role.yaml`` (v3-RoleCode codes bare, the other
accepted systems as ``system|code``: v2-0131 contact roles, UK Core AdditionalPersonRelationshipRole
and the demographics service's older AdditionalRelatedPersonRole URL). A code of an accepted system
that the file does not list is refused, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.codes import load
from schemas.facts import RelationshipRole, Sex

V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V2_CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
UK_CORE_ROLE = "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdditionalPersonRelationshipRole"
PDS_ROLE = "https://fhir.nhs.uk/R4/CodeSystem/UKCore-AdditionalRelatedPersonRole"
KNOWN_SYSTEMS = frozenset({V3_ROLE_CODE, V2_CONTACT_ROLE, UK_CORE_ROLE, PDS_ROLE})

_R = RelationshipRole
_CHILD = "CHILD"
_MAPPING = load("relationship-role")
_TARGETS: dict[str, str] = {pair.source: pair.target for pair in _MAPPING.pairs}


@dataclass(frozen=True, slots=True)
class Reading:
    """One relationship coding, read: the role and whether the related person is the child."""

    role: RelationshipRole
    related_is_child: bool


def read_code(system: str, code: str, patient_sex: Sex | None) -> Reading | None:
    """The reading of one coding; None when the system or the code is not one the file lists."""
    if system not in KNOWN_SYSTEMS:
        return None
    target = _TARGETS.get(code if system == V3_ROLE_CODE else f"{system}|{code}")
    if target is None:
        return None
    if target == _CHILD:
        return Reading(parent_role(patient_sex), related_is_child=True)
    if target.startswith(f"{_CHILD}+"):
        return Reading(RelationshipRole(target[len(_CHILD) + 1 :]), related_is_child=True)
    return Reading(RelationshipRole(target), related_is_child=False)


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


def _coding(source: str) -> tuple[str, str]:
    system, sep, code = source.rpartition("|")
    return (system, code) if sep else (V3_ROLE_CODE, source)


# Rendering: the coding for "the related person is <role> of the patient" ...
def coding_for_role(role: RelationshipRole) -> tuple[str, str]:
    """(system, code) saying the related person is ``role`` of the patient."""
    source = _MAPPING.to_source(role.value)
    if source is None or role is _R.CHILD:
        # CHILD as the related person's own role: v3-RoleCode says it directly.
        return V3_ROLE_CODE, role.value
    return _coding(source)


# ... and for "the patient is <role> of the related person" (the related person is the child).
_CHILD_TARGETS: dict[RelationshipRole, str] = {
    _R.MOTHER: _CHILD,
    _R.FATHER: _CHILD,
    _R.PARENT: _CHILD,
    _R.STEP_PARENT: f"{_CHILD}+{_R.STEP_PARENT.value}",
    _R.CARER: f"{_CHILD}+{_R.CARER.value}",
}


def coding_for_child_of(role: RelationshipRole) -> tuple[str, str] | None:
    """(system, code) saying the related person is the patient's child, the patient being
    ``role``; None where no code says so (guardian, other)."""
    target = _CHILD_TARGETS.get(role)
    source = None if target is None else _MAPPING.to_source(target)
    return None if source is None else _coding(source)
