"""Load a seed file: partner messages that teach the index who is who (used by the demo).

A seed file is a YAML list of ``{partner: <id>, file: <path>}``; each file is a message in that
partner's own format and goes through the same pipeline as a message on the wire, audited.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

from gateway.errors import ConfigurationError
from gateway.pipeline import Exchange, run_exchange
from gateway.services import Services


async def load_seed(path: Path, services: Services) -> int:
    """Run every seed message through the pipeline; return how many were loaded."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(entries, list):
        raise ConfigurationError(f"{path}: a seed file is a list of {{partner, file}} entries")
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not {"partner", "file"} <= entry.keys():
            raise ConfigurationError(f"{path}: entry {number} needs 'partner' and 'file'")
        partner = services.settings.partner(str(entry["partner"]))
        if partner is None:
            raise ConfigurationError(f"{path}: entry {number} names an unknown partner")
        body = (path.parent / str(entry["file"])).read_bytes()
        exchange = Exchange(
            partner=partner,
            adapter=services.adapters[partner.format],
            body=body,
            request_id=str(uuid.uuid4()),
        )
        await run_exchange(exchange, services)
    return len(entries)
