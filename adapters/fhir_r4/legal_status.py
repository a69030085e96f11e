"""UK Core ``Extension-UKCore-LegalStatus``: a patient's Mental Health Act legal status.

UK Core (1.2.0) defines it as a *complex* extension on Encounter with two required parts:
``legalStatusContext`` (admission | discharge, CodeSystem UKCore-LegalStatusContext) and
``legalStatusClassification`` (CodeSystem UKCore-LegalStatusClassificationEngland or -Wales, the NHS
Data Dictionary's Mental Health Act Legal Status Classification codes: 02 = section 2, 03 = section
3, 20 = section 136 ...). A flat ``valueCodeableConcept`` is not the UK Core shape and is refused.
The England codes, their displays and which of them detain are read from
``schemas/codes/legal-status.yaml``; the Welsh ones are listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.fhir_r4.walk import Issues, JsonObject, child_object, codings, extensions, objects
from schemas.codes import load
from schemas.facts import LegalStatus

LEGAL_STATUS_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-LegalStatus"
CONTEXT_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusContext"
ENGLAND = "https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusClassificationEngland"
WALES = "https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusClassificationWales"
CONTEXTS = frozenset({"admission", "discharge"})

_DETAINED = "Formally detained under Mental Health Act Section"
# England: the codes, displays and detention categories are data (schemas/codes/legal-status.yaml).
_ENGLAND = load("legal-status")
# Wales: displays from the published code system (abbreviated to the England wording).
_WALES: dict[str, str] = {
    "01": "Informal (including voluntary patients under Section 131)",
    "02": f"{_DETAINED} 2",
    "03": f"{_DETAINED} 3",
    "04": f"{_DETAINED} 4",
    "05": f"{_DETAINED} 5 (2)",
    "06": f"{_DETAINED} 5 (4)",
    "07": f"{_DETAINED} 35",
    "08": f"{_DETAINED} 36",
    "09": "Formally detained under Mental Health Act Sections 37 and 41",
    "10": f"{_DETAINED} 37",
    "12": f"{_DETAINED} 38",
    "13": f"{_DETAINED} 44",
    "14": f"{_DETAINED} 46",
    "15": "Formally detained under Mental Health Act Sections 47 and 49",
    "16": f"{_DETAINED} 47",
    "17": "Formally detained under Mental Health Act Sections 48 and 49",
    "18": f"{_DETAINED} 48",
    "19": f"{_DETAINED} 135",
    "20": f"{_DETAINED} 136",
    "30": "Formally detained under previous legislation (fifth schedule)",
    "31": "Formally detained under Criminal Procedure (Insanity) Act 1964",
    "32": "Formally detained under other acts",
    "34": f"{_DETAINED} 45A (Hospital and Limitation Direction)",
    "35": "Community treatment order (Mental Health Act Section 17a)",
    "98": "Non applicable",
}
_CODES: dict[str, dict[str, str]] = {
    ENGLAND: {pair.source: pair.display for pair in _ENGLAND.pairs},
    WALES: _WALES,
}
# Everything else in each code system is a form of detention.
_NOT_DETAINED: dict[str, frozenset[str]] = {
    ENGLAND: frozenset(p.source for p in _ENGLAND.pairs if p.target != "detained"),
    WALES: frozenset({"01", "35", "98"}),
}


def is_detention(status: LegalStatus) -> bool:
    """Whether a legal status is a detention (not informal, guardianship, CTO or unknown)."""
    codes = _NOT_DETAINED.get(status.system)
    return codes is not None and status.code not in codes


def display_for(system: str, code: str) -> str | None:
    """The published display of a legal status code, if known."""
    return _CODES.get(system, {}).get(code)


@dataclass(frozen=True, slots=True)
class LegalStatusReading:
    """What an Encounter says about legal status: the status, and where it was found."""

    present: bool  # an Extension-UKCore-LegalStatus exists, however malformed
    status: LegalStatus | None = None
    classification_path: str | None = None
    context: str | None = None  # admission | discharge


def read_legal_status(encounter: JsonObject, path: str, issues: Issues) -> LegalStatusReading:
    """The encounter's legal status; where several are given, the admission one is used."""
    readings = [
        _read_one(ext, ext_path, issues)
        for ext_path, ext in extensions(encounter, LEGAL_STATUS_EXTENSION, path, issues)
    ]
    if not readings:
        return LegalStatusReading(present=False)
    for reading in readings:
        if reading.context == "admission" and reading.status is not None:
            return reading
    return readings[0]


def _read_one(ext: JsonObject, path: str, issues: Issues) -> LegalStatusReading:
    if "valueCodeableConcept" in ext:
        issues.add(
            f"{path}.valueCodeableConcept",
            "is not the UK Core shape: give legalStatusContext and legalStatusClassification"
            " sub-extensions",
            "structure",
        )
        return LegalStatusReading(present=True)
    parts = {
        url: (p, part)
        for p, part in objects(ext, "extension", path, issues)
        if isinstance(url := part.get("url"), str)
    }
    context = _read_context(parts.get("legalStatusContext"), path, issues)
    classification = parts.get("legalStatusClassification")
    if classification is None:
        issues.add(f"{path}.extension('legalStatusClassification')", "is required", "required")
        return LegalStatusReading(present=True, context=context)
    part_path, part = classification
    concept = child_object(part, "valueCodeableConcept", part_path, issues, required=True)
    if concept is None:
        return LegalStatusReading(present=True, context=context)
    concept_path = f"{part_path}.valueCodeableConcept"
    found = list(codings(concept, concept_path, issues))
    if not found:
        issues.add(f"{concept_path}.coding", "is required", "required")
    for coding_path, system, code, display in found:
        if system not in _CODES:
            issues.add(
                f"{coding_path}.system",
                "is not a legal status code system"
                " (UKCore-LegalStatusClassificationEngland or -Wales)",
                "code-invalid",
            )
            continue
        if code is None or code not in _CODES[system]:
            issues.add(
                f"{coding_path}.code",
                "is not a code of its legal status code system",
                "code-invalid",
            )
            return LegalStatusReading(present=True, context=context)
        status = LegalStatus(system=system, code=code, display=display or display_for(system, code))
        return LegalStatusReading(True, status, coding_path, context)
    return LegalStatusReading(present=True, context=context)


def _read_context(found: tuple[str, JsonObject] | None, path: str, issues: Issues) -> str | None:
    if found is None:
        issues.add(f"{path}.extension('legalStatusContext')", "is required", "required")
        return None
    part_path, part = found
    concept = child_object(part, "valueCodeableConcept", part_path, issues, required=True)
    if concept is None:
        return None
    for coding_path, system, code, _ in codings(
        concept, f"{part_path}.valueCodeableConcept", issues
    ):
        if system != CONTEXT_SYSTEM:
            issues.add(f"{coding_path}.system", "is not UKCore-LegalStatusContext", "code-invalid")
        elif code not in CONTEXTS:
            issues.add(f"{coding_path}.code", "must be admission or discharge", "code-invalid")
        else:
            return code
    return None
