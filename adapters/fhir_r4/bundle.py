"""The entries of a Bundle and the resolution of references between them.

fhir.resources checks none of this: a reference that points nowhere is valid to it. A message
Bundle must be self-contained, so every reference the adapter follows must resolve to an entry,
either by ``fullUrl`` (``urn:uuid:...`` or an absolute URL) or by ``ResourceType/id``.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.fhir_r4.walk import Issues, JsonObject, as_object, child_list, child_object, child_str


@dataclass(frozen=True, slots=True)
class Entry:
    """One resource in the Bundle, with its FHIRPath-like location."""

    index: int
    path: str  # e.g. "Bundle.entry[3].resource"
    resource: JsonObject
    type: str


class BundleIndex:
    """Every entry of a Bundle, addressable by ``fullUrl`` and by ``ResourceType/id``."""

    __slots__ = ("_by_reference", "entries")

    def __init__(self, bundle: JsonObject, issues: Issues) -> None:
        self.entries: list[Entry] = []
        self._by_reference: dict[str, Entry] = {}
        for i, item in enumerate(child_list(bundle, "entry", "Bundle", issues, required=True)):
            entry_path = f"Bundle.entry[{i}]"
            entry = as_object(item, entry_path, issues)
            if entry is None:
                continue
            resource = child_object(entry, "resource", entry_path, issues, required=True)
            if resource is None:
                continue
            path = f"{entry_path}.resource"
            resource_type = child_str(resource, "resourceType", path, issues, required=True)
            if resource_type is None:
                continue
            found = Entry(i, path, resource, resource_type)
            self.entries.append(found)
            full_url = child_str(entry, "fullUrl", entry_path, issues)
            if full_url is not None:
                self._register(full_url, found, f"{entry_path}.fullUrl", issues)
            resource_id = child_str(resource, "id", path, issues)
            if resource_id is not None:
                self._register(f"{resource_type}/{resource_id}", found, f"{path}.id", issues)

    def _register(self, key: str, entry: Entry, path: str, issues: Issues) -> None:
        if key in self._by_reference:
            issues.add(path, "repeats the identity of another entry in the Bundle", "duplicate")
            return
        self._by_reference[key] = entry

    def of_type(self, resource_type: str) -> list[Entry]:
        """Every entry holding a resource of this type, in Bundle order."""
        return [e for e in self.entries if e.type == resource_type]

    def lookup(self, reference: str) -> Entry | None:
        """The entry a reference string points to, or None (no issue recorded)."""
        return self._by_reference.get(reference) or self._by_reference.get(_relative(reference))

    def resolve(
        self,
        reference: JsonObject,
        path: str,
        issues: Issues,
        expected: tuple[str, ...] | None = None,
    ) -> Entry | None:
        """The entry a Reference (at ``path``) points to, checking its type; None with an issue."""
        target = child_str(reference, "reference", path, issues, required=True)
        if target is None:
            return None
        entry = self.lookup(target)
        if entry is None:
            issues.add(
                f"{path}.reference", "does not resolve to an entry in the Bundle", "not-found"
            )
            return None
        if expected is not None and entry.type not in expected:
            issues.add(f"{path}.reference", f"must refer to a {' or '.join(expected)}", "invalid")
            return None
        return entry


def _relative(reference: str) -> str:
    """``ResourceType/id`` from a relative or absolute RESTful reference, dropping ``_history``."""
    parts = reference.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:])
