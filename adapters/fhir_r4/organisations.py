"""Organization to canonical Organisation, and the message's sender.

An organisation is identified by its ODS code (``https://fhir.nhs.uk/Id/ods-organization-code``)
or, for a council, its DfE LA code (``https://joined-up.org.uk/Id/dfe-la-code``). Its kind is the
``Organization.type`` coding in the local ``organisation-kind`` code system where given; otherwise
an LA code makes it a local authority, an ODS code of three characters starting with R or T an NHS
trust, and anything else is ``other`` (a GP practice, a site).

The sender of a message must be identifiable by code: on the Organization ``MessageHeader.sender``
references, or in its ``sender.identifier``. A record update (a single resource, or a collection,
batch or transaction Bundle) may name its sender in ``Bundle.identifier.assigner`` the same way;
where it names none, its provenance says ``(undeclared)``, and the gateway's sender check takes it
as the authenticated partner's, when the partner speaks for one organisation (and refuses it
otherwise).
"""

from __future__ import annotations

import re

from adapters.fhir_r4.bundle import Entry
from adapters.fhir_r4.codes import ORGANISATION_KIND_SYSTEM
from adapters.fhir_r4.context import ReadContext
from adapters.fhir_r4.elements import elements, report_unread
from adapters.fhir_r4.security import read_security
from adapters.fhir_r4.telecom import read_telecom
from adapters.fhir_r4.walk import JsonObject, child_object, child_str, codings, objects
from schemas.facts import Organisation, OrganisationKind
from schemas.identifiers import DFE_LA_CODE_SYSTEM, ODS_CODE_SYSTEM

_ODS = re.compile(r"^[A-Z0-9]{3,10}$")
_LA = re.compile(r"^\d{3}$")
_TRUST = re.compile(r"^[RT][A-Z0-9]{2}$")
_KINDS = {k.value: k for k in OrganisationKind}
ELEMENTS = elements({"identifier", "name", "telecom", "type", "active"})
CODE_SYSTEMS = (ODS_CODE_SYSTEM, DFE_LA_CODE_SYSTEM)


def _kind(ods_code: str | None, la_code: str | None) -> OrganisationKind:
    if la_code is not None:
        return OrganisationKind.LOCAL_AUTHORITY
    if ods_code is not None and _TRUST.match(ods_code):
        return OrganisationKind.NHS_TRUST
    return OrganisationKind.OTHER


def read_code(identifier: JsonObject, path: str, ctx: ReadContext) -> str | None:
    """The ODS or DfE LA code an Identifier holds (its system is one of CODE_SYSTEMS)."""
    value = child_str(identifier, "value", path, ctx.issues, required=True)
    if value is None:
        return None
    if identifier.get("system") == DFE_LA_CODE_SYSTEM:
        if _LA.match(value) is None:
            ctx.issues.add(f"{path}.value", "a DfE LA code is three digits", "value")
            return None
        return value
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
    ods_code = la_code = None
    for id_path, identifier in objects(resource, "identifier", path, ctx.issues):
        system = identifier.get("system")
        if system == ODS_CODE_SYSTEM and ods_code is None:
            ods_code = read_code(identifier, id_path, ctx)
        elif system == DFE_LA_CODE_SYSTEM and la_code is None:
            la_code = read_code(identifier, id_path, ctx)
        else:
            ctx.unmap(id_path, "an identifier system the gateway does not name organisations by")
    fact = Organisation(
        id=f"organisation-{entry.index}",
        kind=_stated_kind(ctx, resource, path) or _kind(ods_code, la_code),
        ods_code=ods_code,
        la_code=la_code,
        name=child_str(resource, "name", path, ctx.issues),
        telecom=read_telecom(resource, path, ctx.issues, ctx.received_at),
        labels=read_security(resource, path, ctx.issues),
    )
    report_unread(ctx, entry, ELEMENTS)
    ctx.add(fact)
    ctx.organisations[entry.index] = fact
    ctx.mapped.add(entry.index)
    for code in (ods_code, la_code):
        if code is not None:
            ctx.organisations_by_code.setdefault(code, fact.id)
    return fact


