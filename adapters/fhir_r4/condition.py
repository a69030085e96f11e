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
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.people import person_reference
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.walk import child_object, codings
from schemas.facts import Diagnosis
from schemas.labels import Confidentiality, SecurityLabels, Sensitivity

# SECURITY: every diagnosis is restricted and psychiatric, whatever the sender labelled it.
DIAGNOSIS_LABELS = SecurityLabels(
    confidentiality=Confidentiality.R, sensitivity=frozenset({Sensitivity.PSY})
)
_NOT_A_DIAGNOSIS = frozenset({"entered-in-error", "refuted"})


ELEMENTS = elements({"code", "subject", "verificationStatus"})


def read_diagnosis(ctx: ReadContext, entry: Entry) -> None:
    """The diagnosis a Condition records, for the Person it is about."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    ctx.mapped.add(entry.index)
    verification = child_object(resource, "verificationStatus", path, issues)
    if verification is not None:
        here = f"{path}.verificationStatus"
        if any(code in _NOT_A_DIAGNOSIS for _, _, code, _ in codings(verification, here, issues)):
            ctx.unmap(path, "entered in error or refuted: not a diagnosis")
            return
    report_unread(ctx, entry, ELEMENTS)
    subject = person_reference(ctx, resource, "subject", path)
    code = child_object(resource, "code", path, issues, required=True)
    if code is None:
        return
    found = {
        system: (value, display, coding_path)
        for coding_path, system, value, display in codings(code, f"{path}.code", issues)
        if system is not None and value is not None
    }
    for system in (SNOMED_CT, *sorted(ICD_10_SYSTEMS)):
        if system in found:
            value, display, _ = found[system]
            if subject is not None:
                ctx.add(
                    Diagnosis(
                        id=f"diagnosis-{entry.index}",
                        subject=subject,
                        code_system=system,
                        code=value,
                        display=display,
                        labels=read_security(resource, path, issues, DIAGNOSIS_LABELS),
                    )
                )
            return
    issues.add(f"{path}.code.coding", "must include a SNOMED CT or ICD-10 code", "code-invalid")
