"""The adapters a gateway starts with, by name: one explicit list, no registration by import."""

from __future__ import annotations

from adapters.base import Adapter
from adapters.csc import CscAdapter
from adapters.fhir_r4 import FhirR4Adapter


def default_adapters() -> dict[str, Adapter]:
    """Every production adapter, keyed by its ``name``."""
    adapters: list[Adapter] = [FhirR4Adapter(), CscAdapter()]
    return {adapter.name: adapter for adapter in adapters}
