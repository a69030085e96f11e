"""Communication: what the canonical model can carry of it is what it is about.

A Communication is a notification (the gateway renders one beside each plan flag it sends). Its
subject, ``about``, sender and recipient refer to resources the adapter maps on their own (the
person, the Flag, the workers' roles and organisations), so those references are followed and
checked; the notification itself (its payload text, status, times, medium) has no canonical fact
and is reported as unmapped, element by element.
"""

from __future__ import annotations

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.people import person_reference
from adapters.fhir_r4.walk import objects

FOLLOWED = elements({"subject", "about", "recipient", "sender", "payload"})


def read_communication(ctx: ReadContext, entry: Entry) -> None:
    """Check the references of a Communication; report its content as unmapped."""
    resource, path, issues = entry.resource, entry.path, ctx.issues
    ctx.mapped.add(entry.index)
    ctx.unmap(path, "a notification: what it says is not carried, only what it is about")
    report_unread(ctx, entry, FOLLOWED)
    person_reference(ctx, resource, "subject", path, required=False)
    for key in ("about", "recipient"):
        for here, reference in objects(resource, key, path, issues):
            ctx.follow(reference, here, None, required=False)
    ctx.follow_child(resource, "sender", path, None)
    if "payload" in resource:
        ctx.unmap(f"{path}.payload", "the notification's text is not carried")
