"""``CscAdapter``: a council's children's social care system, in JSON.

Parses what a council sends (``adapters.csc.inbound``: child-status, child-record and the
SSD-named events) and renders what it receives, chosen by the disclosure's kind: a crisis notice
for a crisis event, a meeting invitation, referral or worker contact notice, or a disclosure
summary (``adapters.csc.outbound``). Every format is a pydantic model in this package, published
as JSON Schema under ``docs/schemas`` (``csc_schemas()``).
"""

from __future__ import annotations

from adapters.base import MappingRow, ParseContext, Rendered
from adapters.csc.build import SOURCE_FORMAT
from adapters.csc.describe import MAPPING
from adapters.csc.inbound import parse
from adapters.csc.render import render_notice
from adapters.csc.render_documents import render_document
from schemas.disclosure import Disclosure
from schemas.message import CanonicalMessage, MessageKind

CONTENT_TYPE = "application/json"


class CscAdapter:
    """Children's social care JSON (DfE CSC API / Standard Safeguarding Dataset field names)."""

    name = SOURCE_FORMAT
    content_types: tuple[str, ...] = (CONTENT_TYPE,)

    def parse(self, body: bytes, context: ParseContext) -> CanonicalMessage:
        """Parse and check one council message; raise InvalidMessage naming every problem."""
        return parse(body, context.partner, context.received_at)

    def render(self, disclosure: Disclosure) -> Rendered:
        """The disclosure as the council document for its kind, with what it could not carry.

        A kind with no council document raises ConfigurationError (the pipeline records it as a
        refusal of this recipient).
        """
        if disclosure.kind is MessageKind.CRISIS_EVENT:
            notice, losses = render_notice(disclosure)
            body = notice.model_dump_json(by_alias=True).encode()
        else:
            document, losses = render_document(disclosure)
            body = document.model_dump_json(by_alias=True).encode()
        return Rendered(body=body, content_type=CONTENT_TYPE, losses=losses)

    def describe(self) -> tuple[MappingRow, ...]:
        """The mapping between the CSC formats and the canonical model."""
        return MAPPING
