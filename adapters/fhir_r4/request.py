"""The sharing request on a MessageHeader: a named lawful basis, or an urgent override.

A local complex extension (UK Core defines none)::

    {"url": "https://joined-up.org.uk/StructureDefinition/sharing-request",
     "extension": [
       {"url": "lawfulBasis", "valueCode": "art6(1)(e)+art9(2)(g)+sch1-para18"},
       {"url": "ageBand", "valueCode": "child"},
       {"url": "noConsentReason", "valueCode": "would-prejudice-protection"},
       {"url": "override", "extension": [
         {"url": "reason", "valueCode": "imminent-risk-to-child"},
         {"url": "justification", "valueString": "..."},
         {"url": "approver", "valueString": "Duty team manager, A. Approver"}]},
       {"url": "withhold", "extension": [
         {"url": "by", "valueString": "Care coordinator, C. Example"},
         {"url": "moreDetrimentalJudgement", "valueString": "..."}]}]}

Whether the basis is one the agreement accepts, and whether it is complete, is the policy
engine's question, not the adapter's: here only the shape and the codes are checked.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from adapters.fhir_r4.context import ReadContext
from schemas.labels import AgeBand, LawfulBasis, NoConsentReason
from schemas.request import Override, OverrideReason, SharingRequest, Withhold

SHARING_REQUEST_EXTENSION = "https://joined-up.org.uk/StructureDefinition/sharing-request"


def _parts(extension: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = extension.get("extension")
    if not isinstance(found, list):
        return {}
    return {
        str(part.get("url")): part
        for part in found
        if isinstance(part, dict) and isinstance(part.get("url"), str)
    }


def read_request(ctx: ReadContext, resource: dict[str, Any], path: str) -> SharingRequest | None:
    """The sharing request on a MessageHeader, if it carries one (problems go to ctx.issues)."""
    extensions = resource.get("extension")
    if not isinstance(extensions, list):
        return None
    for i, extension in enumerate(extensions):
        if isinstance(extension, dict) and extension.get("url") == SHARING_REQUEST_EXTENSION:
            return _read(ctx, extension, f"{path}.extension[{i}]")
    return None


def _code(parts: dict[str, dict[str, Any]], name: str) -> str | None:
    value = parts.get(name, {}).get("valueCode")
    return value if isinstance(value, str) else None


def _read(ctx: ReadContext, extension: dict[str, Any], path: str) -> SharingRequest | None:
    parts = _parts(extension)
    basis: LawfulBasis | None = None
    code = _code(parts, "lawfulBasis")
    try:
        if code is not None:
            basis = LawfulBasis.from_code(code)
            age, reason = _code(parts, "ageBand"), _code(parts, "noConsentReason")
            basis = basis.model_copy(
                update={
                    "age_band": AgeBand(age) if age else None,
                    "no_consent_reason": NoConsentReason(reason) if reason else None,
                }
            )
    except ValueError:
        ctx.issues.add(
            f"{path}.extension('lawfulBasis')",
            "is not a lawful basis, age band or reason code the gateway knows",
            "code-invalid",
        )
        return None
    override = None
    if "override" in parts:
        detail = _parts(parts["override"])
        try:
            override = Override(
                reason_code=OverrideReason(str(detail.get("reason", {}).get("valueCode"))),
                justification=detail.get("justification", {}).get("valueString"),
                approver=detail.get("approver", {}).get("valueString"),
            )
        except (ValueError, ValidationError):
            ctx.issues.add(
                f"{path}.extension('override')",
                "an override needs a known reason code, a justification of at least 10 characters"
                " and a named approver",
                "required",
            )
            return None
    withhold = None
    if "withhold" in parts:
        detail = _parts(parts["withhold"])
        judgement = detail.get("moreDetrimentalJudgement", {}).get("valueString")
        try:
            withhold = Withhold(
                by=detail.get("by", {}).get("valueString"), more_detrimental_judgement=judgement
            )
        except ValidationError:
            ctx.issues.add(
                f"{path}.extension('withhold')",
                "a withhold names who decided (by) and, if given, a judgement of at least 10"
                " characters",
                "required",
            )
            return None
    if basis is None and override is None and withhold is None:
        ctx.issues.add(path, "names no lawful basis, override or withhold", "required")
        return None
    return SharingRequest(lawful_basis=basis, override=override, withhold=withhold)
