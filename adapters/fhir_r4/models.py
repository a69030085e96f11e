"""Optional full validation of every resource against the ``fhir.resources`` R4B models.

It checks what the focused parser does not (cardinality, datatypes, every element name) at several
times the cost, so it is off on the hot path and on where a partner is being onboarded. R4B, not the
package's top-level R5 models, because R5 rejects several R4 resources (DOMAIN.md section 3).
Resources are validated one by one, so that an unknown resource type is reported at its entry
instead of failing the whole Bundle (fhir.resources raises a bare ``KeyError`` for one).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from adapters.fhir_r4.walk import JsonObject
from adapters.pydantic_issues import issues_from
from gateway.errors import Issue


def _models() -> tuple[Any, Any, Any]:
    # Imported on first use: loading the R4B models takes a third of a second, and a gateway that
    # never validates models should not pay it at start-up.
    from fhir.resources.R4B import get_fhir_model_class  # noqa: PLC0415
    from fhir.resources.R4B.bundle import Bundle  # noqa: PLC0415
    from fhir.resources.R4B.resource import Resource  # noqa: PLC0415

    return Bundle, Resource, get_fhir_model_class


def model_issues(bundle: JsonObject) -> list[Issue]:
    """Every R4B validation problem in a Bundle or single resource, located, without values."""
    bundle_model, resource_model, model_class = _models()
    found: list[Issue] = []
    if bundle.get("resourceType") != "Bundle":
        return _resource_issues(
            bundle, str(bundle.get("resourceType")), resource_model, model_class
        )
    entries = bundle.get("entry")
    entries = entries if isinstance(entries, list) else []
    # The Bundle itself with its entries' resources taken out; each resource is checked on its own.
    shell = dict(bundle)
    if "entry" in bundle:
        shell["entry"] = [
            {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
            for e in entries
        ]
    found.extend(_validate(bundle_model, shell, "Bundle"))
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        path = f"Bundle.entry[{i}].resource"
        found.extend(_resource_issues(resource, path, resource_model, model_class))
    return found


def _resource_issues(
    resource: JsonObject, path: str, resource_model: Any, model_class: Any
) -> list[Issue]:
    resource_type = resource.get("resourceType")
    try:
        model = model_class(resource_type) if isinstance(resource_type, str) else None
    except (ValueError, KeyError, AttributeError, ImportError):
        model = None
    if not isinstance(model, type) or not issubclass(model, resource_model):
        return [Issue(f"{path}.resourceType", "is not a FHIR R4B resource type", "not-supported")]
    return _validate(model, resource, path)


def _validate(model: Any, data: JsonObject, root: str) -> list[Issue]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        # SECURITY: fhir.resources' messages quote values; only the error types are used.
        return issues_from(exc, root=root, trust_messages=False)
    except Exception:  # noqa: BLE001 - see below
        # fhir.resources fails outside pydantic on some inputs (an unknown type in ``contained``
        # raises KeyError, a boolean where a string belongs AttributeError inside its own error
        # handling): any failure is the input's. The exception text is not used, as it may quote
        # the input.
        return [Issue(root, "cannot be read as FHIR R4B", "structure")]
    return []
