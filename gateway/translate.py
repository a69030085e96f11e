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
from adapters.cin_census import parse_file, read_file
from adapters.registry import default_adapters
from gateway.errors import GatewayError, InvalidInput, Issue
from schemas.disclosure import Addressee, Disclosure
from schemas.facts import Person
from schemas.identifiers import LaChildId
from schemas.labels import Art6Basis, LawfulBasis, Purpose
from schemas.message import CanonicalMessage

SOURCE_FORMATS = ("fhir-r4", "csc", "cin-census")
TARGET_FORMATS = ("fhir-r4", "csc")
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


def _messages(
    path: Path, source: str, adapters: dict[str, Adapter], *, lenient: bool, losses: list[str]
) -> Iterator[CanonicalMessage]:
    if source != "cin-census":
        yield adapters[source].parse(path.read_bytes(), _context())
        return
    # A census return is a batch, not one message: each child becomes a canonical message.
    if not lenient:
        yield from parse_file(path)  # InvalidMessage names every problem with its line
        return
    result = read_file(path, file_name=str(path))
    losses.extend(
        f"problem {p.file}:{p.line}: {p.element}: {p.reason} ({p.effect})" for p in result.problems
    )
    yield from result.messages


def translate(
    path: Path,
    source: str,
    target: str | None = None,
    *,
    adapters: dict[str, Adapter] | None = None,
    lenient: bool = False,
) -> Translation:
    """Translate one file; InvalidMessage (or InvalidInput) names every problem found.

    ``lenient`` (CIN census only) translates the children that can be, and lists every problem
    in the loss report instead of refusing the file.
    """
    adapters = adapters if adapters is not None else default_adapters()
    if source not in adapters and source != "cin-census":
        raise InvalidInput(f"unknown source format {source!r}")
    if target is not None and target not in adapters:
        raise InvalidInput(f"unknown target format {target!r}")
    result = Translation()
    for message in _messages(path, source, adapters, lenient=lenient, losses=result.losses):
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
