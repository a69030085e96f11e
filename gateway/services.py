"""What the pipeline, the look-up door and the delivery worker share, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.base import Adapter
from gateway.policy.engine import AgreementSet
from gateway.settings import Settings
from gateway.store.committer import GroupCommitter
from gateway.store.reader import Reader
from gateway.workcal import Clock, system_clock


@dataclass(frozen=True, slots=True)
class Services:
    """The gateway's dependencies, passed explicitly (no globals)."""

    settings: Settings
    engine: AsyncEngine
    committer: GroupCommitter
    reader: Reader
    agreements: AgreementSet
    adapters: dict[str, Adapter]
    # What "now" is for the workflows' deadlines (escalation, conference targets): tests pass a
    # controllable clock. Exchanges are still stamped with the real time of receipt.
    clock: Clock = system_clock
