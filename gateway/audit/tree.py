"""The ledger's Merkle tree in storage, and the index rows written beside each entry.

``ledger_nodes`` keeps every perfect subtree as it completes (``merkle.append``), level 0 being
the leaf hashes (leaf index = seq - 1). Any root or proof is then a few stored nodes: this module
fetches a set of them in one query (``node_query``), for the writer thread's sync connection and
for async callers alike.

The committer also writes, per entry, one ``ledger_search`` row (the fields the IG review pages
search by, taken generically from the event) and one ``ledger_persons`` row per person it names.
They are finding aids, not evidence: the verifier recomputes the tree from the entries
themselves, and pages read entries back from ``ledger``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, String, tuple_
from sqlalchemy import select as sql_select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import merkle
from gateway.audit.merkle import NodeKey
from gateway.store.tables import ledger_nodes, ledger_search

CHUNK = 500  # node keys per query


class TreeError(RuntimeError):
    """The stored tree lacks a node it must have (the ledger's storage is damaged or tampered)."""


def node_query(keys: Sequence[NodeKey]) -> Select[int, int, bytes]:
    """SELECT level, idx, hash for these nodes."""
    return sql_select(ledger_nodes.c.level, ledger_nodes.c.idx, ledger_nodes.c.hash).where(
        tuple_(ledger_nodes.c.level, ledger_nodes.c.idx).in_(list(keys))
    )


def _chunks(keys: Iterable[NodeKey]) -> list[list[NodeKey]]:
    unique = list(dict.fromkeys(keys))
    return [unique[i : i + CHUNK] for i in range(0, len(unique), CHUNK)]


def fetch_nodes(conn: Connection, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    """The stored hashes of these nodes (those that exist), on a sync connection."""
    found: dict[NodeKey, bytes] = {}
    for chunk in _chunks(keys):
        for level, idx, value in conn.execute(node_query(chunk)):
            found[(level, idx)] = bytes(value)
    return found


async def fetch_nodes_async(conn: AsyncConnection, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    """The stored hashes of these nodes (those that exist), on an async connection."""
    found: dict[NodeKey, bytes] = {}
    for chunk in _chunks(keys):
        for level, idx, value in await conn.execute(node_query(chunk)):
            found[(level, idx)] = bytes(value)
    return found


def source(nodes: Mapping[NodeKey, bytes]) -> merkle.NodeSource:
    """A node source over fetched nodes; a missing one is a TreeError naming it."""

    def node(level: int, idx: int) -> bytes:
        try:
            return nodes[(level, idx)]
        except KeyError:
            raise TreeError(
                f"the stored tree has no node at level {level}, index {idx} "
                f"(covering seqs {(idx << level) + 1}-{(idx + 1) << level})"
            ) from None

    return node


def frontier_from(nodes: Mapping[NodeKey, bytes], size: int) -> list[bytes]:
    """The frontier hashes of the tree of ``size`` from fetched nodes (TreeError if missing)."""
    node = source(nodes)
    return [node(level, idx) for level, idx in merkle.frontier_keys(size)]


def load_frontier(conn: Connection, size: int) -> list[bytes]:
    """The frontier of the stored tree of ``size`` leaves, in one query."""
    return frontier_from(fetch_nodes(conn, merkle.frontier_keys(size)), size)


def node_rows(nodes: Iterable[tuple[int, int, bytes]]) -> list[dict[str, Any]]:
    """``ledger_nodes`` rows for nodes from ``merkle.append``."""
    return [{"level": level, "idx": idx, "hash": value} for level, idx, value in nodes]


# -- the search index ---------------------------------------------------------------------------

# ledger_search column <- the event's field of that name (where the event has one).
_SEARCH_FIELDS = (
    "exchange_id",
    "request_id",
    "partner",
    "recipient_partner",
    "agreement_id",
    "purpose",
    "lawful_basis",
    "outcome",
    "reason_code",
    "override_reason",
)
_LENGTHS = {
    c.name: c.type.length
    for c in ledger_search.columns
    if isinstance(c.type, String) and c.type.length is not None
}


def _text(column: str, value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    # A finding aid: an over-long value is cut to the column rather than fail the commit (all
    # are codes and ids today, well within their columns).
    limit = _LENGTHS.get(column)
    return text[:limit] if limit is not None else text


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError("an entry's 'at' must be a timestamp")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def index_rows(seq: int, get: Callable[[str], Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``ledger_search`` row and ``ledger_persons`` rows for one entry.

    ``get`` reads a field of the entry by name (None if it has none): ``getattr`` on an event, or
    ``dict.get`` on a stored entry's JSON, so both the committer and a backfill use this.
    """
    row: dict[str, Any] = {
        "seq": seq,
        "at": _utc(get("at")),
        "event": _text("event", get("event")),
        "flagged": bool(get("flagged_for_review")),
    }
    for name in _SEARCH_FIELDS:
        row[name] = _text(name, get(name))
    people = get("person_ids") or ()
    persons = [{"person_id": p, "seq": seq} for p in dict.fromkeys(people) if p]
    return row, persons


def event_getter(event: object) -> Callable[[str], Any]:
    """``get`` for :func:`index_rows` over an audit event (a pydantic model keeps its fields in
    ``__dict__``; reading it there skips pydantic's slow path for fields an event lacks)."""
    return vars(event).get
