"""Organization to canonical Organisation, and the message's sender.

An ODS code of three characters starting with R or T names an NHS trust; any other organisation is
kept as ``other`` (a GP practice, a site). The sender must be identifiable by ODS code, either on
the Organization the header references or on the header's ``sender.identifier``.
"""

from __future__ import annotations

import re

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.telecom import read_telecom
from adapters.fhir_r4.walk import JsonObject, child_object, child_str, objects
from schemas.facts import Organisation, OrganisationKind
from schemas.identifiers import ODS_CODE_SYSTEM

_ODS = re.compile(r"^[A-Z0-9]{3,10}$")
_TRUST = re.compile(r"^[RT][A-Z0-9]{2}$")


def _kind(ods_code: str | None) -> OrganisationKind:
    if ods_code is not None and _TRUST.match(ods_code):
        return OrganisationKind.NHS_TRUST
    return OrganisationKind.OTHER


def _ods_code(identifier: JsonObject, path: str, ctx: ReadContext) -> str | None:
    value = child_str(identifier, "value", path, ctx.issues, required=True)
    if value is None:
        return None
    code = value.upper()
    if _ODS.match(code) is None:
        ctx.issues.add(f"{path}.value", "an ODS code is 3 to 10 letters and digits", "value")
        return None
    return code


def organisation_for(ctx: ReadContext, entry: Entry) -> Organisation:
    """The Organisation fact for an Organization entry (one fact however often it is referenced)."""
    known = ctx.organisations.get(entry.index)
    if known is not None:
        return known
    resource, path = entry.resource, entry.path
    ods_code = None
    for id_path, identifier in objects(resource, "identifier", path, ctx.issues):
        if identifier.get("system") == ODS_CODE_SYSTEM:
            ods_code = _ods_code(identifier, id_path, ctx)
            break
    fact = Organisation(
        id=f"organisation-{entry.index}",
        kind=_kind(ods_code),
        ods_code=ods_code,
        name=child_str(resource, "name", path, ctx.issues),
        telecom=read_telecom(resource, path, ctx.issues, ctx.received_at),
        labels=read_security(resource, path, ctx.issues),
    )
    ctx.add(fact)
    ctx.organisations[entry.index] = fact
    if ods_code is not None:
        ctx.organisations_by_code.setdefault(ods_code, fact.id)
    return fact


def organisation_id(ctx: ReadContext, reference: JsonObject | None, path: str) -> str | None:
    """The Organisation fact id an optional Reference(Organization) points to."""
    if reference is None:
        return None
    entry = ctx.bundle.resolve(reference, path, ctx.issues, ("Organization",))
    if entry is None:
        return None
    return organisation_for(ctx, entry).id


def read_sender(ctx: ReadContext, header: JsonObject, path: str) -> tuple[str | None, str | None]:
    """(ODS code, Organisation fact id) of ``MessageHeader.sender``."""
    sender = child_object(header, "sender", path, ctx.issues)
    here = f"{path}.sender"
    if sender is None:
        ctx.issues.add(here, "is required: it names the sending organisation", "required")
        return None, None
    if "reference" in sender:
        entry = ctx.bundle.resolve(sender, here, ctx.issues, ("Organization",))
        if entry is None:
            return None, None
        fact = organisation_for(ctx, entry)
        if fact.ods_code is None:
            ctx.issues.add(
                f"{entry.path}.identifier",
                "the sending organisation must carry its ODS code",
                "required",
            )
        return fact.ods_code, fact.id
    identifier = child_object(sender, "identifier", here, ctx.issues)
    if identifier is None or identifier.get("system") != ODS_CODE_SYSTEM:
        ctx.issues.add(
            here, "must reference the sending Organization or give its ODS code", "required"
        )
        return None, None
    code = _ods_code(identifier, f"{here}.identifier", ctx)
    if code is None:
        return None, None
    known = ctx.organisations_by_code.get(code)
    if known is not None:
        return code, known
    fact = Organisation(id="organisation-sender", kind=_kind(code), ods_code=code)
    ctx.organisations_by_code[code] = ctx.add(fact)
    return code, fact.id
