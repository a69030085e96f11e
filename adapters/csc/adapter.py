"""``CscAdapter``: a council's children's social care system, in JSON.

Parses "child-status" messages (the child, their episodes and plans, the allocated social worker,
the family) and renders crisis-event disclosures as "crisis notices". Both formats are pydantic
models in this package, published as JSON Schema under ``docs/schemas``.
"""

from __future__ import annotations

from adapters.base import MappingRow, ParseContext, Rendered
from adapters.csc.build import SOURCE_FORMAT
from adapters.csc.describe import MAPPING
from adapters.csc.inbound import parse
from adapters.csc.render import render_notice
from schemas.disclosure import Disclosure
from schemas.message import CanonicalMessage

CONTENT_TYPE = "application/json"


class CscAdapter:
    """Children's social care JSON (DfE CSC API / Standard Safeguarding Dataset field names)."""

    name = SOURCE_FORMAT
    content_types: tuple[str, ...] = (CONTENT_TYPE,)

    def parse(self, body: bytes, context: ParseContext) -> CanonicalMessage:
        """Parse and check one council message; raise InvalidMessage naming every problem."""
        return parse(body, context.partner, context.received_at)

    def render(self, disclosure: Disclosure) -> Rendered:
        """The disclosure as a crisis notice; what the notice cannot carry comes back as losses."""
        notice, losses = render_notice(disclosure)
        body = notice.model_dump_json(by_alias=True).encode()
        return Rendered(body=body, content_type=CONTENT_TYPE, losses=losses)

    def describe(self) -> tuple[MappingRow, ...]:
        """The mapping between the CSC formats and the canonical model."""
        return MAPPING
