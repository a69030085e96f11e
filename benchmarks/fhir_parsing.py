"""FHIR message parsing throughput: the focused adapter against full fhir.resources validation.

    python -m benchmarks.fhir_parsing [--messages N] [--repeats R]

Parses the s136 crisis fixture N times with each of:

* ``orjson``: ``orjson.loads`` alone, the floor any JSON parser pays (the baseline);
* ``adapter``: ``FhirR4Adapter().parse``, the hot path (orjson + focused checks + canonical facts);
* ``adapter+models``: ``FhirR4Adapter(validate_models=True).parse``, adding R4B model validation;
* ``fhir.resources``: ``Bundle.model_validate`` from ``fhir.resources.R4B`` on the loaded dict,
  which checks structure only and produces no canonical facts.

Each is timed R times over N messages (bounded loops) and the best run is kept, which filters out
noise from other processes. Messages per second and the ratio to the orjson rate are printed.
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

from adapters.base import ParseContext
from adapters.fhir_r4 import FhirR4Adapter

FIXTURE = (
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "fhir" / "crisis-s136.json"
)
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
    body = FIXTURE.read_bytes()
    focused, with_models = FhirR4Adapter(), FhirR4Adapter(validate_models=True)
    candidates: list[tuple[str, Callable[[], object]]] = [
        ("orjson", lambda: orjson.loads(body)),
        ("adapter", lambda: focused.parse(body, CONTEXT)),
        ("adapter+models", lambda: with_models.parse(body, CONTEXT)),
        ("fhir.resources", lambda: Bundle.model_validate(orjson.loads(body))),
    ]
    print(
        f"fixture {FIXTURE.name}: {len(body)} bytes, {len(orjson.loads(body)['entry'])} entries;"
        f" {args.messages} messages x {args.repeats} runs; Python {platform.python_version()}"
    )
    rates = {name: _best_rate(work, args.messages, args.repeats) for name, work in candidates}
    baseline = rates["orjson"]
    print(f"{'parser':<16}{'messages/s':>12}{'us/message':>12}{'x orjson rate':>15}")
    for name, rate in rates.items():
        print(f"{name:<16}{rate:>12,.0f}{1e6 / rate:>12.1f}{rate / baseline:>15.4f}")
    print(
        f"adapter is {rates['adapter'] / rates['fhir.resources']:.1f}x the rate of"
        " fhir.resources R4B validation"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
