"""Conformance: every DfE CIN census return in ``../shared/corpus/cin-census`` (fake returns from
data-to-insight's CIN validator, some faulty on purpose) imports or is reported precisely.

Absent for users of the project: skipped with a plain message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.cin_census import Effect
from gateway.imports import import_cin_census
from tests.conftest import Database, make_settings

pytestmark = pytest.mark.corpus

CORPUS = Path(__file__).resolve().parent.parent / ".." / "shared" / "corpus" / "cin-census"

_HEADER = (6, "/Message/Header/CollectionDetails/ReferenceDate", Effect.REPORTED)  # Year 2023
_STRAY = (23, "/Message/Children/Child[1]/ChildIdentifiers/UPNunknown", Effect.REPORTED)
_NEW_SCHEMA = [  # the 2024 and 2026 files: Sex 1 (a GenderCurrent code), factor RB, empty factors
    _HEADER,
    _STRAY,
    (25, "/Message/Children/Child[1]/ChildIdentifiers/Sex", Effect.VALUE_LEFT_OUT),
    (
        46,
        "/Message/Children/Child[1]/CINdetails[1]/Assessments[1]/FactorsIdentifiedAtAssessment/"
        "AssessmentFactors[2]",
        Effect.EPISODE_SKIPPED,
    ),
]
_EMPTY_FACTORS = (
    "/Message/Children/Child[2]/CINdetails[1]/Assessments[1]/FactorsIdentifiedAtAssessment"
)

# file -> (children read, children imported, problems as (line, element, effect))
EXPECTED: dict[str, tuple[int, int, list[tuple[int, str, Effect]]]] = {
    "CIN2rows.xml": (1, 1, [_HEADER, _STRAY]),
    "CIN_Census_2021.xml": (1, 1, [_STRAY]),
    "CIN_Census_2021_copy.xml": (1, 1, [_HEADER, _STRAY]),
    "CIN_Census_2021_no_assessment_factors.xml": (1, 1, [_HEADER, _STRAY]),
    "CIN_Census_2024.xml": (2, 2, [*_NEW_SCHEMA, (95, _EMPTY_FACTORS, Effect.EPISODE_SKIPPED)]),
    "CIN_Census_2026.xml": (2, 2, [*_NEW_SCHEMA, (107, _EMPTY_FACTORS, Effect.EPISODE_SKIPPED)]),
    "CIN_header_issues_100.xml": (1, 1, [_HEADER, _STRAY]),  # ReferenceDate 28 March
    "CIN_la_issues_2887Q.xml": (1, 1, [_STRAY]),  # an LA-level query the importer does not run
    "fake_CIN_data.xml": (332, 332, [_HEADER]),  # ReferenceDate in July
}


def _files() -> list[Path]:
    return sorted(CORPUS.glob("*.xml")) if CORPUS.is_dir() else []


def test_every_corpus_file_has_an_expected_result() -> None:
    """A file added to the corpus must be added to the table above."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus absent: {CORPUS.resolve()}")
    assert sorted(EXPECTED) == [p.name for p in _files()]


async def test_every_corpus_return_imports_or_reports_precisely(database: Database) -> None:
    """Children read and imported, and each problem's line, element and effect, per file."""
    files = _files()
    if not files:
        pytest.skip(f"shared corpus absent: {CORPUS.resolve()}")
    report = await import_cin_census(files, make_settings(database), progress=False)
    found = {
        Path(f.path).name: (
            f.children,
            f.imported,
            [(p.line, p.element, p.effect) for p in f.problems],
        )
        for f in report.files
    }
    assert EXPECTED == found
    for file in report.files:
        assert not file.refused
        assert all(p.file == file.path and p.line > 0 for p in file.problems)
