"""The resources of an input (a Bundle's entries, or one resource) and references between them.

fhir.resources checks none of this: a reference that points nowhere is valid to it. Entries are
addressable by ``fullUrl`` (``urn:uuid:...`` or an absolute URL) and by ``ResourceType/id``. A
single resource is an input of one entry, at the path of its type (``Patient``).

Whether an unresolvable reference is an error depends on the input: a message must be
self-contained (every reference the adapter follows resolves within it); a record update (a
single resource, or a collection, batch or transaction Bundle) may refer to the sender's other
records, so an optional reference that leads outside it is reported as unmapped instead
(:meth:`~adapters.fhir_r4.context.ReadContext.follow`).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.fhir_r4.walk import Issues, JsonObject, as_object, child_list, child_object, child_str


@dataclass(slots=True, eq=False)
class Entry:
    """One resource in the input, with its FHIRPath-like location (compared by identity)."""

    index: int
    path: str  # e.g. "Bundle.entry[3].resource", or "Patient" for a single resource
    resource: JsonObject
    type: str


@dataclass(frozen=True, slots=True)
class Request:
    """An entry of a batch or transaction without a resource (a query or a deletion)."""

    path: str  # "Bundle.entry[2]"
    method: str | None


class BundleIndex:
    """Every resource of the input, by type and addressable by ``fullUrl`` and ``Type/id``."""

    __slots__ = ("_by_reference", "_by_type", "entries", "requests")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.requests: list[Request] = []
        self._by_reference: dict[str, Entry] = {}
        self._by_type: dict[str, list[Entry]] = {}

    @classmethod
    def of_bundle(
        cls, bundle: JsonObject, issues: Issues, *, requests_allowed: bool
    ) -> BundleIndex:
        """The entries of a Bundle; in a batch or transaction an entry may be a bare request."""
        index = cls()
        for i, item in enumerate(child_list(bundle, "entry", "Bundle", issues, required=True)):
            entry_path = f"Bundle.entry[{i}]"
            entry = as_object(item, entry_path, issues)
            if entry is None:
                continue
            resource = entry.get("resource")
            if resource is None and requests_allowed:
                request = child_object(entry, "request", entry_path, issues)
                method = None if request is None else request.get("method")
                kind = method if isinstance(method, str) else None
                index.requests.append(Request(entry_path, kind))
                continue
            if resource.__class__ is not dict:
                resource = child_object(entry, "resource", entry_path, issues, required=True)
                if resource is None:
                    continue
            found = index._add(i, f"{entry_path}.resource", resource, issues)
            full_url = entry.get("fullUrl")
            if found is not None and full_url is not None:
                if full_url.__class__ is not str:
                    full_url = child_str(entry, "fullUrl", entry_path, issues)
                if full_url:
                    index._register(full_url, found, entry_path, "fullUrl", issues)
        return index

    @classmethod
    def single(cls, resource: JsonObject, resource_type: str, issues: Issues) -> BundleIndex:
        """An input of one resource, at the path of its type."""
        index = cls()
        index._add(0, resource_type, resource, issues)
        return index

    def _add(self, i: int, path: str, resource: JsonObject, issues: Issues) -> Entry | None:
        resource_type = resource.get("resourceType")
        if resource_type.__class__ is not str or not resource_type:
            resource_type = child_str(resource, "resourceType", path, issues, required=True)
            if resource_type is None:
                return None
        found = Entry(i, path, resource, resource_type)
        self.entries.append(found)
        same_type = self._by_type.get(resource_type)
        if same_type is None:
            self._by_type[resource_type] = [found]
        else:
            same_type.append(found)
        resource_id = resource.get("id")
        if resource_id is not None:
            if resource_id.__class__ is not str:
                resource_id = child_str(resource, "id", path, issues)
            if resource_id:
                self._register(f"{resource_type}/{resource_id}", found, path, "id", issues)
        return found

    def _register(self, key: str, entry: Entry, path: str, element: str, issues: Issues) -> None:
        known = self._by_reference.setdefault(key, entry)
        if known is not entry:
            issues.add(
                f"{path}.{element}",
                "repeats the identity of another entry in the Bundle",
                "duplicate",
            )

    def of_type(self, resource_type: str) -> list[Entry]:
        """Every entry holding a resource of this type, in Bundle order."""
        return self._by_type.get(resource_type, [])

    def types(self) -> list[str]:
        """The resource types present, in order of first appearance."""
        return list(self._by_type)

    def lookup(self, reference: str) -> Entry | None:
        """The entry a reference string points to, or None (no issue recorded)."""
        found = self._by_reference.get(reference)
        if found is None:
            found = self._by_reference.get(_relative(reference))
        return found


def _relative(reference: str) -> str:
    """``ResourceType/id`` from a relative or absolute RESTful reference, dropping ``_history``."""
    parts = reference.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:])
