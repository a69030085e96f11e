"""The receipt door: ``GET /api/v1/exchanges/{exchange_id}/receipt``.

The partner that sent an exchange fetches proof that every ledger entry about it is in the
ledger's Merkle tree, under a signed checkpoint (``gateway/audit/receipts.py``). Any other caller
gets the same 404 as for an unknown id. If no checkpoint covers the entries yet, one is signed on
demand, at most once a second per process; otherwise 503 with ``Retry-After``.
"""

from __future__ import annotations

import math
import uuid

import structlog
from aiohttp import web

from gateway.appkeys import SERVICES
from gateway.audit.checkpoints import Checkpointer, CheckpointRefused, TooSoon
from gateway.audit.receipts import ReceiptError, exchange_seqs, receipt_for_seqs
from gateway.auth import authenticate
from gateway.errors import InvalidInput, Issue, NotFound, Unavailable
from gateway.responses import error_response, json_response

log = structlog.get_logger(__name__)

CHECKPOINTER = web.AppKey("checkpointer", Checkpointer)


def _exchange_id(request: web.Request) -> str:
    raw = request.match_info["exchange_id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidInput(
            "exchange_id must be a UUID", [Issue("exchange_id", "must be a UUID", "value")]
        ) from None


def _retry_later(request: web.Request, seconds: float) -> web.Response:
    response = error_response(
        request,
        status=503,
        title="Service unavailable",
        detail="no checkpoint covers this exchange yet; one is being signed: retry shortly",
    )
    response.headers["Retry-After"] = str(max(1, math.ceil(seconds)))
    return response


async def receipt(request: web.Request) -> web.Response:
    """The exchange's receipt: inclusion proofs of its entries under a signed checkpoint."""
    services = request.app[SERVICES]
    partner = authenticate(request, services.settings)
    exchange_id = _exchange_id(request)
    try:
        async with services.engine.connect() as conn:
            seqs = await exchange_seqs(conn, exchange_id, partner.id)
            if not seqs:
                # SECURITY: unknown, and sent by someone else, look the same.
                raise NotFound("no exchange with this id that you sent")
            document = await receipt_for_seqs(conn, seqs)
        if document is None:
            try:
                await request.app[CHECKPOINTER].on_demand(seqs[-1])
            except TooSoon as exc:
                return _retry_later(request, exc.retry_after)
            async with services.engine.connect() as conn:
                document = await receipt_for_seqs(conn, seqs)
            if document is None:
                return _retry_later(request, 1)
    except (ReceiptError, CheckpointRefused) as exc:
        log.critical("receipt_refused", alarm=True, reason=str(exc))
        raise Unavailable(
            "the ledger cannot prove this exchange right now; its operators have been alerted"
        ) from None
    return json_response(document)


def add_routes(app: web.Application) -> None:
    """Register the receipt door."""
    app.router.add_get("/api/v1/exchanges/{exchange_id}/receipt", receipt)
