"""``CscAdapter``: a council's children's social care system, in JSON.

Parses "child-status" messages (the child, their episodes and plans, the allocated social worker,
the family) and renders crisis-event disclosures as "crisis notices". Both formats are pydantic
models in this package, published as JSON Schema under ``docs/schemas``.
"""

from __future__ import annotations

from pydantic import ValidationError

from adapters.base import MappingRow, ParseContext, Rendered
from adapters.csc.child_status import ChildStatusMessage
from adapters.csc.describe import MAPPING
from adapters.csc.parse import SOURCE_FORMAT, to_canonical
from adapters.csc.render import render_notice
from adapters.pydantic_issues import issues_from
from gateway.errors import InvalidMessage
from schemas.disclosure import Disclosure
from schemas.message import CanonicalMessage

CONTENT_TYPE = "application/json"


class CscAdapter:
    """Children's social care JSON (DfE CSC API / Standard Safeguarding Dataset field names)."""

    name = SOURCE_FORMAT
    content_types: tuple[str, ...] = (CONTENT_TYPE,)

    def parse(self, body: bytes, context: ParseContext) -> CanonicalMessage:
        """Parse and check one child-status message; raise InvalidMessage naming every problem."""
        try:
            message = ChildStatusMessage.model_validate_json(body)
        except ValidationError as exc:
            # The models' own validators name rules, never values, so their messages may pass.
            raise InvalidMessage(issues_from(exc, root="$", trust_messages=True)) from exc
        return to_canonical(message, context.partner, context.received_at)

    def render(self, disclosure: Disclosure) -> Rendered:
        """The disclosure as a crisis notice; what the notice cannot carry comes back as losses."""
        notice, losses = render_notice(disclosure)
        body = notice.model_dump_json(by_alias=True).encode()
        return Rendered(body=body, content_type=CONTENT_TYPE, losses=losses)

    def describe(self) -> tuple[MappingRow, ...]:
        """The mapping between the CSC formats and the canonical model."""
        return MAPPING
