"""FHIR R4 (UK Core) messages: a mental health trust's side of the gateway."""

from __future__ import annotations

from adapters.fhir_r4.adapter import FhirR4Adapter
from adapters.fhir_r4.people import patient_to_person, related_person_to_facts

__all__ = ["FhirR4Adapter", "patient_to_person", "related_person_to_facts"]
