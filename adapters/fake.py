"""An in-memory adapter for tests, like httpx's ``MockTransport``.

``parse`` reads a canonical message as JSON; ``render`` writes the disclosure as JSON and keeps it
in ``rendered`` so a test can assert on exactly what a recipient would have been sent.
"""

from __future__ import annotations

from pydantic import ValidationError

from adapters.base import Loss, MappingRow, ParseContext, Rendered
from adapters.pydantic_issues import issues_from
from gateway.errors import InvalidMessage
from schemas.disclosure import Disclosure
from schemas.facts import FACT_CLASSES
from schemas.identifiers import LaChildId, NhsNumber, Upn
from schemas.message import CanonicalMessage

CONTENT_TYPE = "application/vnd.joined-up.canonical+json"
# The canonical model's union tags, which pydantic reports in error locations.
_TAGS = frozenset(
    str(model.model_fields[tag].default)
    for models, tag in ((FACT_CLASSES, "fact"), ((NhsNumber, LaChildId, Upn), "type"))
    for model in models
)


class FakeAdapter:
    """Canonical JSON in, disclosure JSON out; remembers every disclosure it rendered."""

    content_types: tuple[str, ...] = (CONTENT_TYPE,)

    def __init__(self, name: str = "fake", *, losses: tuple[Loss, ...] = ()) -> None:
        self.name = name
        self.losses = losses  # reported on every render, to exercise loss handling
        self.rendered: list[Disclosure] = []

    def parse(self, body: bytes, context: ParseContext) -> CanonicalMessage:
        """The canonical message the body holds; the context is not consulted."""
        try:
            return CanonicalMessage.model_validate_json(body)
        except ValidationError as exc:
            # SECURITY: canonical validators name rules; values stay out (include_input=False).
            found = issues_from(exc, root="$", trust_messages=True, tags=_TAGS)
            raise InvalidMessage(found) from exc

    def render(self, disclosure: Disclosure) -> Rendered:
        """The disclosure as JSON, remembered in ``rendered``."""
        self.rendered.append(disclosure)
        return Rendered(
            body=disclosure.model_dump_json().encode(),
            content_type=CONTENT_TYPE,
            losses=self.losses,
        )

    def describe(self) -> tuple[MappingRow, ...]:
        """The identity mapping."""
        return (MappingRow("(the canonical model)", "(the canonical model)", "as JSON"),)
