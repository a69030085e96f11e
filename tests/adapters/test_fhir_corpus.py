"""Conformance: every UK Core example in ``../shared/corpus/uk-core/`` (published implementer
examples, XML) translates to canonical or is refused with a specific reason, file by file.

The corpus is not part of the project: where it is absent these tests skip. The counts by outcome
are the ``CONFORMANCE`` table of ``adapters/fhir_r4/mapping.py``, printed in
docs/mappings/fhir-r4.md; the last test keeps the two in step.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from adapters.fhir_r4 import FhirR4Adapter
from adapters.fhir_r4.mapping import CONFORMANCE
from gateway.errors import InvalidMessage
from schemas.message import MessageKind
from tests.adapters.helpers import TRUST

pytestmark = pytest.mark.corpus

UK_CORE = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "uk-core"
ADAPTER = FhirR4Adapter()

TRANSLATED = "translated (a record update)"
OUTSIDE = "refused: a reference it must follow leads outside the example"
UNCARRIED = "refused: only resource types the canonical model does not carry"
NO_IDENTIFIER = "refused: no NHS number, LA child id or UPN to match the person on"
CHECK_DIGIT = "refused: the NHS number's check digit is wrong"
NOT_REFERRAL = "refused: not a referral to children's social care"
NOT_MEETING = "refused: not a cross-agency meeting"
NO_ROLE = "refused: no role the canonical model carries"
NOT_ABOUT_REFERRAL = "refused: a Task not about a referral"
NOTIFICATION = "refused: a notification, whose content is not carried"
QUERIES = "refused: a batch of queries, which carry no facts"
SEARCHSET = "refused: a search result Bundle is not an input"

_OUTSIDE = "does not resolve to a resource in the message"
_TYPE = "resources are not carried by the canonical model"
_NOT_REFERRAL = "not a referral to children's social care (referral-category code)"
_NO_IDENTIFIER = "must include an NHS number, LA child id or UPN the gateway can match"

# file -> (outcome, facts when translated, or (element, reason) of the first issue when refused)
EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "UKCore-Appointment-OrthopaedicSurgery-Example.xml": (
        NOT_MEETING,
        ("Appointment", "not a cross-agency meeting: no meeting-kind code"),
    ),
    "UKCore-AuditEvent-Query-Example.xml": (UNCARRIED, ("AuditEvent", f"AuditEvent {_TYPE}")),
    "UKCore-Bundle-AllergyList-Example.xml": (
        UNCARRIED,
        ("Bundle.entry[0].resource", f"List {_TYPE}"),
    ),
    "UKCore-Bundle-Batch-Example.xml": (
        QUERIES,
        ("Bundle.entry[0]", "a request without a resource carries no fact"),
    ),
    "UKCore-Bundle-BatchPOST-Example.xml": (
        UNCARRIED,
        ("Bundle.entry[0].resource", f"Observation {_TYPE}"),
    ),
    "UKCore-Bundle-NEWS2Observations-Example.xml": (
        UNCARRIED,
        ("Bundle.entry[0].resource", f"Observation {_TYPE}"),
    ),
    "UKCore-Bundle-Sn-NoAllergyData-Example.xml": (
        SEARCHSET,
        ("Bundle.type", "must be message, collection, batch or transaction"),
    ),
    "UKCore-CarePlan-WellnessPlan-Example.xml": (UNCARRIED, ("CarePlan", f"CarePlan {_TYPE}")),
    "UKCore-CareTeam-WeightManagementTeam-Example.xml": (
        NO_ROLE,
        ("CareTeam", "no participant of this care team is a worker role the message holds"),
    ),
    "UKCore-Communication-FirstMMRVaccination-Example.xml": (
        NOTIFICATION,
        ("Communication", "a notification: what it says is not carried, only what it is about"),
    ),
    "UKCore-Condition-BleedingFromEar-Example.xml": (
        OUTSIDE,
        ("Condition.subject.reference", _OUTSIDE),
    ),
    "UKCore-Condition-HipReplacement-Example.xml": (
        OUTSIDE,
        ("Condition.subject.reference", _OUTSIDE),
    ),
    "UKCore-Consent-ForInformationAccess-Example.xml": (
        OUTSIDE,
        ("Consent.patient.reference", _OUTSIDE),
    ),
    "UKCore-Encounter-InpatientEncounter-Example.xml": (
        OUTSIDE,
        ("Encounter.subject.reference", _OUTSIDE),
    ),
    "UKCore-EpisodeOfCare-SmokingCessationTherapy-Example.xml": (
        OUTSIDE,
        ("EpisodeOfCare.patient.reference", _OUTSIDE),
    ),
    "UKCore-Flag-FoodAllergy-Example.xml": (OUTSIDE, ("Flag.subject.reference", _OUTSIDE)),
    "UKCore-HealthcareService-OrthopaedicService-Example.xml": (
        UNCARRIED,
        ("HealthcareService", f"HealthcareService {_TYPE}"),
    ),
    "UKCore-MessageHeader-Discharge-Example.xml": (
        UNCARRIED,
        ("MessageHeader", "a MessageHeader is read only as the first entry of a message Bundle"),
    ),
    "UKCore-Organization-LeedsTeachingHospital-Example.xml": (TRANSLATED, ("organisation",)),
    "UKCore-Organization-WhiteRoseMedicalCentre-Example.xml": (TRANSLATED, ("organisation",)),
    "UKCore-Patient-BabyPatient-Example.xml": (
        CHECK_DIGIT,
        ("Patient.identifier[0].value", "the NHS number's check digit is wrong"),
    ),
    "UKCore-Patient-RichardSmith-Example.xml": (TRANSLATED, ("person",)),
    "UKCore-Patient-Sn-Makaton-Example.xml": (
        NO_IDENTIFIER,
        ("Patient.identifier", _NO_IDENTIFIER),
    ),
    "UKCore-Patient-Sn-MultipleLanguages-Example.xml": (
        NO_IDENTIFIER,
        ("Patient.identifier", _NO_IDENTIFIER),
    ),
    "UKCore-Patient-Sn-Photo-Example.xml": (NO_IDENTIFIER, ("Patient.identifier", _NO_IDENTIFIER)),
    "UKCore-Patient-Sn-SingleLanguage-Example.xml": (
        NO_IDENTIFIER,
        ("Patient.identifier", _NO_IDENTIFIER),
    ),
    "UKCore-Practitioner-ConsultantSandraGose-Example.xml": (TRANSLATED, ("worker",)),
    "UKCore-Practitioner-DoctorPaulRastall-Example.xml": (TRANSLATED, ("worker",)),
    "UKCore-Practitioner-PharmacistJimmyChuck-Example.xml": (TRANSLATED, ("worker",)),
    "UKCore-Practitioner-Sn-Photo-Example.xml": (TRANSLATED, ("worker",)),
    "UKCore-Practitioner-Sn-Qualification-Example.xml": (TRANSLATED, ("worker",)),
    "UKCore-PractitionerRole-GeneralPractitioner-Example.xml": (
        NO_ROLE,
        (
            "PractitionerRole",
            "not a worker role: names no role the canonical model carries (Joined-up"
            " worker-role codes)",
        ),
    ),
    # The role names no canonical role; its organisation, by ODS code, is what translates.
    "UKCore-PractitionerRole-Sn-Organization-Code-Example.xml": (TRANSLATED, ("organisation",)),
    "UKCore-Provenance-RARecordConsent-Example.xml": (
        UNCARRIED,
        ("Provenance", f"Provenance {_TYPE}"),
    ),
    "UKCore-RelatedPerson-JoySmith-Example.xml": (
        OUTSIDE,
        ("RelatedPerson.patient.reference", _OUTSIDE),
    ),
    "UKCore-ServiceRequest-CTChestScan-Example.xml": (
        NOT_REFERRAL,
        ("ServiceRequest", _NOT_REFERRAL),
    ),
    "UKCore-ServiceRequest-ColonoscopyRequest-Example.xml": (
        NOT_REFERRAL,
        ("ServiceRequest", _NOT_REFERRAL),
    ),
    "UKCore-ServiceRequest-ECG-Example.xml": (NOT_REFERRAL, ("ServiceRequest", _NOT_REFERRAL)),
    "UKCore-ServiceRequest-HipReplacement-Example.xml": (
        NOT_REFERRAL,
        ("ServiceRequest", _NOT_REFERRAL),
    ),
    "UKCore-ServiceRequest-Lab-CReactiveProtein-Example.xml": (
        NOT_REFERRAL,
        ("ServiceRequest", _NOT_REFERRAL),
    ),
    "UKCore-Task-Colonoscopy-Example.xml": (
        NOT_ABOUT_REFERRAL,
        ("Task", "not about a referral in the message"),
    ),
}


def _files() -> list[str]:
    return sorted(p.name for p in UK_CORE.glob("*.xml")) if UK_CORE.is_dir() else []


def _present() -> None:
    if not UK_CORE.is_dir():
        pytest.skip(f"shared corpus absent: {UK_CORE.resolve()}")


def outcome(name: str) -> tuple[str, tuple[str, ...]]:
    """What the adapter makes of one example: its facts, or the first issue of its refusal."""
    try:
        message = ADAPTER.parse(UK_CORE.joinpath(name).read_bytes(), TRUST)
    except InvalidMessage as refused:
        first = refused.issues[0]
        label = next(
            (o for o, detail in EXPECTED.values() if detail == (first.element, first.reason)),
            "(unexpected refusal)",
        )
        return label, (first.element, first.reason)
    assert MessageKind.RECORD_UPDATE == message.kind
    return TRANSLATED, tuple(f.fact for f in message.facts)


@pytest.mark.parametrize("name", _files() or ["(absent)"])
def test_each_uk_core_example_translates_or_is_refused_for_its_reason(name: str) -> None:
    """The outcome of each file is the one in the table: its facts, or the specific refusal."""
    _present()
    assert EXPECTED.get(name, ("(not in the table)", ())) == outcome(name)


def test_the_table_covers_exactly_the_corpus() -> None:
    """No file of the corpus is left out of the table, and the table names no missing file."""
    _present()
    assert sorted(EXPECTED) == _files()


def test_the_documented_counts_are_the_corpus_counts() -> None:
    """describe.CONFORMANCE (and so docs/mappings/fhir-r4.md) counts the outcomes truly."""
    _present()
    counts = Counter(outcome(name)[0] for name in _files())
    assert sorted(CONFORMANCE) == sorted(counts.items())
