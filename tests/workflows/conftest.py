"""The workflows' shared fixtures: a movable clock starting on a Friday at 16:00, and the
gateway harness with it and the escalation timer off (the tests escalate themselves)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Database
from tests.gateway_harness import Harness, MovableClock, start_harness
from tests.workflows.test_referrals import FRIDAY_4PM, QUIET


@pytest.fixture
async def clock() -> MovableClock:
    return MovableClock(FRIDAY_4PM)


@pytest.fixture
async def hr(
    aiohttp_client: Any, database: Database, clock: MovableClock
) -> AsyncIterator[Harness]:
    """The harness with a movable workflow clock and the escalation timer off."""
    async for h in start_harness(aiohttp_client, database, clock=clock, workflows=QUIET):
        yield h
