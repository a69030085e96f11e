"""The crash test's own checks (``benchmarks/crash.py``): a clean run passes, and each fault the
test exists to find is named in its problems, so the test can fail."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from benchmarks.council import Application
from benchmarks.crash import Sent, Stored, find_problems


@dataclass
class Run:
    """A run's observations, to spoil one way or another."""

    sent: list[Sent] = field(default_factory=list)
    log: list[Application] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[str, str]] = field(default_factory=list)
    outbox: list[tuple[str, str, bool]] = field(default_factory=list)
    verify: int = 0

    def problems(self) -> list[str]:
        return find_problems(
            self.sent, self.log, Stored(self.ledger, self.rows, self.outbox), self.verify
        )

    def drop_entry(self, exchange_id: str, event: str) -> None:
        self.ledger = [
            e for e in self.ledger if (e["exchange_id"], e["event"]) != (exchange_id, event)
        ]


def _clean_run() -> Run:
    """Two subjects, two messages each, everything as it should be."""
    run = Run()
    for subject in range(2):
        for order in range(2):
            n = subject * 2 + order
            s = Sent(subject, order, f"key-{n}", f"req-{n}", 1, 202, f"ex-{n}", 2)
            run.sent.append(s)
            run.log.append(Application(True, f"out-{n}", s.request_id, s.exchange_id))
            run.ledger += [
                {"event": "exchange.received", "exchange_id": s.exchange_id},
                {"event": "disclosure.decided", "exchange_id": s.exchange_id, "outcome": "permit"},
                {
                    "event": "delivery.attempted",
                    "exchange_id": s.exchange_id,
                    "outcome": "delivered",
                },
            ]
            run.rows.append((f"ex-{n}", s.request_id))
            run.outbox.append((f"ex-{n}", "delivered", False))
    return run


def test_a_clean_run_has_no_problems() -> None:
    assert [] == _clean_run().problems()


def _swap_first_two(run: Run) -> None:
    run.log[0], run.log[1] = run.log[1], run.log[0]


FAULTS: dict[str, tuple[Callable[[Run], None], str]] = {
    "refused": (
        lambda r: r.sent.__setitem__(3, dataclasses.replace(r.sent[3], status=422, error=None)),
        "subject 1 message 1: 422",
    ),
    "recorded twice": (
        lambda r: r.rows.append(("ex-1-again", "req-1")),
        "request req-1 is recorded as 2 exchanges",
    ),
    "never delivered": (
        lambda r: r.log.__delitem__(2),
        "exchange ex-2 was never delivered",
    ),
    "applied twice": (
        lambda r: r.log.append(Application(True, "out-2-again", "req-2", "ex-2")),
        "exchange ex-2 was applied 2 times",
    ),
    "unanswered exchange applied": (
        lambda r: r.log.append(Application(True, "out-9", "req-9", "ex-9")),
        "the council applied exchange ex-9, which no 2xx answered",
    ),
    "key applied twice": (
        lambda r: r.log.append(Application(True, "out-0", "req-9", "ex-9")),
        "Idempotency-Key out-0 applied 2 times",
    ),
    "out of order": (_swap_first_two, "subject 0: applied out of order: [1, 0]"),
    "request id lost": (
        lambda r: r.log.__setitem__(3, dataclasses.replace(r.log[3], request_id=None)),
        "exchange ex-3 was delivered without its X-Request-ID",
    ),
    "receipt missing": (
        lambda r: r.drop_entry("ex-0", "exchange.received"),
        "exchange ex-0: 0 receipts",
    ),
    "permit missing": (
        lambda r: r.drop_entry("ex-1", "disclosure.decided"),
        "exchange ex-1: no permit in the ledger",
    ),
    "entry count short": (
        lambda r: r.sent.__setitem__(1, dataclasses.replace(r.sent[1], ledger_entries=3)),
        "exchange ex-1: 2 ledger entries, its 202 said 3",
    ),
    "no delivered attempt": (
        lambda r: r.drop_entry("ex-3", "delivery.attempted"),
        "exchange ex-3: no delivered attempt in the ledger",
    ),
    "row left pending": (
        lambda r: r.outbox.__setitem__(0, ("ex-0", "pending", True)),
        "1 outbox rows left pending",
    ),
    "body kept": (
        lambda r: r.outbox.__setitem__(0, ("ex-0", "delivered", True)),
        "1 delivered outbox rows still hold their body",
    ),
    "ledger broken": (lambda r: setattr(r, "verify", 1), "joinedup audit verify exited 1"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_every_fault_is_reported(fault: str) -> None:
    """Each fault the crash test exists to find is named in its problems."""
    run = _clean_run()
    spoil, expected = FAULTS[fault]
    spoil(run)
    assert expected in run.problems()
