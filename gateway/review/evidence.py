"""The evidence pack for one person: a zip an IG officer can hand to a requester or a regulator.

- ``report.html``: the per-person report, standalone (its stylesheet inline, print-ready);
- ``auditevents.json``: the same decisions, and their delivery attempts, as a FHIR R4 Bundle of
  IHE BALP AuditEvents (``gateway/audit/export_fhir.py``);
- ``receipts.json``: a receipt (``gateway/audit/receipts.py``) for every entry in the report: an
  inclusion proof in the form of the C2SP / transparency-dev vectors (``leafIdx``, ``treeSize``,
  ``root``, ``leafHash``, ``proof``) for the first, ``entries`` with one proof each, and the
  signed checkpoint they all lead to; ``joinedup audit verify-receipt receipts.json --key ...``
  checks the whole file with no server.

If no checkpoint covers the newest entry yet, one is signed on demand first.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit.checkpoints import CheckpointRefused, TooSoon
from gateway.audit.export_fhir import audit_bundle
from gateway.audit.receipts import ReceiptError, receipt_for_seqs
from gateway.errors import Unavailable
from gateway.review.queries import PersonReport, entries_by_seq

log = structlog.get_logger(__name__)

_ON_DEMAND_TRIES = 3


def _receipts_document(person_id: str, receipt: dict[str, Any] | None) -> dict[str, Any]:
    """The receipt for every entry in the pack, exactly as ``joinedup audit verify-receipt``
    reads it (a proof for the first entry, ``entries`` with one proof each, and the signed
    checkpoint they lead to), naming the person it was made for."""
    if receipt is None:
        return {
            "personId": person_id,
            "checkpoint": None,
            "entries": [],
            "note": "no signed checkpoint covers these entries yet; download the pack again",
        }
    return {"personId": person_id, **receipt}


async def _receipt(
    engine: AsyncEngine, seqs: list[int], sign: Callable[[int], Awaitable[None]] | None
) -> dict[str, Any] | None:
    if not seqs:
        return None
    for attempt in range(_ON_DEMAND_TRIES):
        async with engine.connect() as conn:
            receipt = await receipt_for_seqs(conn, seqs)
        if receipt is not None or sign is None or attempt == _ON_DEMAND_TRIES - 1:
            return receipt
        try:
            await sign(max(seqs))
        except TooSoon as exc:
            await asyncio.sleep(min(exc.retry_after, 1.5))
    return None  # pragma: no cover - the loop returns


async def evidence_pack(
    engine: AsyncEngine,
    report: PersonReport,
    report_html: str,
    *,
    origin: str,
    sign: Callable[[int], Awaitable[None]] | None = None,
) -> bytes:
    """The zip's bytes. ``sign(size)`` signs a checkpoint covering ``size`` entries if none does."""
    decision_seqs = [d.seq for d in report.decisions]
    delivery_seqs = [d.seq for d in report.deliveries]
    seqs = sorted({*decision_seqs, *delivery_seqs})
    async with engine.connect() as conn:
        entries = await entries_by_seq(conn, seqs)
    bundle = audit_bundle(
        entries, gateway_name=origin, context=report.context, timestamp=datetime.now(UTC)
    )
    try:
        receipt = await _receipt(engine, seqs, sign)
    except (ReceiptError, CheckpointRefused) as exc:
        log.critical("evidence_pack_refused", alarm=True, reason=str(exc))
        raise Unavailable(
            "the ledger cannot prove these entries right now; its operators have been alerted"
        ) from None
    receipts = _receipts_document(report.person_id, receipt)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as pack:
        pack.writestr("report.html", report_html)
        pack.writestr("auditevents.json", orjson.dumps(bundle, option=orjson.OPT_INDENT_2))
        pack.writestr("receipts.json", orjson.dumps(receipts, option=orjson.OPT_INDENT_2))
    return buffer.getvalue()
