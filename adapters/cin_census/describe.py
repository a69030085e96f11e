"""The CIN census mapping table, for the docs (docs/mappings/cin-census.md) and loss reports."""

from __future__ import annotations

from adapters.base import MappingRow
from adapters.cin_census.child import UNMAPPED

_C = "/Message/Children/Child"
_D = f"{_C}/CINdetails"

_MAPPED: tuple[MappingRow, ...] = (
    MappingRow(
        "/Message/Header/Source/LEA",
        "provenance.organisation; organisation (local-authority).la_code",
        "three digits, or the file is refused; namespaces every LAchildID",
    ),
    MappingRow(
        "/Message/Header/CollectionDetails/Collection, Year, ReferenceDate",
        "(checked, not carried)",
        "Collection other than CIN refuses the file; a bad Year or ReferenceDate is reported",
    ),
    MappingRow(
        "/Message/Header/Source/SourceLevel, SoftwareCode, Release, SerialNo, DateTime",
        "(not carried)",
        "metadata of the return, not of a child",
    ),
    MappingRow(
        f"{_C}",
        "message (kind cin-census-child, subject: the child)",
        "one canonical message per child",
    ),
    MappingRow(
        f"{_C}/ChildIdentifiers/LAchildID",
        "person.identifiers[la-child-id] (la_code = LEA)",
        "required; unique in the file",
    ),
    MappingRow(f"{_C}/ChildIdentifiers/UPN", "person.identifiers[upn]", "unique in the file"),
    MappingRow(f"{_C}/ChildIdentifiers/FormerUPN", "person.identifiers[upn, former]"),
    MappingRow(f"{_C}/ChildIdentifiers/PersonBirthDate", "person.birth_date"),
    MappingRow(
        f"{_C}/ChildIdentifiers/GenderCurrent (to 2024-25: 0/1/2/9)",
        "person.sex",
        "mapping sex.yaml",
    ),
    MappingRow(
        f"{_C}/ChildIdentifiers/Sex (from 2025-26: M/F/U)", "person.sex", "mapping sex.yaml"
    ),
    MappingRow(
        f"{_C}/ChildCharacteristics/Ethnicity",
        "person.ethnicity (UK Core ethnic category)",
        "mapping ethnicity.yaml; a finer DfE code is noted in the loss report",
    ),
    MappingRow(
        f"{_D}",
        "social-care-episode (organisation: the council)",
        "one per CINdetails; keyed in the index by referral date",
    ),
    MappingRow(f"{_D}/CINreferralDate", "social-care-episode.referral_date", "required"),
    MappingRow(
        f"{_D}/ReferralSource",
        "social-care-episode.referral_source",
        "required; mapping referral-source.yaml",
    ),
    MappingRow(
        f"{_D}/PrimaryNeedCode", "social-care-episode.primary_need", "mapping primary-need.yaml"
    ),
    MappingRow(f"{_D}/CINclosureDate", "social-care-episode.closure_date"),
    MappingRow(
        f"{_D}/ReasonForClosure",
        "social-care-episode.closure_reason",
        "mapping closure-reason.yaml",
    ),
    MappingRow(
        f"{_D}/Assessments/FactorsIdentifiedAtAssessment/AssessmentFactors",
        "social-care-episode.assessment_factors",
        "every assessment's, in order, without repeats; mapping assessment-factor.yaml",
    ),
    MappingRow(
        f"{_D}/CINPlanDates/CINPlanStartDate, CINPlanEndDate",
        "social-care-episode.plans[child-in-need].period",
    ),
    MappingRow(
        f"{_D}/Section47/S47ActualStartDate, InitialCPCtarget, DateOfInitialCPC",
        "social-care-episode.section47[].start, icpc_target_date, icpc_date",
    ),
    MappingRow(
        f"{_D}/ChildProtectionPlans/CPPstartDate, CPPendDate",
        "social-care-episode.plans[child-protection].period",
        "unborn-child-protection when the child has an ExpectedPersonBirthDate and no "
        "PersonBirthDate",
    ),
    MappingRow(
        f"{_D}/ChildProtectionPlans/InitialCategoryOfAbuse",
        "social-care-episode.plans[child-protection].category",
        "required; mapping abuse-category.yaml",
    ),
)

_PARENTS = {
    "ChildIdentifiers": f"{_C}/ChildIdentifiers",
    "ChildCharacteristics": f"{_C}/ChildCharacteristics",
    "CINdetails": _D,
    "Assessments": f"{_D}/Assessments",
    "Section47": f"{_D}/Section47",
    "ChildProtectionPlans": f"{_D}/ChildProtectionPlans",
}

MAPPING: tuple[MappingRow, ...] = _MAPPED + tuple(
    MappingRow(f"{_PARENTS[parent]}/{tag}", "(loss report: unmapped)", reason)
    for (parent, tag), reason in UNMAPPED.items()
)


def describe() -> tuple[MappingRow, ...]:
    """The mapping between the CIN census and the canonical model."""
    return MAPPING


def markdown_table() -> str:
    """The mapping as a Markdown table (the docs embed it; a test keeps them equal)."""
    lines = ["| CIN census element | canonical | note |", "|---|---|---|"]
    lines += [f"| `{row.source}` | {row.canonical} | {row.note} |" for row in MAPPING]
    return "\n".join(lines)
