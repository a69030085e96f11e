"""``FhirR4Adapter``: FHIR R4 (UK Core) message Bundles in JSON.

Parsing reads the JSON with orjson and walks plain dicts with focused checks (the hot path): NHS
number check digits, the code systems of every code relied on, references resolving within the
Bundle, the identifiers a flow needs. ``validate_models=True`` adds full ``fhir.resources`` R4B
validation of every resource, several times slower; use it while onboarding a partner.
XML is not parsed here: the gateway refuses other media types before an adapter is called.
"""

from __future__ import annotations

import orjson

from adapters.base import MappingRow, ParseContext, Rendered
from adapters.fhir_r4.describe import MAPPING
from adapters.fhir_r4.message import SOURCE_FORMAT, read_message
from adapters.fhir_r4.models import model_issues
from adapters.fhir_r4.render import render_bundle
from adapters.fhir_r4.walk import Issues
from gateway.errors import InvalidMessage, Issue
from schemas.disclosure import Disclosure
from schemas.message import CanonicalMessage

CONTENT_TYPE = "application/fhir+json"


class FhirR4Adapter:
    """FHIR R4 UK Core message Bundles (``application/fhir+json``)."""

    name = SOURCE_FORMAT
    content_types: tuple[str, ...] = (CONTENT_TYPE,)

    def __init__(self, *, validate_models: bool = False) -> None:
        self.validate_models = validate_models

    def parse(self, body: bytes, context: ParseContext) -> CanonicalMessage:
        """Parse and check one message Bundle; raise InvalidMessage naming every problem."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            # SECURITY: orjson's message quotes the bytes around the fault; it is not passed on.
            raise InvalidMessage([Issue("(body)", "is not well-formed JSON", "structure")]) from exc
        if not isinstance(data, dict):
            raise InvalidMessage(
                [Issue("(body)", "must be a JSON object: a FHIR Bundle", "structure")]
            )
        if data.get("resourceType") != "Bundle":
            raise InvalidMessage(
                [Issue("resourceType", "must be Bundle: a FHIR message", "structure")]
            )
        issues = Issues()
        if self.validate_models:
            issues.items.extend(model_issues(data))
        return read_message(data, context, issues)

    def render(self, disclosure: Disclosure) -> Rendered:
        """The disclosure as a FHIR message Bundle, with the withheld manifest on its header."""
        bundle, losses = render_bundle(disclosure)
        return Rendered(body=orjson.dumps(bundle), content_type=CONTENT_TYPE, losses=losses)

    def describe(self) -> tuple[MappingRow, ...]:
        """The mapping between FHIR R4 UK Core and the canonical model."""
        return MAPPING
