"""The hash chain: ``entry_hash = SHA-256(prev_hash ‖ canonical entry)`` over a gap-free sequence.

An entry is the RFC 8785 canonical JSON of an audit event plus its ``seq``. The head row
(``ledger_head``) holds the last sequence number and hash, so a deleted last entry is caught too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
import rfc8785

from gateway.audit.events import AuditEvent

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where the chain ends: the last sequence number and its hash."""

    seq: int
    entry_hash: str


@dataclass(frozen=True, slots=True)
class Entry:
    """A ledger row ready to insert."""

    seq: int
    entry: str
    prev_hash: str
    entry_hash: str


_SAFE_INT = 2**53


def _plain(value: object) -> bool:
    """True if orjson's sorted output is exactly RFC 8785 for ``value``: no floats (RFC 8785
    writes numbers as ECMAScript does), integers IEEE-754 can hold exactly, and ASCII keys (RFC
    8785 orders keys by UTF-16 code unit, orjson by code point: the same for ASCII). String
    escaping agrees for every code point (checked exhaustively, and by a property test).
    A loop over exact types rather than recursion: it runs once per entry written or verified."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -_SAFE_INT < item < _SAFE_INT:
                return False
        elif kind is list:
            stack.extend(item)
        elif kind is dict:
            try:
                if not "".join(item).isascii():
                    return False
            except TypeError:  # a key that is not a string
                return False
            stack.extend(item.values())
        else:
            return False  # a float, or anything else: the reference implementation decides
    return True


def canonical_json(document: Any) -> bytes:
    """RFC 8785 canonical JSON: orjson (C) where its output is provably identical, else the
    ``rfc8785`` reference implementation (pure Python, about twenty times slower)."""
    if _plain(document):
        try:
            return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # a lone surrogate: let the reference implementation say why
            pass
    return bytes(rfc8785.dumps(document))


def canonical_entry(seq: int, event: AuditEvent) -> bytes:
    """The canonical bytes of one entry (RFC 8785)."""
    document: dict[str, Any] = event.model_dump(mode="json")
    document["seq"] = seq
    return canonical_json(document)


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """The hash linking an entry to the one before it."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


def extend(head: ChainHead, events: list[AuditEvent]) -> tuple[list[Entry], ChainHead]:
    """Append ``events`` after ``head``; return the rows and the new head."""
    rows = []
    for event in events:
        seq = head.seq + 1
        canonical = canonical_entry(seq, event)
        entry_hash = chain_hash(head.entry_hash, canonical)
        rows.append(Entry(seq, canonical.decode(), head.entry_hash, entry_hash))
        head = ChainHead(seq, entry_hash)
    return rows, head
