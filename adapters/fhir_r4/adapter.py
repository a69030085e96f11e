"""``FhirR4Adapter``: FHIR R4 (UK Core) resources and Bundles, in JSON or XML.

The format is told by the body's first non-whitespace byte (``{`` JSON, ``<`` XML), whatever the
media type said. JSON is read with orjson; XML with lxml, safely, into the same JSON shape
(``xmlread``). Either way the plain dicts are walked with focused checks (the hot path): NHS number
check digits, the code systems of every code relied on, references resolving within a message, the
identifiers a flow needs, duplicates. ``validate_models=True`` adds full ``fhir.resources`` R4B
validation of every resource, several times slower; use it while onboarding a partner.

Before anything is read, a body over ``limits.MAX_BODY_BYTES`` (413) or nested deeper than
``limits.MAX_DEPTH`` is refused with one specific issue.
"""

from __future__ import annotations

import hashlib

import orjson

from adapters.base import MappingRow, ParseContext, Rendered
from adapters.fhir_r4.limits import (
    MAX_BODY_BYTES,
    MAX_DEPTH,
    json_depth,
    json_too_deep,
    too_deep,
    too_large,
)
from adapters.fhir_r4.mapping import MAPPING
from adapters.fhir_r4.message import SOURCE_FORMAT, read_input
from adapters.fhir_r4.models import model_issues
from adapters.fhir_r4.render import render_bundle
from adapters.fhir_r4.walk import Issues, JsonObject
from adapters.fhir_r4.xmlread import parse_xml
from gateway.errors import InvalidMessage, Issue
from schemas.disclosure import Disclosure
from schemas.message import CanonicalMessage

CONTENT_TYPE = "application/fhir+json"
XML_CONTENT_TYPE = "application/fhir+xml"
_WHITESPACE = b" \t\r\n"


class FhirR4Adapter:
    """FHIR R4 UK Core (``application/fhir+json``, ``application/fhir+xml``)."""

    name = SOURCE_FORMAT
    content_types: tuple[str, ...] = (CONTENT_TYPE, XML_CONTENT_TYPE)

    def __init__(self, *, validate_models: bool = False) -> None:
        self.validate_models = validate_models

    def parse(self, body: bytes, context: ParseContext) -> CanonicalMessage:
        """Parse and check one FHIR resource or Bundle; raise InvalidMessage naming every
        problem."""
        if len(body) > MAX_BODY_BYTES:
            raise too_large()
        data = read_body(body)
        issues = Issues()
        if self.validate_models:
            if json_depth(data) > MAX_DEPTH:
                raise too_deep()
            issues.items.extend(model_issues(data))
        # An input without an id is named by its digest (computed only then).
        return read_input(
            data, context, issues, lambda: "sha256:" + hashlib.sha256(body).hexdigest()
        )

    def render(self, disclosure: Disclosure) -> Rendered:
        """The disclosure as a FHIR message Bundle, with the withheld manifest on its header."""
        bundle, losses = render_bundle(disclosure)
        return Rendered(body=orjson.dumps(bundle), content_type=CONTENT_TYPE, losses=losses)

    def describe(self) -> tuple[MappingRow, ...]:
        """The mapping between FHIR R4 UK Core and the canonical model."""
        return MAPPING


def read_body(body: bytes) -> JsonObject:
    """The FHIR resource in ``body`` (JSON or XML, told by its first byte) as FHIR JSON."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]  # a UTF-8 byte order mark: harmless, and some systems write one
    start = body.lstrip(_WHITESPACE)[:1]
    if start == b"<":
        # An XML declaration must come first: whitespace before it is dropped, not refused.
        return parse_xml(body.lstrip(_WHITESPACE))
    if start != b"{":
        raise InvalidMessage(
            [Issue("(body)", "is neither FHIR JSON (an object) nor FHIR XML", "structure")]
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # SECURITY: orjson's message quotes the bytes around the fault; it is not passed on.
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():
            raise too_deep() from exc  # orjson's own limit (1024): far past ours
        raise InvalidMessage([Issue("(body)", "is not well-formed JSON", "structure")]) from exc
    if json_too_deep(body) and json_depth(data) > MAX_DEPTH:
        raise too_deep()
    if not isinstance(data, dict):  # pragma: no cover - a body starting with { is an object
        raise InvalidMessage([Issue("(body)", "must be a JSON object", "structure")])
    return data
