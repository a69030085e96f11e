"""The ledger status page's "Verify now": the whole-ledger verifier, run off the event loop.

The verifier (``gateway/audit/verify.py``, the same as ``joinedup audit verify``) hashes every
entry; on a large ledger that is seconds to minutes of CPU. It runs in a thread with its own event
loop and its own database engine, so the gateway keeps answering partners meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.audit.signing import Verifier
from gateway.audit.verify import Verdict, verify_ledger
from gateway.settings import Settings
from gateway.store.engine import create_engine


async def _verify(settings: Settings, verifiers: Sequence[Verifier] | None) -> Verdict:
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    try:
        async with engine.connect() as conn:
            return await verify_ledger(
                conn,
                verifiers=verifiers,
                checkpoint_dir=settings.ledger.checkpoint_dir,
                origin=settings.ledger.origin,
            )
    finally:
        await engine.dispose()


def _in_thread(settings: Settings, verifiers: Sequence[Verifier] | None) -> Verdict:
    return asyncio.run(_verify(settings, verifiers))


async def run_verification(
    settings: Settings, verifiers: Sequence[Verifier] | None = None
) -> Verdict:
    """Verify the chain, the tree and every checkpoint (signatures too, given ``verifiers``)."""
    return await asyncio.to_thread(_in_thread, settings, list(verifiers) if verifiers else None)
