"""Random ids and nonces from a buffered read of the operating system's random source.

Each exchange needs several random values: its id, each disclosure's and outbox row's id, and the
AES-GCM nonce that seals each outbox body. ``uuid.uuid4()`` and ``os.urandom`` make one system call
each, and on a busy gateway each call also gives up the interpreter lock and waits to win it back
from the ledger writer and the index readers (measured at 14-15 % of the event loop's wall time,
issue 6). Here one ``os.urandom`` read of a few kilobytes serves many values. The bytes are the
same kernel CSPRNG output, so they are as unpredictable; what must not happen is two processes
handing out the same buffered bytes, so the buffer is emptied in a forked child. No library
offers this (``secrets`` and ``uuid`` call ``os.urandom`` each time), hence these few lines.
"""

from __future__ import annotations

import os
import threading
import uuid

_BUFFER_BYTES = 4096


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._position = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._position + n > len(self._buffer):
                self._buffer = os.urandom(max(_BUFFER_BYTES, n))
                self._position = 0
            start = self._position
            self._position += n
            return self._buffer[start : self._position]

    def reset(self) -> None:
        # SECURITY: a forked child must never reuse its parent's buffered bytes (a repeated
        # AES-GCM nonce under the same key reveals both plaintexts' XOR).
        self._lock = threading.Lock()
        self._buffer = b""
        self._position = 0


_POOL = _Pool()
os.register_at_fork(after_in_child=_POOL.reset)


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the kernel's CSPRNG (buffered)."""
    return _POOL.take(n)


def new_id() -> str:
    """A random (version 4) UUID as a string, like ``str(uuid.uuid4())``."""
    return str(uuid.UUID(bytes=_POOL.take(16), version=4))
