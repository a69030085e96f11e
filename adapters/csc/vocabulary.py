"""The CSC words for family roles and sex, and their canonical codes (both directions)."""

from __future__ import annotations

from typing import Literal

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

SEX_TO_CANONICAL: dict[str, Sex] = {"M": Sex.MALE, "F": Sex.FEMALE, "U": Sex.UNKNOWN}

# DfE ethnicity codes, as the CIN census and the DfE CSC API payload use them.
EthnicityCode = Literal[
    "WBRI",
    "WIRI",
    "WIRT",
    "WOTH",
    "WROM",
    "MWBC",
    "MWBA",
    "MWAS",
    "MOTH",
    "AIND",
    "APKN",
    "ABAN",
    "AOTH",
    "BCRB",
    "BAFR",
    "BOTH",
    "CHNE",
    "OOTH",
    "REFU",
    "NOBT",
]
