"""Settings for the partner API's request conventions: limits, rate limits and idempotency keys.

Kept apart from the middlewares that apply them (``gateway/middlewares.py``,
``gateway/ratelimit.py``, ``gateway/idempotency.py``) so that ``gateway/settings.py`` can hold
them without importing the request machinery. See docs/operators.md, "Request conventions".
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class LimitSettings(BaseModel):
    """What a request may cost to read, on top of ``max_body_bytes`` (every body, 413)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # JSON bodies on the partner API's JSON routes (the FHIR door has its own, equal, limits).
    json_max_bytes: Annotated[int, Field(gt=0)] = 1_048_576
    json_max_depth: Annotated[int, Field(ge=2, le=512)] = 64
    # Seconds a request body may take to arrive once its headers have (408 after).
    body_read_timeout: Annotated[float, Field(gt=0)] = 30.0


class PartnerRate(BaseModel):
    """One partner's own rate limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: Annotated[float, Field(gt=0)]  # requests per second, sustained
    burst: Annotated[int, Field(ge=1)]  # requests at once, after a quiet spell


class RateLimitSettings(BaseModel):
    """Per-partner token buckets, each gateway process keeping its own (see ratelimit.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    rate: Annotated[float, Field(gt=0)] = 50.0
    burst: Annotated[int, Field(ge=1)] = 100
    partners: dict[str, PartnerRate] = Field(default_factory=dict)  # by partner id

    def for_partner(self, partner_id: str) -> PartnerRate:
        """The partner's own limit, or the default."""
        return self.partners.get(partner_id) or PartnerRate(rate=self.rate, burst=self.burst)


class IdempotencySettings(BaseModel):
    """How long Idempotency-Key records last."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A completed request's response is replayed for this long; after it the key is free again.
    ttl: Annotated[float, Field(gt=0)] = 86_400.0
    # Expired records are deleted at most this often per process, inside a request's transaction.
    # (A request in flight holds its key in its process only: nothing is written for it until
    # it commits, so a process that dies mid-request leaves nothing to free.)
    purge_interval: Annotated[float, Field(gt=0)] = 300.0
