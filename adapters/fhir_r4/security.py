"""Security labels in ``meta.security`` (and DS4P inline labels) to and from canonical labels.

Confidentiality comes from v3-Confidentiality (U, L, M and N all read as normal), sensitivity from
v3-ActCode, obligations from v3-ObservationValue or v3-ActCode (NORDSCLCD is an ActCode).
"""

from __future__ import annotations

from collections.abc import Iterable

from adapters.fhir_r4.codes import DS4P_INLINE_LABEL
from adapters.fhir_r4.walk import Issues, JsonObject, child_object, extensions, objects
from schemas.labels import (
    ACT_CODE_SYSTEM,
    CONFIDENTIALITY_SYSTEM,
    OBLIGATION_SYSTEM,
    Confidentiality,
    Obligation,
    SecurityLabels,
    Sensitivity,
)

_CONFIDENTIALITY: dict[str, Confidentiality] = {
    "U": Confidentiality.N,
    "L": Confidentiality.N,
    "M": Confidentiality.N,
    "N": Confidentiality.N,
    "R": Confidentiality.R,
    "V": Confidentiality.V,
}
_RANK = {Confidentiality.N: 0, Confidentiality.R: 1, Confidentiality.V: 2}
_SENSITIVITIES = {s.value: s for s in Sensitivity}
_OBLIGATIONS = {o.value: o for o in Obligation}
_UNLABELLED = SecurityLabels()  # immutable, so one instance serves every unlabelled resource


def merge(first: SecurityLabels, second: SecurityLabels) -> SecurityLabels:
    """The stricter of two sets of labels: higher confidentiality, every sensitivity, obligation."""
    return SecurityLabels(
        confidentiality=max(first.confidentiality, second.confidentiality, key=_RANK.__getitem__),
        sensitivity=first.sensitivity | second.sensitivity,
        obligations=first.obligations | second.obligations,
    )


def read_security(
    resource: JsonObject, path: str, issues: Issues, base: SecurityLabels | None = None
) -> SecurityLabels:
    """The labels in ``meta.security``, merged with ``base`` (the adapter's own labelling)."""
    meta = child_object(resource, "meta", path, issues)
    if meta is None or "security" not in meta:
        return base or _UNLABELLED
    return _labels(objects(meta, "security", f"{path}.meta", issues), issues, base)


def read_inline(element: JsonObject, path: str, issues: Issues) -> SecurityLabels | None:
    """The DS4P inline security labels on one element (its ``extension``), or None."""
    if "extension" not in element:
        return None
    found = [
        (f"{ext_path}.valueCoding", coding)
        for ext_path, ext in extensions(element, DS4P_INLINE_LABEL, path, issues)
        if (coding := child_object(ext, "valueCoding", ext_path, issues, required=True)) is not None
    ]
    return _labels(found, issues, None) if found else None


def _labels(
    codings: Iterable[tuple[str, JsonObject]], issues: Issues, base: SecurityLabels | None
) -> SecurityLabels:
    labels = base or _UNLABELLED
    confidentiality = labels.confidentiality
    sensitivity = set(labels.sensitivity)
    obligations = set(labels.obligations)
    for coding_path, coding in codings:
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(code, str):
            issues.add(f"{coding_path}.code", "is required", "required")
        elif system == CONFIDENTIALITY_SYSTEM:
            if code not in _CONFIDENTIALITY:
                issues.add(
                    f"{coding_path}.code", "is not a v3-Confidentiality code", "code-invalid"
                )
            else:
                confidentiality = max(
                    confidentiality, _CONFIDENTIALITY[code], key=_RANK.__getitem__
                )
        elif system in (ACT_CODE_SYSTEM, OBLIGATION_SYSTEM) and code in _OBLIGATIONS:
            obligations.add(_OBLIGATIONS[code])
        elif system == ACT_CODE_SYSTEM:
            if code not in _SENSITIVITIES:
                # SECURITY: a sensitivity label the gateway does not know cannot be honoured, so
                # the message is refused rather than shared without it.
                issues.add(
                    f"{coding_path}.code",
                    "is a sensitivity label the gateway cannot honour",
                    "code-invalid",
                )
            else:
                sensitivity.add(_SENSITIVITIES[code])
    return SecurityLabels(
        confidentiality=confidentiality,
        sensitivity=frozenset(sensitivity),
        obligations=frozenset(obligations),
    )


def security_codings(labels: SecurityLabels) -> list[JsonObject]:
    """``meta.security`` codings for a set of labels (nothing for the default labels)."""
    found: list[JsonObject] = []
    if labels.confidentiality is not Confidentiality.N:
        found.append({"system": CONFIDENTIALITY_SYSTEM, "code": labels.confidentiality.value})
    found.extend({"system": ACT_CODE_SYSTEM, "code": s.value} for s in sorted(labels.sensitivity))
    found.extend({"system": OBLIGATION_SYSTEM, "code": o.value} for o in sorted(labels.obligations))
    return found


def inline_labels(labels: SecurityLabels) -> list[JsonObject]:
    """DS4P inline security label extensions for one element."""
    return [{"url": DS4P_INLINE_LABEL, "valueCoding": c} for c in security_codings(labels)]
