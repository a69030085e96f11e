"""Ledger entries as CSV: RFC 4180 (CRLF line ends, quoted where needed), UTF-8, a header row,
one row per entry.

Columns (``COLUMNS``): seq, at, event, exchange_id, request_id, partner, recipient, agreement,
version, purpose, basis, outcome, reason_code, flagged, override_reason, consent_ref, disclosed
(``;``-joined element names), withheld (``;``-joined ``element:reason``), person_ids
(``;``-joined surrogate ids). ``recipient`` is the receiving partner, or the recipient's
organisation code where no partner is connected for it. A column an entry does not have is empty.

Spreadsheet formula injection is guarded against: a cell that begins with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is prefixed with ``'`` so that a spreadsheet shows it as text.
The entries hold no record content, and neither does the export (explanations, judgements and
review comments are free text and are left out).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

COLUMNS = (
    "seq",
    "at",
    "event",
    "exchange_id",
    "request_id",
    "partner",
    "recipient",
    "agreement",
    "version",
    "purpose",
    "basis",
    "outcome",
    "reason_code",
    "flagged",
    "override_reason",
    "consent_ref",
    "disclosed",
    "withheld",
    "person_ids",
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell's text, made inert for spreadsheets (OWASP CSV injection guidance)."""
    if value is None:
        return ""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _refusal_reason(entry: Mapping[str, Any]) -> object:
    # An access refusal's reason is a code (not-authenticated, wrong-role, ...).
    return entry.get("reason") if entry.get("event") == "access.refused" else None


def row(entry: Mapping[str, Any]) -> list[str]:
    """One entry's cells, in ``COLUMNS`` order."""
    flagged = (
        entry.get("flagged_for_review") if entry.get("event") == "disclosure.decided" else None
    )
    values: tuple[object, ...] = (
        entry.get("seq"),
        entry.get("at"),
        entry.get("event"),
        entry.get("exchange_id"),
        entry.get("request_id"),
        entry.get("partner"),
        entry.get("recipient_partner") or entry.get("recipient_organisation"),
        entry.get("agreement_id"),
        entry.get("agreement_version"),
        entry.get("purpose"),
        entry.get("lawful_basis"),
        entry.get("outcome"),
        entry.get("reason_code") or _refusal_reason(entry),
        flagged,
        entry.get("override_reason"),
        entry.get("consent_ref"),
        ";".join(entry.get("disclosed") or ()),
        ";".join(f"{w['element']}:{w['reason_code']}" for w in entry.get("withheld") or ()),
        ";".join(entry.get("person_ids") or ()),
    )
    return [safe_cell(v) for v in values]


def rows(entries: Iterable[Mapping[str, Any]]) -> Iterator[list[str]]:
    """The header row, then one row per entry."""
    yield list(COLUMNS)
    for entry in entries:
        yield row(entry)


def write_csv(entries: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    """Write the CSV to ``out`` (opened with ``newline=""``); return the number of entries."""
    writer = csv.writer(out, dialect="excel", lineterminator="\r\n")
    count = -1
    for cells in rows(entries):
        writer.writerow(cells)
        count += 1
    return count


def audit_csv(entries: Iterable[Mapping[str, Any]]) -> str:
    """The whole CSV as a string."""
    buffer = io.StringIO(newline="")
    write_csv(entries, buffer)
    return buffer.getvalue()
