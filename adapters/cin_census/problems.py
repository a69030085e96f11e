"""What the CIN census reader reports: file, line, element and reason of a problem, never a value.

Each problem also says what it cost (:class:`Effect`), so the report is precise about what was
imported: the whole file refused, the child or one of its episodes left out, one value left out,
or nothing at all (a formatting fault reported for the council to fix).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Effect(StrEnum):
    """What a problem cost, from the whole file down to nothing."""

    NOT_READ = "file not read"  # missing, unreadable, or not XML at all
    FILE_REFUSED = "file refused"  # XML, but not a CIN census return the importer may trust
    READING_STOPPED = "reading stopped"  # the XML breaks here: later children were not read
    CHILD_SKIPPED = "child not imported"
    EPISODE_SKIPPED = "episode not imported"
    VALUE_LEFT_OUT = "value left out"
    REPORTED = "reported only"  # nothing was left out (stray text, an unknown element...)


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in one file.

    ``line`` is the line of the element's start tag (lxml ``sourceline``), 0 where there is none
    (a missing file). ``element`` is an XPath-like location such as
    ``/Message/Children/Child[3]/CINdetails[1]/ReferralSource``. ``reason`` never quotes a value
    from the file: census returns hold children's identifiers.
    """

    file: str
    line: int
    element: str
    reason: str
    effect: Effect

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.element}: {self.reason} ({self.effect})"
