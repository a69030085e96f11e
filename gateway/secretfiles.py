"""Writing a key file once: private (mode 0600), complete, and never overwritten.

Every key the gateway may generate for itself (the ledger's signing key, the outbox sealing keys,
the access-token key, the review session key) is written the same way: to a temporary file,
flushed and fsynced, then hard-linked into place. ``link`` fails if the name exists, so two
processes starting at once end up with the same key and neither reads a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_once(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` unless it exists; True if this call wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return False
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)
