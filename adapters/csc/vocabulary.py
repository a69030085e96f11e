"""The CSC words for family roles, and the CSC codes read from the shared mappings.

The code lists (sex, ethnicity, referral source, primary need, assessment factors, closure
reasons) are data in ``schemas/codes``, shared with the CIN census import.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from schemas.codes import load
from schemas.facts import RelationshipRole, Sex

FamilyWord = Literal["mother", "father", "parent", "step-parent", "guardian", "carer", "other"]

RELATIONSHIP_TO_ROLE: dict[FamilyWord, RelationshipRole] = {
    "mother": RelationshipRole.MOTHER,
    "father": RelationshipRole.FATHER,
    "parent": RelationshipRole.PARENT,
    "step-parent": RelationshipRole.STEP_PARENT,
    "guardian": RelationshipRole.GUARDIAN,
    "carer": RelationshipRole.CARER,
    "other": RelationshipRole.OTHER,
}
ROLE_TO_RELATIONSHIP: dict[RelationshipRole, FamilyWord] = {
    role: word for word, role in RELATIONSHIP_TO_ROLE.items()
}
# The words that make a person one of the child's parents or carers; anyone else a message names
# beside the child is a third party (labelled 3RDPARTY: see ``adapters.csc.build``).
PARENT_OR_CARER: frozenset[FamilyWord | None] = frozenset(
    word for word, role in RELATIONSHIP_TO_ROLE.items() if role is not RelationshipRole.OTHER
)

# The DfE CSC API and CIN census 2025-26 ``Sex`` codes, read from the shared sex mapping.
SEX_TO_CANONICAL: dict[str, Sex] = {
    pair.source: Sex(pair.target) for pair in load("sex").pairs if pair.source in ("M", "F", "U")
}


def coded(name: str) -> Any:
    """A string type holding a code of the shared mapping ``name`` (``schemas/codes``).

    The JSON Schema lists the codes; an unknown code is refused naming the mapping, never the value.
    """
    mapping = load(name)
    codes = tuple(pair.source for pair in mapping.pairs)
    label = mapping.source.label

    def check(value: str) -> str:
        if value not in codes:
            raise ValueError(f"is not a code of {label}")
        return value

    return Annotated[str, AfterValidator(check), Field(json_schema_extra={"enum": list(codes)})]


EthnicityCode = coded("ethnicity")
ReferralSource = coded("referral-source")
PrimaryNeed = coded("primary-need")
AssessmentFactor = coded("assessment-factor")
ClosureReason = coded("closure-reason")
# DfE ethnicity codes to the UK Core ethnic category the canonical person keeps; the DfE codes
# that are finer than their category (WIRT, WROM) are reported as narrowed.
ETHNICITY_TO_CANONICAL: dict[str, str] = {p.source: p.target for p in load("ethnicity").pairs}
ETHNICITY_NARROWED = frozenset(
    code
    for code, target in ETHNICITY_TO_CANONICAL.items()
    if load("ethnicity").to_source(target) != code
)
