"""FHIR message parsing throughput, JSON and XML: the focused adapter against the floors and
against full fhir.resources validation, in one run.

    python -m benchmarks.fhir_parsing [--messages N] [--repeats R]

Parses the s136 crisis fixture (tests/fixtures/fhir/crisis-s136.json, and the same Bundle in FHIR
XML, crisis-s136.xml) N times with each of:

* ``orjson``: ``orjson.loads`` alone, the floor any JSON parser pays (the JSON baseline);
* ``adapter (JSON)``: ``FhirR4Adapter().parse``, the hot path (orjson + size/depth limits +
  focused checks + canonical facts + unmapped elements);
* ``adapter+models (JSON)``: ``FhirR4Adapter(validate_models=True).parse``, adding R4B
  validation;
* ``fhir.resources (JSON)``: ``Bundle.model_validate`` from ``fhir.resources.R4B`` on the loaded
  dict, which checks structure only and produces no canonical facts;
* ``lxml``: ``etree.fromstring`` with the adapter's safe parser, the XML floor (the XML baseline);
* ``adapter (XML)``: ``FhirR4Adapter().parse`` of the XML (lxml + FHIR XML to JSON + the rest);
* ``fhir.resources (XML)``: ``Bundle.model_validate_xml`` (validation only, no canonical facts).

Each is timed R times over N messages (bounded loops) and the best run is kept, which filters out
noise from other processes. Messages per second and the ratio to each format's floor are printed.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
from fhir.resources.R4B.bundle import Bundle
from lxml import etree

from adapters.base import ParseContext
from adapters.fhir_r4 import FhirR4Adapter
from adapters.fhir_r4.xmlread import safe_parser

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "fhir"
FIXTURE = FIXTURES / "crisis-s136.json"
XML_FIXTURE = FIXTURES / "crisis-s136.xml"
CONTEXT = ParseContext(partner="benchmark", received_at=datetime(2025, 3, 14, 23, 6, tzinfo=UTC))


def _best_rate(work: Callable[[], object], messages: int, repeats: int) -> float:
    """Messages per second of the fastest of ``repeats`` runs of ``messages`` calls."""
    work()  # warm-up: first-call imports and caches are not what is being measured
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(messages):
            work()
        best = min(best, time.perf_counter() - started)
    return messages / best


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per parser (best kept)")
    args = parser.parse_args(argv)
    body, xml = FIXTURE.read_bytes(), XML_FIXTURE.read_bytes()
    focused, with_models = FhirR4Adapter(), FhirR4Adapter(validate_models=True)
    if focused.parse(body, CONTEXT) != focused.parse(xml, CONTEXT):
        raise SystemExit("the JSON and XML fixtures no longer hold the same message")
    candidates: list[tuple[str, str, Callable[[], object]]] = [
        ("orjson", "orjson", lambda: orjson.loads(body)),
        ("adapter (JSON)", "orjson", lambda: focused.parse(body, CONTEXT)),
        ("adapter+models (JSON)", "orjson", lambda: with_models.parse(body, CONTEXT)),
        ("fhir.resources (JSON)", "orjson", lambda: Bundle.model_validate(orjson.loads(body))),
        ("lxml", "lxml", lambda: etree.fromstring(xml, parser=safe_parser())),
        ("adapter (XML)", "lxml", lambda: focused.parse(xml, CONTEXT)),
        ("fhir.resources (XML)", "lxml", lambda: Bundle.model_validate_xml(xml)),
    ]
    print(
        f"fixture {FIXTURE.name}: {len(body)} bytes ({XML_FIXTURE.name}: {len(xml)} bytes),"
        f" {len(orjson.loads(body)['entry'])} entries; {args.messages} messages x"
        f" {args.repeats} runs; Python {platform.python_version()}"
    )
    rates = {name: _best_rate(work, args.messages, args.repeats) for name, _, work in candidates}
    floors = {name: floor for name, floor, _ in candidates}
    print(f"{'parser':<24}{'messages/s':>12}{'us/message':>12}{'x its floor':>13}")
    for name, rate in rates.items():
        print(f"{name:<24}{rate:>12,.0f}{1e6 / rate:>12.1f}{rate / rates[floors[name]]:>13.4f}")
    print(
        f"adapter (JSON) is {rates['adapter (JSON)'] / rates['fhir.resources (JSON)']:.1f}x the"
        " rate of fhir.resources R4B validation of the same JSON;"
        f" adapter (XML) {rates['adapter (XML)'] / rates['fhir.resources (XML)']:.1f}x that of"
        " its XML validation; XML is read at"
        f" {rates['adapter (XML)'] / rates['adapter (JSON)']:.2f}x the JSON rate"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
