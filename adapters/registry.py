"""The adapters a gateway starts with, by name: one explicit list, no registration by import."""

from __future__ import annotations

from adapters.base import Adapter
from adapters.csc import CscAdapter
from adapters.fhir_r4 import FhirR4Adapter


def default_adapters(*, validate_fhir_models: bool = False) -> dict[str, Adapter]:
    """Every production adapter, keyed by its ``name``.

    ``validate_fhir_models`` adds full ``fhir.resources`` R4B validation of every FHIR message to
    the adapter's own checks (about five times the parsing cost; see benchmarks/fhir_parsing.py).
    """
    adapters: list[Adapter] = [FhirR4Adapter(validate_models=validate_fhir_models), CscAdapter()]
    return {adapter.name: adapter for adapter in adapters}
