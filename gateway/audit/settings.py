"""Settings for the ledger's Merkle tree and its signed checkpoints (``ledger:`` in the config)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class LedgerSettings(BaseModel):
    """Where checkpoints are signed, how often, and where copies go out of the database's reach."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The log's name in its checkpoints (the C2SP signed-note origin line).
    origin: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s]+$")] = (
        "joined-up.local/ledger"
    )
    # The Ed25519 private key that signs checkpoints (PKCS#8 PEM). None: a key is generated under
    # ./var for the demo on first start.
    signing_key_file: Path | None = None
    # C2SP verifier keys (``<name>+<key id>+<base64 key>``) whose signatures `audit verify`
    # accepts, besides the signing key's own.
    verifier_keys: tuple[str, ...] = ()
    checkpoint_entries: Annotated[int, Field(gt=0)] = 1000  # sign at least every N entries ...
    checkpoint_seconds: Annotated[float, Field(gt=0)] = 60.0  # ... or T seconds, if any were added
    # A directory the gateway's database role cannot rewrite (another volume or host, write-once):
    # every checkpoint is also written here, and `audit verify` checks the ledger against it.
    checkpoint_dir: Path | None = None
