"""The CIN census half of ``joinedup translate``: a whole return into canonical messages.

``read_file`` is lenient (every importable child's message, and every problem); ``parse_file``
is strict, like a partner message: any problem refuses the file with ``InvalidMessage`` naming
each one (element with its line, and reason), never a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from adapters.cin_census.problems import Effect, Problem
from adapters.cin_census.reader import CinCensusReader, Source
from gateway.errors import InvalidMessage, Issue
from schemas.message import CanonicalMessage

_ISSUE_CODES = {
    Effect.NOT_READ: "structure",
    Effect.FILE_REFUSED: "security",
    Effect.READING_STOPPED: "structure",
}


@dataclass
class CinCensusFile:
    """A return read whole: one message per imported child, and every problem in file order."""

    messages: list[CanonicalMessage] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_file(source: Source, *, file_name: str | None = None) -> CinCensusFile:
    """Every child's message and every problem (a file is small enough to hold its messages)."""
    reader = CinCensusReader(source, file_name=file_name)
    result = CinCensusFile()
    child_problems: list[Problem] = []
    for child in reader:
        child_problems.extend(child.problems)
        if child.message is not None:
            result.messages.append(child.message)
    result.problems = sorted(
        [*reader.file_problems, *child_problems], key=lambda p: (p.line, p.element)
    )
    return result


def parse_file(path: Path) -> list[CanonicalMessage]:
    """The messages of a return with no problem at all; InvalidMessage naming every problem."""
    result = read_file(path, file_name=str(path))
    if result.problems:
        raise InvalidMessage(
            [
                Issue(
                    f"{p.element} (line {p.line})",
                    f"{p.reason} ({p.effect})",
                    _ISSUE_CODES.get(p.effect, "invalid"),
                )
                for p in result.problems
            ]
        )
    return result.messages
