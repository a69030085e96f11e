"""Per-partner rate limits: a token bucket per partner, in each gateway process.

A partner's bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; each
request to the partner API takes one. With the bucket empty the request is refused with 429 and
``Retry-After`` (whole seconds until a token is back), before its body is read. The limits are
per process: N processes behind a load balancer let a partner through at up to N times the rate,
which operators allow for when setting it (docs/operators.md, "Rate limits").

A refusal is recorded in the ledger as ``access.refused`` (reason ``rate-limited``) at most once
per partner and reason a second, so a partner hammering the gateway cannot flood the ledger; the
log line and the metric count every one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.conventions import RateLimitSettings

Clock = Callable[[], float]


@dataclass(slots=True)
class TokenBucket:
    """Tokens refilled continuously at ``rate`` a second, up to ``burst``."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """The buckets of one process, by partner id (only configured partners ever get one)."""

    def __init__(self, settings: RateLimitSettings, clock: Clock = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, partner_id: str) -> int:
        """0 if the partner may go ahead (a token is taken), else Retry-After in whole seconds."""
        if not self._settings.enabled:
            return 0
        now = self._clock()
        bucket = self._buckets.get(partner_id)
        if bucket is None:
            limit = self._settings.for_partner(partner_id)
            bucket = TokenBucket(limit.rate, float(limit.burst), float(limit.burst), now)
            self._buckets[partner_id] = bucket
        wait = bucket.take(now)
        return 0 if wait == 0.0 else max(1, math.ceil(wait))


class RefusalRecorder:
    """Whether a refusal should be recorded: at most once per partner and reason per second."""

    def __init__(self, interval: float = 1.0, clock: Clock = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}

    def due(self, partner_id: str, reason: str) -> bool:
        """True (and remembered) if this partner's refusal for this reason should be recorded."""
        now = self._clock()
        key = (partner_id, reason)
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        self._last[key] = now
        return True
