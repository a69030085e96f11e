"""The code mappings the CIN census reader uses, as plain dictionaries built once.

The mappings themselves are data (``schemas/codes/*.yaml``); this module only reads them into
dictionaries for the per-child hot path (``CodeMap.to_target`` rebuilds its index on every call).
"""

from __future__ import annotations

from schemas.codes import load


def _forward(name: str) -> dict[str, str]:
    return {pair.source: pair.target for pair in load(name).pairs}


SEX = _forward("sex")
# Which codes each element may carry (the DfE schemas): GenderCurrent up to 2024-25, Sex from
# 2025-26. What each code means is in sex.yaml.
SEX_CODES_BY_ELEMENT: dict[str, frozenset[str]] = {
    "GenderCurrent": frozenset({"0", "1", "2", "9"}),
    "Sex": frozenset({"M", "F", "U"}),
}
if not all(codes <= SEX.keys() for codes in SEX_CODES_BY_ELEMENT.values()):  # pragma: no cover
    raise RuntimeError("sex.yaml lacks a code the CIN census elements use")

ETHNICITY = _forward("ethnicity")
# DfE codes finer than their UK Core category (WIRT, WROM -> C): the narrowing is reported.
ETHNICITY_NARROWED = frozenset(
    code for code, target in ETHNICITY.items() if load("ethnicity").to_source(target) != code
)
REFERRAL_SOURCE = _forward("referral-source")
PRIMARY_NEED = _forward("primary-need")
CLOSURE_REASON = _forward("closure-reason")
ASSESSMENT_FACTOR = _forward("assessment-factor")
ABUSE_CATEGORY = _forward("abuse-category")
