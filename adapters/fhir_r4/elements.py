"""Elements of a mapped resource that the canonical model does not carry: the loss report.

Each reader names the top-level elements it reads; every other element present is listed in
``CanonicalMessage.unmapped`` by its path, with a reason, never its value. Two elements cannot be
skipped safely and are refused instead: ``modifierExtension`` (FHIR: a system that does not
understand a modifier extension must not process the resource) and ``implicitRules``.
"""

from __future__ import annotations

from collections.abc import Iterable

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.context import ReadContext

# Read for every resource: type, id (references), meta (security labels; profiles and versions are
# not content), language (of the narrative).
COMMON = frozenset({"resourceType", "id", "meta", "language"})
NOT_CARRIED = "is not carried by the canonical model"


def elements(names: Iterable[str]) -> frozenset[str]:
    """The elements a reader reads, with those read for every resource (COMMON)."""
    return frozenset(names) | COMMON


def report_unread(
    ctx: ReadContext,
    entry: Entry,
    read: frozenset[str],
    extensions: frozenset[str] = frozenset(),
) -> None:
    """Report each element of ``entry`` outside ``read`` (made by :func:`elements`) and each
    extension outside ``extensions``."""
    path = entry.path
    resource = entry.resource
    for key, value in resource.items():  # in document order, so the report is stable
        if key in read:
            continue
        if key == "extension":
            _extensions(ctx, value, path, extensions)
        elif key == "text":
            ctx.unmap(f"{path}.text", "the narrative is not carried; the coded elements are read")
        elif key == "contained":
            ctx.unmap(f"{path}.contained", "contained resources are not read")
        elif key == "modifierExtension":
            ctx.issues.add(
                f"{path}.modifierExtension",
                "is a modifier extension the gateway does not understand: the resource cannot be"
                " read safely",
                "not-supported",
            )
        elif key == "implicitRules":
            ctx.issues.add(
                f"{path}.implicitRules",
                "cannot be honoured: the resource cannot be read safely",
                "not-supported",
            )
        elif key[:1] == "_":
            if key[1:] in read:
                ctx.unmap(f"{path}.{key}", "extensions on this element are not carried")
            elif key[1:] not in resource:
                ctx.unmap(f"{path}.{key}", NOT_CARRIED)
        else:
            ctx.unmap(f"{path}.{key}", NOT_CARRIED)


def _extensions(ctx: ReadContext, value: object, path: str, known: frozenset[str]) -> None:
    if not isinstance(value, list):
        return  # the reader has reported the shape
    for i, item in enumerate(value):
        if isinstance(item, dict) and not (
            isinstance(url := item.get("url"), str) and url in known
        ):
            ctx.unmap(f"{path}.extension[{i}]", "this extension is not carried")


def report_resource(ctx: ReadContext, entry: Entry, reason: str) -> None:
    """Report a whole resource as not mapped, with why."""
    ctx.unmap(entry.path, reason)
