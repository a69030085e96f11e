"""Prometheus metrics. Labels are codes, outcomes, partner ids and route templates only: never an
identifier, a case or exchange id, or a concrete path.

Two kinds of metric:

- **events**, counted as they happen: requests by route template and status (and their latency),
  exchanges by kind, decisions by outcome and reason code, delivery attempts by partner and
  outcome, dead-letterings by reason, replays;
- **state**, read from the database when ``/metrics`` is scraped (:class:`State`, set by the ops
  route just before rendering): outbox depth and oldest age by partner and status, dead letters,
  the ledger's size, its newest signed checkpoint and that checkpoint's age, and the group
  committer's totals.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Codes only reach a label if they look like codes: anything else is counted as "other", so a bug
# upstream can never put free text (or an identifier) into a label.
_CODE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
OUTBOX_STATUSES = ("pending", "retrying", "dead")
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def code_label(value: str) -> str:
    """``value`` if it is shaped like a code (lower-case, digits, ``.-_``), else ``other``."""
    return value if _CODE.match(value) else "other"


@dataclass(frozen=True, slots=True)
class Backlog:
    """Undelivered outbox rows of one partner in one state (``pending``: never yet attempted;
    ``retrying``: failed at least once, waiting for its next attempt; ``dead``: dead-lettered)."""

    partner: str
    status: str
    rows: int
    oldest_age: float  # seconds since the oldest of them was written


@dataclass(frozen=True, slots=True)
class State:
    """What the database and the committer say, read once per scrape."""

    backlog: tuple[Backlog, ...] = ()
    partners: tuple[str, ...] = ()  # configured partners: each gets a series even when idle
    ledger_entries: int | None = None
    checkpoint_size: int | None = None
    checkpoint_age: float | None = None
    commit_batches: int = 0
    committed_units: int = 0
    database_up: bool = True


@dataclass(eq=False)  # a registry keys its collectors by identity
class _StateCollector(Collector):
    state: State = field(default_factory=State)

    def collect(self) -> Iterator[Metric]:
        state = self.state
        up = GaugeMetricFamily(
            "joinedup_metrics_database_up",
            "1 if the database answered the queries behind the state metrics of this scrape.",
        )
        up.add_metric([], 1.0 if state.database_up else 0.0)
        yield up
        batches = CounterMetricFamily(
            "joinedup_ledger_commit_batches",
            "Transactions the group committer of this process has committed.",
        )
        batches.add_metric([], float(state.commit_batches))
        yield batches
        units = CounterMetricFamily(
            "joinedup_ledger_committed_units",
            "Units of work (exchanges, attempts, views, ...) this process's committer committed.",
        )
        units.add_metric([], float(state.committed_units))
        yield units
        if not state.database_up:
            return
        rows = GaugeMetricFamily(
            "joinedup_outbox_rows",
            "Undelivered outbox rows, by recipient partner and status (pending, retrying, dead).",
            labels=["partner", "status"],
        )
        ages = GaugeMetricFamily(
            "joinedup_outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox row, by recipient partner and status.",
            labels=["partner", "status"],
        )
        dead = GaugeMetricFamily(
            "joinedup_dead_letters",
            "Dead-lettered deliveries waiting for an operator, by recipient partner.",
            labels=["partner"],
        )
        found = {(b.partner, b.status): b for b in state.backlog}
        partners = sorted({*state.partners, *(b.partner for b in state.backlog)})
        for partner in partners:
            label = code_label(partner)
            for status in OUTBOX_STATUSES:
                entry = found.get((partner, status))
                rows.add_metric([label, status], float(entry.rows) if entry else 0.0)
                ages.add_metric([label, status], entry.oldest_age if entry else 0.0)
            dead_entry = found.get((partner, "dead"))
            dead.add_metric([label], float(dead_entry.rows) if dead_entry else 0.0)
        yield rows
        yield ages
        yield dead
        if state.ledger_entries is not None:
            entries = GaugeMetricFamily(
                "joinedup_ledger_entries", "Entries in the audit ledger (the head's sequence)."
            )
            entries.add_metric([], float(state.ledger_entries))
            yield entries
        if state.checkpoint_size is not None and state.checkpoint_age is not None:
            size = GaugeMetricFamily(
                "joinedup_ledger_checkpoint_size", "Tree size of the newest signed checkpoint."
            )
            size.add_metric([], float(state.checkpoint_size))
            yield size
            age = GaugeMetricFamily(
                "joinedup_ledger_checkpoint_age_seconds",
                "Seconds since the newest signed checkpoint was made.",
            )
            age.add_metric([], state.checkpoint_age)
            yield age


class Metrics:
    """One registry per app, so tests and several apps in one process stay independent."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "joinedup_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "joinedup_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            ["method", "route", "status"],
            buckets=_HTTP_BUCKETS,
            registry=self.registry,
        )
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
            "Delivery attempts, by recipient partner and outcome (delivered, retry, dead).",
            ["partner", "outcome"],
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "joinedup_delivery_attempt_seconds",
            "Time of one delivery attempt (the POST to the recipient), by recipient partner.",
            ["partner"],
            buckets=_HTTP_BUCKETS,
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "joinedup_delivery_dead_lettered_total",
            "Deliveries dead-lettered, by partner and reason (max-attempts, unsealable).",
            ["partner", "reason"],
            registry=self.registry,
        )
        self.replays = Counter(
            "joinedup_delivery_replays_total",
            "Dead-lettered deliveries an operator put back in the outbox, by recipient partner.",
            ["partner"],
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
        self._state = _StateCollector()
        self.registry.register(self._state)

    def set_state(self, state: State) -> None:
        """What the next rendering reports for the state metrics (set by the ``/metrics`` route
        just before it renders)."""
        self._state.state = state

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request under its route template (never the concrete path)."""
        labels = (method if method.isalpha() and len(method) <= 10 else "other", route, str(status))
        self.requests.labels(*labels).inc()
        self.request_seconds.labels(*labels).observe(seconds)


def route_template(request: web.Request) -> str:
    """The matched route's template (``/review/persons/{person_id}``), or ``(unmatched)``."""
    # SECURITY: the template, never the concrete path or query, which may hold identifiers.
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return "(unmatched)"
    return resource.canonical


def request_metrics(metrics: Metrics) -> Middleware:
    """A middleware counting every answer (the outermost, so it sees each final status)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.observe_request(
                request.method, route_template(request), status, time.perf_counter() - started
            )

    return middleware
