"""The one protocol every partner format implements, like an httpx transport.

An adapter turns a partner's bytes into a :class:`~schemas.message.CanonicalMessage` (``parse``),
turns a :class:`~schemas.disclosure.Disclosure` into the recipient's bytes (``render``), and
describes its mapping (``describe``), which feeds the docs and loss reports. The gateway depends
only on this protocol. Adapters map library errors (pydantic, fhir.resources, XML parsers) to
:class:`gateway.errors.InvalidMessage` with ``raise ... from exc``, naming the element and the
reason but never the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from schemas.disclosure import Disclosure
from schemas.message import CanonicalMessage


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What the gateway knows about a message before parsing it."""

    partner: str  # the authenticated partner id
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Loss:
    """An element the target format cannot carry (reported, never dropped silently)."""

    element: str
    reason: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """A disclosure in the recipient's format."""

    body: bytes
    content_type: str
    losses: tuple[Loss, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class MappingRow:
    """One line of an adapter's mapping: a source element, the canonical element, a note."""

    source: str
    canonical: str
    note: str = ""


@runtime_checkable
class Adapter(Protocol):
    """A partner format."""

    name: str
    content_types: tuple[str, ...]

    def parse(self, body: bytes, context: ParseContext) -> CanonicalMessage:
        """Parse and check one message; raise InvalidMessage naming every problem found."""
        ...

    def render(self, disclosure: Disclosure) -> Rendered:
        """Render a minimised disclosure, with its withheld manifest, for the recipient."""
        ...

    def describe(self) -> tuple[MappingRow, ...]:
        """The mapping between this format and the canonical model."""
        ...