def _stated_kind(ctx: ReadContext, resource: JsonObject, path: str) -> OrganisationKind | None:
    for concept_path, concept in objects(resource, "type", path, ctx.issues):
        for coding_path, system, code, _ in codings(concept, concept_path, ctx.issues):
            if system != ORGANISATION_KIND_SYSTEM:
                continue
            if code not in _KINDS:
                ctx.issues.add(f"{coding_path}.code", "is not an organisation kind", "code-invalid")
                return None
            return _KINDS[code]
    return None


def organisation_id(
    ctx: ReadContext, reference: JsonObject | None, path: str, *, required: bool = False
) -> str | None:
    """The Organisation fact id an optional Reference(Organization) points to.

    A logical reference (``identifier`` with an ODS or LA code) is the message's organisation
    with that code, or a new Organisation fact holding just the code.
    """
    if reference is None:
        return None
    if "reference" not in reference:
        identifier = reference.get("identifier")
        if isinstance(identifier, dict) and identifier.get("system") in CODE_SYSTEMS:
            return _by_code(ctx, identifier, f"{path}.identifier")[0]
    entry = ctx.follow(reference, path, ("Organization",), required=required)
    return None if entry is None else organisation_for(ctx, entry).id


def _by_code(ctx: ReadContext, identifier: JsonObject, path: str) -> tuple[str | None, str | None]:
    """(Organisation fact id, code) for an identifier with an ODS or LA code."""
    code = read_code(identifier, path, ctx)
    if code is None:
        return None, None
    known = ctx.organisations_by_code.get(code)
    if known is not None:
        return known, code
    la_code = code if identifier.get("system") == DFE_LA_CODE_SYSTEM else None
    ods_code = None if la_code else code
    fact = Organisation(
        id=f"organisation-code-{len(ctx.facts)}",
        kind=_kind(ods_code, la_code),
        ods_code=ods_code,
        la_code=la_code,
    )
    ctx.organisations_by_code[code] = ctx.add(fact)
    return fact.id, code


def read_sender(ctx: ReadContext, header: JsonObject, path: str) -> str | None:
    """The ODS or LA code of ``MessageHeader.sender`` (an issue where there is none)."""
    sender = child_object(header, "sender", path, ctx.issues)
    here = f"{path}.sender"
    if sender is None:
        ctx.issues.add(here, "is required: it names the sending organisation", "required")
        return None
    if "reference" in sender:
        entry = ctx.follow(sender, here, ("Organization",))
        if entry is None:
            return None
        fact = organisation_for(ctx, entry)
        code = fact.ods_code or fact.la_code
        if code is None:
            ctx.issues.add(
                f"{entry.path}.identifier",
                "the sending organisation must carry its ODS code",
                "required",
            )
        return code
    identifier = child_object(sender, "identifier", here, ctx.issues)
    if identifier is None or identifier.get("system") not in CODE_SYSTEMS:
        ctx.issues.add(
            here, "must reference the sending Organization or give its ODS code", "required"
        )
        return None
    return _by_code(ctx, identifier, f"{here}.identifier")[1]


def read_assigner(ctx: ReadContext, bundle: JsonObject) -> str | None:
    """A record update's sender: ``Bundle.identifier.assigner``, by reference or by code."""
    identifier = child_object(bundle, "identifier", "Bundle", ctx.issues)
    if identifier is None or "assigner" not in identifier:
        return None
    here = "Bundle.identifier.assigner"
    assigner = child_object(identifier, "assigner", "Bundle.identifier", ctx.issues)
    if assigner is None:
        return None
    if "reference" not in assigner:
        code_of = assigner.get("identifier")
        if isinstance(code_of, dict) and code_of.get("system") in CODE_SYSTEMS:
            return _by_code(ctx, code_of, f"{here}.identifier")[1]
    entry = ctx.follow(assigner, here, ("Organization",), required=False)
    if entry is None:
        return None
    fact = organisation_for(ctx, entry)
    return fact.ods_code or fact.la_code
