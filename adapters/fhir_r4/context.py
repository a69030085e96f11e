"""The state one parse shares across the mapping modules: issues, entries, facts so far.

Fact ids are message-local and built from the entry's position (``person-1``, ``worker-7``), never
from resource ids: the demographics service uses the NHS number as ``Patient.id``, and fact ids
travel into audit metadata, where no identifier may go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from adapters.fhir_r4.bundle import BundleIndex
from adapters.fhir_r4.walk import Issues
from schemas.facts import Fact, Organisation, Worker


@dataclass(slots=True)
class ReadContext:
    """One parse in progress."""

    issues: Issues
    bundle: BundleIndex
    received_at: datetime
    facts: list[Fact] = field(default_factory=list)
    # entry index -> fact id, so a resource referenced twice becomes one fact
    organisations: dict[int, Organisation] = field(default_factory=dict)
    organisations_by_code: dict[str, str] = field(default_factory=dict)
    workers: dict[int, Worker] = field(default_factory=dict)

    def add(self, fact: Fact) -> str:
        """Keep a fact; return its id."""
        self.facts.append(fact)
        return fact.id
