"""The FHIR mapping page is generated from the adapter's description, and kept so."""

from __future__ import annotations

from pathlib import Path

from adapters.fhir_r4 import FhirR4Adapter
from adapters.fhir_r4.mapping import MAPPING, markdown

PAGE = Path(__file__).resolve().parents[2] / "docs" / "mappings" / "fhir-r4.md"


def test_the_committed_mapping_page_is_the_generated_one() -> None:
    """docs/mappings/fhir-r4.md equals `python -m adapters.fhir_r4.describe` output: regenerate
    it after changing the mapping or the conformance counts."""
    assert markdown() == PAGE.read_text(encoding="utf-8")


def test_describe_is_the_mapping_and_every_row_names_both_sides() -> None:
    """describe() returns the table the page is made from; no row lacks a source or a target."""
    rows = FhirR4Adapter().describe()
    assert (MAPPING, []) == (rows, [r for r in rows if not (r.source and r.canonical)])
