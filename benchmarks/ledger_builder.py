"""Build a realistic ledger through the real commit path, with signed checkpoints every N entries.

Used by ``benchmarks/audit_verify.py`` and ``tests/test_tamper.py``. Entries are what an exchange
writes (``exchange.received``, ``disclosure.decided``, ``delivery.attempted``; synthetic ids, no
content), committed by the group committer exactly as the gateway commits them (hash chain, tree
nodes, search rows, one transaction per batch); checkpoints are signed by ``sign_checkpoint``, the
checkpointer's own function, so copies land in ``checkpoint_dir`` too.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.checkpoints import sign_checkpoint
from gateway.audit.events import (
    AuditEvent,
    DeliveryAttempted,
    DisclosureDecided,
    ExchangeReceived,
    WithheldRef,
)
from gateway.audit.signing import Signer
from gateway.store.committer import GroupCommitter, UnitOfWork
from gateway.store.engine import create_engine, create_sync_engine_for
from gateway.store.migrate import upgrade

ORIGIN = "bench.joined-up.local/ledger"


@dataclass(frozen=True, slots=True)
class Built:
    """What was built: entries, checkpoint sizes, and the key that signed them."""

    entries: int
    checkpoints: list[int]
    signer: Signer


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def events_for(rng: random.Random, at: datetime) -> list[AuditEvent]:
    """The entries of one exchange: received, decided (permit or refuse), delivered if permitted."""
    exchange, request = _uuid(rng), _uuid(rng)
    people = (_uuid(rng), _uuid(rng))
    common = {"at": at, "request_id": request, "exchange_id": exchange}
    permit = rng.random() < 0.8
    disclosure = _uuid(rng) if permit else None
    events: list[AuditEvent] = [
        ExchangeReceived(
            **common,
            partner="trust-demo",
            kind="crisis-event",
            sender_organisation="RX9",
            source_message_id_sha256=f"{rng.getrandbits(256):064x}",
            body_sha256=f"{rng.getrandbits(256):064x}",
            person_ids=people,
        ),
        DisclosureDecided(
            **common,
            partner="trust-demo",
            outcome="permit" if permit else "refuse",
            reason_code="flow-permits" if permit else "no-agreement",
            explanation="The flow crisis-notice of agreement demo-trust-council v1 permits a "
            "crisis-event for safeguarding, on art6(1)(e)+art9(2)(h)+sch1-para2.",
            kind="crisis-event",
            recipient_partner="council-demo",
            recipient_organisation="999",
            agreement_id="demo-trust-council",
            agreement_version=1,
            flow_id="crisis-notice",
            purpose="safeguarding",
            lawful_basis="art6(1)(e)+art9(2)(h)+sch1-para2",
            disclosure_id=disclosure,
            disclosed=("crisis-event.event_type", "crisis-event.legal_status", "person.name"),
            withheld=(WithheldRef(element="diagnosis", reason_code="sensitivity-label"),),
            body_sha256=f"{rng.getrandbits(256):064x}" if permit else None,
            person_ids=people,
        ),
    ]
    if disclosure is not None:
        events.append(
            DeliveryAttempted(
                **common,
                partner="council-demo",
                outbox_id=_uuid(rng),
                disclosure_id=disclosure,
                attempt=1,
                outcome="delivered",
                status_code=202,
            )
        )
    return events


def _unit(events: list[AuditEvent]) -> UnitOfWork:
    return UnitOfWork(events=lambda: list(events))


async def build_ledger(
    url: str,
    schema: str | None,
    entries: int,
    *,
    every: int,
    directory: Path | None,
    seed: int = 5,
) -> Built:
    """A ledger of exactly ``entries`` entries, with a checkpoint at every multiple of ``every``."""
    engine = create_engine(url, schema=schema)
    await upgrade(engine)
    signer = Signer(ORIGIN, Ed25519PrivateKey.generate())
    writer = create_sync_engine_for(url, schema=schema)
    committer = GroupCommitter(writer)
    await committer.start()
    rng = random.Random(seed)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    sizes: list[int] = []
    try:
        done = 0
        while done < entries:
            target = min(entries, (done // every + 1) * every)
            units = []
            while done < target:
                events = events_for(rng, at)[: target - done]
                at += timedelta(seconds=7)
                done += len(events)
                units.append(_unit(events))
            await asyncio.gather(*(committer.submit(u) for u in units))
            if target % every == 0:
                checkpoint = await sign_checkpoint(engine, signer, [signer.verifier], directory)
                if checkpoint is None or checkpoint.tree_size != target:
                    raise RuntimeError("the builder's checkpoint is not at the expected size")
                sizes.append(target)
    finally:
        await committer.stop()
        writer.dispose()
        await engine.dispose()
    return Built(entries, sizes, signer)
