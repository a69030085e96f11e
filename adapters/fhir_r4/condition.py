"""Condition to canonical Diagnosis, labelled restricted and psychiatric.

The adapter only labels: the policy engine is what keeps a diagnosis from crossing (DOMAIN.md:
"the diagnosis is never disclosed by default"). SNOMED CT is preferred to ICD-10 where both are
given; a Condition coded in neither cannot be labelled with confidence and is refused. Conditions
entered in error or refuted are not diagnoses and are left out.
"""

from __future__ import annotations

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.codes import ICD_10_SYSTEMS, SNOMED_CT
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.walk import child_object, codings
from schemas.facts import Diagnosis
from schemas.labels import Confidentiality, SecurityLabels, Sensitivity

# SECURITY: every diagnosis is restricted and psychiatric, whatever the sender labelled it.
DIAGNOSIS_LABELS = SecurityLabels(
    confidentiality=Confidentiality.R, sensitivity=frozenset({Sensitivity.PSY})
)
_NOT_A_DIAGNOSIS = frozenset({"entered-in-error", "refuted"})


def read_diagnosis(ctx: ReadContext, entry: Entry, subject_id: str) -> Diagnosis | None:
    """The diagnosis a Condition records, for the Person ``subject_id``."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    verification = child_object(resource, "verificationStatus", path, issues)
    if verification is not None:
        here = f"{path}.verificationStatus"
        if any(code in _NOT_A_DIAGNOSIS for _, _, code, _ in codings(verification, here, issues)):
            return None
    code = child_object(resource, "code", path, issues, required=True)
    if code is None:
        return None
    found = {
        system: (value, display, coding_path)
        for coding_path, system, value, display in codings(code, f"{path}.code", issues)
        if system is not None and value is not None
    }
    for system in (SNOMED_CT, *sorted(ICD_10_SYSTEMS)):
        if system in found:
            value, display, _ = found[system]
            return Diagnosis(
                id=f"diagnosis-{entry.index}",
                subject=subject_id,
                code_system=system,
                code=value,
                display=display,
                labels=read_security(resource, path, issues, DIAGNOSIS_LABELS),
            )
    issues.add(f"{path}.code.coding", "must include a SNOMED CT or ICD-10 code", "code-invalid")
    return None
