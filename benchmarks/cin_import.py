"""CIN census import throughput against a bare lxml iterparse of the same file, same run.

    python -m benchmarks.cin_import [--children N] [--repeats R] [--database URL [--schema S]]

Writes a synthetic return of N children (synthetic identifiers only) to a temporary directory and
times, on that one file:

* ``iterparse``: ``lxml.etree.iterparse`` on ``end`` events for ``Child`` with the reader's safe
  options, clearing each child and dropping the ones before it: the floor any streaming reader
  pays (the baseline);
* ``reader``: ``CinCensusReader`` alone, no database: prolog check, every value checked, one
  canonical message per child;
* ``import``: ``import_cin_census`` into an empty database (a temporary SQLite file by default),
  through the group committer, index learning included;
* ``re-import``: the same file again, where the index already holds everything (idempotent).

Reader rows are the best of R runs; the imports run once each (a second run is the re-import).
Children per second and the ratio to the iterparse rate are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from adapters.cin_census import SAFE_PARSER_OPTIONS, CinCensusReader
from gateway.imports import import_cin_census
from gateway.settings import Settings

_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<Message>
  <Header>
    <CollectionDetails>
      <Collection>CIN</Collection>
      <Year>2024</Year>
      <ReferenceDate>2024-03-31</ReferenceDate>
    </CollectionDetails>
    <Source>
      <SourceLevel>L</SourceLevel>
      <LEA>{la_code}</LEA>
    </Source>
  </Header>
  <Children>
"""
_CHILD = """    <Child>
      <ChildIdentifiers>
        <LAchildID>SYN{n:09d}</LAchildID>
        <UPN>A{n:012d}</UPN>
        <PersonBirthDate>2015-0{month}-1{day}</PersonBirthDate>
        <GenderCurrent>{sex}</GenderCurrent>
      </ChildIdentifiers>
      <ChildCharacteristics>
        <Ethnicity>{ethnicity}</Ethnicity>
        <Disabilities>
          <Disability>NONE</Disability>
        </Disabilities>
      </ChildCharacteristics>
      <CINdetails>
        <CINreferralDate>2023-0{month}-0{day}</CINreferralDate>
        <ReferralSource>{source}</ReferralSource>
        <PrimaryNeedCode>N{need}</PrimaryNeedCode>
        <Assessments>
          <AssessmentActualStartDate>2023-0{month}-1{day}</AssessmentActualStartDate>
          <AssessmentAuthorisationDate>2023-0{month}-2{day}</AssessmentAuthorisationDate>
          <FactorsIdentifiedAtAssessment>
            <AssessmentFactors>4B</AssessmentFactors>
            <AssessmentFactors>{factor}</AssessmentFactors>
          </FactorsIdentifiedAtAssessment>
        </Assessments>
        <Section47>
          <S47ActualStartDate>2023-0{month}-1{day}</S47ActualStartDate>
          <InitialCPCtarget>2023-0{month}-2{day}</InitialCPCtarget>
          <DateOfInitialCPC>2023-0{month}-2{day}</DateOfInitialCPC>
          <ICPCnotRequired>false</ICPCnotRequired>
        </Section47>
        <ReferralNFA>false</ReferralNFA>
        <ChildProtectionPlans>
          <CPPstartDate>2023-0{month}-2{day}</CPPstartDate>
          <InitialCategoryOfAbuse>{category}</InitialCategoryOfAbuse>
          <LatestCategoryOfAbuse>{category}</LatestCategoryOfAbuse>
          <NumberOfPreviousCPP>0</NumberOfPreviousCPP>
        </ChildProtectionPlans>
      </CINdetails>
    </Child>
"""
_FOOTER = "  </Children>\n</Message>\n"
_SOURCES = ("1A", "2A", "3A", "3B", "3E", "5A", "6", "8")
_ETHNICITIES = ("WBRI", "WIRI", "MWBC", "AIND", "BCRB", "CHNE", "OOTH", "WROM")
_FACTORS = ("15A", "2B", "3A", "1B", "6B", "4A")
_CATEGORIES = ("NEG", "PHY", "SAB", "EMO", "MUL")


def synthetic_return(path: Path, children: int, *, la_code: str = "999") -> int:
    """Write a valid CIN census return of ``children`` synthetic children; return its size."""
    with path.open("w", encoding="utf-8") as out:
        out.write(_HEADER.format(la_code=la_code))
        for n in range(children):
            out.write(
                _CHILD.format(
                    n=n,
                    month=1 + n % 9,
                    day=1 + n % 8,
                    sex="12"[n % 2],
                    ethnicity=_ETHNICITIES[n % len(_ETHNICITIES)],
                    source=_SOURCES[n % len(_SOURCES)],
                    need=1 + n % 9,
                    factor=_FACTORS[n % len(_FACTORS)],
                    category=_CATEGORIES[n % len(_CATEGORIES)],
                )
            )
        out.write(_FOOTER)
    return path.stat().st_size


def bare_iterparse(path: Path) -> int:
    """Children in ``path`` by a minimal streaming loop (the baseline)."""
    count = 0
    for _event, el in etree.iterparse(
        str(path), events=("end",), tag="Child", **SAFE_PARSER_OPTIONS
    ):
        count += 1
        el.clear()
        parent = el.getparent()
        while parent is not None and el.getprevious() is not None:
            del parent[0]
    return count


def reader_only(path: Path) -> int:
    """Children mapped to canonical messages by the reader (no database)."""
    return sum(1 for result in CinCensusReader(path) if result.message is not None)


def _best(work: Callable[[], int], repeats: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        count = work()
        best = min(best, time.perf_counter() - started)
    return best, count


def _import(path: Path, database_url: str, schema: str | None) -> tuple[float, int]:
    settings = Settings(database_url=database_url, database_schema=schema)
    started = time.perf_counter()
    report = asyncio.run(import_cin_census([path], settings, progress=False))
    elapsed = time.perf_counter() - started
    if report.exit_code != 0:
        raise SystemExit(f"the synthetic return did not import cleanly: {report.problems[:3]}")
    return elapsed, report.files[0].imported


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print a table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--children", type=int, default=20_000, help="children in the file")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the parsers (best kept)")
    parser.add_argument(
        "--database", help="SQLAlchemy URL of an empty database (default: a temporary SQLite)"
    )
    parser.add_argument("--schema", help="PostgreSQL schema to use (empty; it must exist)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cin-synthetic.xml"
        size = synthetic_return(path, args.children)
        database = args.database or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        rows: list[tuple[str, float, int]] = []
        base, count = _best(lambda: bare_iterparse(path), args.repeats)
        rows.append(("iterparse (baseline)", base, count))
        rows.append(("reader (no database)", *_best(lambda: reader_only(path), args.repeats)))
        rows.append(("import (empty index)", *_import(path, database, args.schema)))
        rows.append(("re-import (idempotent)", *_import(path, database, args.schema)))
    print(
        f"CIN census import: {args.children} children, {size / 1e6:.1f} MB, "
        f"Python {platform.python_version()}, lxml {'.'.join(map(str, etree.LXML_VERSION))}, "
        f"database {database.split(':', 1)[0] if args.database else 'SQLite (temporary file)'}"
    )
    print(f"{'':24} {'children/s':>12} {'ratio to iterparse':>20}")
    base_rate = count / base
    for name, seconds, children in rows:
        rate = children / seconds
        print(f"{name:24} {rate:12,.0f} {rate / base_rate:20.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
