"""``joinedup translate``: a partner's file into canonical JSON, or into another partner format.

The loss report lists what did not survive: source elements the canonical model does not carry
(``unmapped``) and, with ``--to``, canonical facts the target format cannot carry (``loss``).
Nothing is dropped silently. No policy applies here: this is a tool for adapter authors and
interface analysts working on their own test data, not a way to disclose anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from adapters.base import Adapter, ParseContext
from adapters.registry import default_adapters
from gateway.errors import GatewayError, InvalidInput, Issue
from schemas.disclosure import Addressee, Disclosure
from schemas.facts import Person
from schemas.identifiers import LaChildId
from schemas.labels import Art6Basis, LawfulBasis, Purpose
from schemas.message import CanonicalMessage

MESSAGE_FORMATS = ("fhir-r4", "csc")
PARTNER = "translate"


@dataclass
class Translation:
    """What one file became, and what was lost on the way."""

    messages: list[CanonicalMessage] = field(default_factory=list)
    outputs: list[tuple[bytes, str]] = field(default_factory=list)  # (body, content type)
    losses: list[str] = field(default_factory=list)  # "unmapped ..." / "loss ..." lines


def _context() -> ParseContext:
    return ParseContext(partner=PARTNER, received_at=datetime.now(UTC))


def _as_disclosure(message: CanonicalMessage) -> Disclosure:
    """Everything the message holds, addressed as its own facts allow; no policy applies."""
    people = [f for f in message.facts if isinstance(f, Person)]
    about = tuple(p.id for p in people if p.id != message.subject)
    councils = [i.la_code for p in people for i in p.identifiers if isinstance(i, LaChildId)]
    return Disclosure(
        disclosure_id=str(uuid.uuid4()),
        exchange_id=str(uuid.uuid4()),
        kind=message.kind,
        sender_partner=PARTNER,
        sender_organisation=message.provenance.organisation,
        recipient=Addressee(partner=PARTNER, organisation=councils[0] if councils else "000"),
        agreement_id="translation",
        agreement_version=1,
        flow_id="translation",
        purpose=message.purpose or Purpose.CARE_COORDINATION,
        lawful_basis=LawfulBasis(art6=Art6Basis.PUBLIC_TASK),
        subject=message.subject,
        about=about,
        facts=message.facts,
        disclosed=(),
        withheld=(),
        created_at=datetime.now(UTC),
    )


def _messages(path: Path, source: str, adapters: dict[str, Adapter]) -> Iterator[CanonicalMessage]:
    body = path.read_bytes()
    yield adapters[source].parse(body, _context())


def translate(
    path: Path,
    source: str,
    target: str | None = None,
    *,
    adapters: dict[str, Adapter] | None = None,
) -> Translation:
    """Translate one file; InvalidMessage (or InvalidInput) names every problem found."""
    adapters = adapters if adapters is not None else default_adapters()
    if source not in adapters:
        raise InvalidInput(f"unknown source format {source!r}")
    if target is not None and target not in adapters:
        raise InvalidInput(f"unknown target format {target!r}")
    result = Translation()
    for message in _messages(path, source, adapters):
        result.messages.append(message)
        result.losses.extend(f"unmapped {u.element}: {u.reason}" for u in message.unmapped)
        if target is None:
            continue
        try:
            rendered = adapters[target].render(_as_disclosure(message))
        except GatewayError as exc:
            reason = f"{target} cannot carry this {message.kind.value} message: {exc.detail}"
            raise InvalidInput(reason, [Issue("(message)", reason, "not-supported")]) from exc
        result.outputs.append((rendered.body, rendered.content_type))
        result.losses.extend(f"loss {loss.element}: {loss.reason}" for loss in rendered.losses)
    return result
