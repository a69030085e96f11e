"""Policy decisions per second over a realistic agreement set, and minimisation per second.

    python -m benchmarks.decisions [--requests N] [--repeats R] [--messages M] [--seed S]

Builds in memory 50 agreements with 500 flows between 20 organisations (8 NHS trusts, 12
councils; one agreement per trust-council pair, ten flows each). Every flow is a variation of one of
the flows the gateway ships (``deploy/agreements``): the same kinds, purposes, lawful bases and
element lists, with a subset of the purposes, a preset written out as its element list in about a
third of them, extra excluded labels, other retention periods and versions. The set is written to
a temporary directory and must pass ``joinedup agreements check`` (``check_directory``) before
anything is timed, so that it is a set the gateway would load.

A stream of N requests (sender, recipient, message kind, declared purpose: the pipeline refuses a
message that names none before asking ``decide``) mixes permits (about 60%) with the three
refusals ``decide`` makes: no agreement between the two organisations, an agreement that does not
cover the kind, or one that does not cover the purpose. Timed over the stream, the best of R runs kept:

* ``context``: the loop building each request's context (the keyword arguments ``decide`` is
  called with) and nothing else: the baseline;
* ``decide``: the same loop calling ``decide`` with that context;
* ``decide + conditions``: as the pipeline does it, ``apply_conditions`` after ``decide`` (no
  consent directives on record and no sharing request: the common case).

Then ``minimise`` on the shipped s136 crisis message (deploy/demo/messages/crisis-s136.json, read by
the FHIR adapter) under the shipped crisis-notice flow, M times, best of R.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from adapters.base import ParseContext
from adapters.fhir_r4 import FhirR4Adapter
from gateway.policy.agreements import check_directory, load_agreements
from gateway.policy.conditions import apply_conditions
from gateway.policy.engine import AgreementSet, decide
from gateway.policy.minimise import minimise
from schemas.agreement import ELEMENT_PRESETS, Agreement, Flow
from schemas.labels import Purpose, Sensitivity
from schemas.message import MessageKind

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "deploy" / "agreements"
CRISIS = REPO / "deploy" / "demo" / "messages" / "crisis-s136.json"
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
# Real mental health trust ODS codes and DfE LA codes, for realism only.
TRUSTS = ("RX9", "RXT", "RW4", "RT1", "RXM", "RV3", "RRP", "RWX")
COUNCILS = ("201", "202", "203", "204", "205", "206", "207", "208", "209", "210", "211", "212")
AGREEMENTS = 50
FLOWS_PER_AGREEMENT = 10
Request = tuple[str, str, MessageKind, Purpose]


def _vary(template: Flow, trust: str, council: str, rng: random.Random) -> dict[str, Any]:
    """One flow of a generated agreement: the template between these two organisations."""
    outbound = template.from_ == "RX9"  # the shipped agreement's trust
    flow = template.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    flow["from"], flow["to"] = (trust, council) if outbound else (council, trust)
    purposes = list(flow["purposes"])
    flow["purposes"] = rng.sample(purposes, rng.randint(1, len(purposes)))
    if template.preset is not None and rng.random() < 0.3:
        # The same elements written out: an explicit list instead of the preset.
        flow["elements"] = sorted({*ELEMENT_PRESETS[template.preset], *template.elements})
        del flow["preset"]
    extra = rng.sample([Sensitivity.VIO.value, Sensitivity.SDV.value], rng.randint(0, 2))
    flow["exclude_labels"] = sorted({*flow.get("exclude_labels", ()), *extra})
    flow["retention_days"] = rng.choice([365, 730, 1095, 2190])
    flow["subject_informed"] = rng.random() < 0.5
    return flow


def generate(seed: int) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """50 agreement documents (one per trust-council pair) and the pairs that have none."""
    rng = random.Random(seed)
    templates = [f for a in load_agreements(SHIPPED) for f in a.flows]
    if len(templates) < FLOWS_PER_AGREEMENT:
        raise SystemExit(f"the shipped agreements have {len(templates)} flows; need 10")
    pairs = [(t, c) for t in TRUSTS for c in COUNCILS]
    rng.shuffle(pairs)
    chosen, unused = pairs[:AGREEMENTS], pairs[AGREEMENTS:]
    documents = []
    for trust, council in chosen:
        flows = rng.sample(templates, FLOWS_PER_AGREEMENT)
        documents.append(
            {
                "id": f"{trust.lower()}-{council}-sharing",
                "version": rng.randint(1, 5),
                "title": f"Information sharing between trust {trust} and council {council}",
                "parties": [
                    {"code": trust, "partner": f"trust-{trust.lower()}", "name": f"Trust {trust}"},
                    {"code": council, "partner": f"council-{council}", "name": f"LA {council}"},
                ],
                "flows": [_vary(f, trust, council, rng) for f in flows],
            }
        )
    return documents, unused


def checked(documents: list[dict[str, Any]]) -> AgreementSet:
    """The agreements, after the same check ``joinedup agreements check`` runs on files, indexed
    as the gateway loads them (``load_agreements``)."""
    with tempfile.TemporaryDirectory() as tmp:
        for document in documents:
            path = Path(tmp) / f"{document['id']}.yaml"
            path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        result = check_directory(Path(tmp))
        if not result.valid:
            problems = "\n".join(str(p) for p in result.errors)
            raise SystemExit(f"the generated agreements do not pass the check:\n{problems}")
        return AgreementSet(result.agreements)


def requests(
    agreements: Sequence[Agreement], unused: list[tuple[str, str]], n: int, seed: int
) -> list[Request]:
    """A realistic stream: mostly permits, and each kind of refusal ``decide`` makes."""
    rng = random.Random(seed + 1)
    flows = [f for a in agreements for f in a.flows]
    covered: dict[tuple[str, str], set[MessageKind]] = {}
    for flow in flows:
        covered.setdefault((flow.from_, flow.to), set()).update(flow.message_kinds)
    stream: list[Request] = []
    while len(stream) < n:
        roll = rng.random()
        flow = rng.choice(flows)
        kind = rng.choice(flow.message_kinds)
        if roll < 0.60:  # permit, declaring one of the flow's purposes or none
            stream.append((flow.from_, flow.to, kind, rng.choice(flow.purposes)))
        elif roll < 0.75:  # an agreement covers the kind, but not this purpose
            others = [p for p in Purpose if p not in flow.purposes]
            if others:
                stream.append((flow.from_, flow.to, kind, rng.choice(others)))
        elif roll < 0.85:  # an agreement between the two, but not for this kind
            missing = [k for k in MessageKind if k not in covered[(flow.from_, flow.to)]]
            if missing:
                stream.append((flow.from_, flow.to, rng.choice(missing), rng.choice(flow.purposes)))
        else:  # two organisations with no agreement between them
            trust, council = rng.choice(unused)
            sender, recipient = (trust, council) if rng.random() < 0.5 else (council, trust)
            stream.append((sender, recipient, kind, rng.choice(list(Purpose))))
    return stream


def _best_rate(work: Callable[[], object], count: int, repeats: int) -> float:
    """Items per second of the fastest of ``repeats`` runs of ``work`` (which does ``count``)."""
    work()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return count / best


def _context(request: Request) -> dict[str, Any]:
    sender, recipient, kind, purpose = request
    return {"sender": sender, "recipient": recipient, "kind": kind, "purpose": purpose}


def main(argv: list[str] | None = None) -> None:
    """Generate, check, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests in the stream")
    parser.add_argument("--repeats", type=int, default=5, help="runs per loop (best kept)")
    parser.add_argument("--messages", type=int, default=20_000, help="minimise() calls per run")
    parser.add_argument("--seed", type=int, default=2026, help="seed for the generated set")
    args = parser.parse_args(argv)

    documents, unused = generate(args.seed)
    agreements = checked(documents)
    flows = [f for a in agreements for f in a.flows]
    organisations = {p.code for a in agreements for p in a.parties}
    stream = requests(agreements, unused, args.requests, args.seed)
    outcomes = Counter(
        "permit" if (d := decide(agreements, **_context(r))).permitted else str(d.reason_code)
        for r in stream
    )
    mix = ", ".join(f"{k} {v / len(stream):.0%}" for k, v in outcomes.most_common())
    print(
        f"{len(agreements)} agreements, {len(flows)} flows, {len(organisations)} organisations"
        f" (checked valid); {len(stream)} requests ({mix}); best of {args.repeats} runs;"
        f" Python {platform.python_version()}"
    )

    def context_loop() -> None:
        for request in stream:
            _context(request)

    def decide_loop() -> None:
        for request in stream:
            decide(agreements, **_context(request))

    unindexed = list(agreements)

    def scan_loop() -> None:  # the same agreements as a plain list: indexed on every call
        for request in stream:
            decide(unindexed, **_context(request))

    def conditions_loop() -> None:
        for request in stream:
            decision = decide(agreements, **_context(request))
            apply_conditions(decision, request=None, consents=(), subject_is_child=None, at=AT)

    rates = {
        "context (baseline)": _best_rate(context_loop, len(stream), args.repeats),
        "decide": _best_rate(decide_loop, len(stream), args.repeats),
        "decide, list (re-indexed)": _best_rate(scan_loop, len(stream), args.repeats),
        "decide + conditions": _best_rate(conditions_loop, len(stream), args.repeats),
    }
    baseline = rates["context (baseline)"]
    print(f"{'loop':<24}{'requests/s':>14}{'us/request':>12}{'x baseline':>12}")
    for name, rate in rates.items():
        print(f"{name:<24}{rate:>14,.0f}{1e6 / rate:>12.2f}{rate / baseline:>12.4f}")

    shipped = load_agreements(SHIPPED)
    crisis_flow = next(f for a in shipped for f in a.flows if f.id == "crisis-notice")
    context = ParseContext(partner="trust-demo", received_at=AT)
    message = FhirR4Adapter().parse(CRISIS.read_bytes(), context)
    kept = minimise(message.facts, crisis_flow)

    def minimise_loop() -> None:
        for _ in range(args.messages):
            minimise(message.facts, crisis_flow)

    rate = _best_rate(minimise_loop, args.messages, args.repeats)
    print(
        f"minimise, {CRISIS.name} ({len(message.facts)} facts: {len(kept.facts)} kept,"
        f" {len(kept.withheld)} withheld items) under flow {crisis_flow.id}:"
        f" {rate:,.0f} messages/s, {1e6 / rate:.1f} us/message"
        f" ({rate / rates['decide']:.3f}x the decide rate)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
