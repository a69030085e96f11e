"""Prometheus metrics. Labels are codes and outcomes only, never identifiers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    """One registry per app, so tests and several apps in one process stay independent."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.exchanges = Counter(
            "joinedup_exchanges_total",
            "Partner messages accepted, by message kind.",
            ["kind"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "joinedup_decisions_total",
            "Disclosure decisions, by outcome and reason code.",
            ["outcome", "reason_code"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "joinedup_delivery_attempts_total",
            "Delivery attempts, by outcome (delivered, retry, dead).",
            ["outcome"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "joinedup_requests_rejected_total",
            "Requests rejected before any commit, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "joinedup_exchange_seconds",
            "Time from receipt to the 202, through the whole pipeline.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
