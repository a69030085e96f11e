"""The state one parse shares across the mapping modules: issues, entries, facts so far.

Fact ids are message-local and built from the entry's position (``person-1``, ``worker-7``), never
from resource ids: the demographics service uses the NHS number as ``Patient.id``, and fact ids
travel into audit metadata, where no identifier may go. A resource referenced from several places
becomes one fact: the caches below are keyed by entry position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from adapters.fhir_r4.bundle import BundleIndex, Entry
from adapters.fhir_r4.walk import Issues, JsonObject, child_object
from schemas.facts import Fact, Organisation, Person, Worker
from schemas.message import MessageKind

NOT_FOLLOWED = "refers to a resource outside the message: not followed"


@dataclass(slots=True)
class ReadContext:
    """One parse in progress."""

    issues: Issues
    bundle: BundleIndex
    received_at: datetime
    self_contained: bool  # a message: every reference followed must resolve within it
    facts: list[Fact] = field(default_factory=list)
    unmapped: list[tuple[str, str]] = field(default_factory=list)  # (element, reason)
    organisations: dict[int, Organisation] = field(default_factory=dict)
    organisations_by_code: dict[str, str] = field(default_factory=dict)
    workers: dict[int, Worker] = field(default_factory=dict)
    persons: dict[int, Person] = field(default_factory=dict)  # Patient / RelatedPerson entries
    people: dict[str, Person] = field(default_factory=dict)  # every Person fact, by fact id
    person_paths: dict[str, str] = field(default_factory=dict)  # Person fact id -> entry path
    persons_by_key: dict[str, str] = field(default_factory=dict)  # identifier key -> fact id
    patient_keys: set[str] = field(default_factory=set)  # identifier keys of Patients read
    roles: dict[tuple[int, str | None], str] = field(default_factory=dict)  # WorkerRole ids
    risks: dict[int, str] = field(default_factory=dict)  # Flag entry -> Risk id
    mapped: set[int] = field(default_factory=set)  # entries read (whatever they became)
    nhs_required: frozenset[int] = frozenset()  # Patient entries that must have an NHS number
    kind: MessageKind | None = None  # a message's kind (None for a record update)

    def add(self, fact: Fact) -> str:
        """Keep a fact; return its id."""
        self.facts.append(fact)
        return fact.id

    def unmap(self, element: str, reason: str) -> None:
        """Report a source element the canonical model does not carry (never its value)."""
        self.unmapped.append((element, reason))

    def follow(
        self,
        reference: JsonObject,
        path: str,
        expected: tuple[str, ...] | None = None,
        *,
        required: bool = True,
    ) -> Entry | None:
        """The entry a Reference at ``path`` points to, checking its type.

        None when it does not resolve: an issue if the input is a message or the reference is
        required, else an unmapped element (a record update may refer to the sender's records).
        """
        target = reference.get("reference")
        if target.__class__ is str:  # the common case first: a reference that resolves
            entry = self.bundle.lookup(target)
            if entry is not None and (expected is None or entry.type in expected):
                return entry
        if target is None:
            if required:
                self.issues.add(f"{path}.reference", "is required", "required")
            else:
                self.unmap(path, "names no resource in the message: not followed")
            return None
        if not isinstance(target, str) or not target.strip():
            self.issues.add(f"{path}.reference", "must be a non-empty string", "structure")
            return None
        entry = self.bundle.lookup(target)
        if entry is None:
            if self.self_contained:
                self.issues.add(
                    f"{path}.reference", "does not resolve to an entry in the Bundle", "not-found"
                )
            elif required:
                self.issues.add(
                    f"{path}.reference",
                    "does not resolve to a resource in the message",
                    "not-found",
                )
            else:
                self.unmap(path, NOT_FOLLOWED)
            return None
        if expected is not None and entry.type not in expected:
            self.issues.add(
                f"{path}.reference", f"must refer to a {' or '.join(expected)}", "invalid"
            )
            return None
        return entry

    def follow_child(
        self,
        parent: JsonObject,
        key: str,
        path: str,
        expected: tuple[str, ...] | None = None,
        *,
        required: bool = False,
    ) -> Entry | None:
        """The entry ``parent[key]`` (a Reference) points to; see :meth:`follow`."""
        reference = child_object(parent, key, path, self.issues, required=required)
        if reference is None:
            return None
        return self.follow(reference, f"{path}.{key}", expected, required=required)
