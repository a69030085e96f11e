"""Sealed outbox bodies: a rendered disclosure is encrypted before it is written, opened only by the
delivery worker just before it is sent, and purged once delivered.

AES-256-GCM (``cryptography``'s AESGCM). A sealed body is ``nonce (12 random bytes) ‖ ciphertext ‖
tag (16 bytes)``; the associated data binds it to its row: the outbox id *and* the recipient
partner. A body copied into another row, or a row re-pointed at another partner, fails to open,
and the worker dead-letters it as ``unsealable`` without sending anything.

The keys live in a file (``sealing.key_file``), one base64 key of 32 bytes per line. The first
key seals; every key in the file opens, so a key can be rotated by putting a new one first and
removing the old one once no row sealed with it remains. A key's id (stored beside each row in
``outbox.body_key_id``) is derived from the key itself (16 base32 characters of a
domain-separated SHA-256), so an id can never name the wrong key. Without a file, a key is
generated under ``./var`` for the demo.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import cached_property
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict

from gateway.errors import ConfigurationError
from gateway.ids import random_bytes
from gateway.secretfiles import write_once

log = structlog.get_logger(__name__)

DEMO_KEY_FILE = Path("var") / "outbox-sealing.key"
NONCE_BYTES = 12  # 96 bits, random per body (NIST SP 800-38D 8.2.2)
TAG_BYTES = 16
KEY_BYTES = 32  # AES-256
_AAD_PREFIX = b"joinedup/outbox-body/v1\x00"
_KEY_ID_PREFIX = b"joinedup/outbox-sealing-key-id/v1\x00"


class Unsealable(Exception):
    """A sealed body that cannot be opened: unknown key, wrong row, or altered bytes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # a code: unknown-key, malformed, authentication-failed


def key_id(key: bytes) -> str:
    """The id stored beside a body sealed with ``key``: 16 characters (80 bits) of a SHA-256 of
    the key, in lower-case base32 (letters and 2-7, so that no id looks like an NHS number to the
    log redaction)."""
    digest = hashlib.sha256(_KEY_ID_PREFIX + key).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:16]


def _aad(outbox_id: str, partner: str) -> bytes:
    return _AAD_PREFIX + outbox_id.encode() + b"\x00" + partner.encode()


class Keyring:
    """The sealing keys: the first seals, all open."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise ValueError("sealing keys are 32 bytes (AES-256)")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self.current = key_id(keys[0])

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id that opens, the sealing key's first."""
        return tuple(self._keys)

    def seal(self, body: bytes, *, outbox_id: str, partner: str) -> tuple[bytes, str]:
        """``(sealed bytes, key id)`` for ``body`` in the row ``outbox_id`` to ``partner``."""
        nonce = random_bytes(NONCE_BYTES)
        sealed = self._keys[self.current].encrypt(nonce, body, _aad(outbox_id, partner))
        return nonce + sealed, self.current

    def open(self, sealed: bytes, key: str, *, outbox_id: str, partner: str) -> bytes:
        """The plaintext of a sealed body; :class:`Unsealable` if it does not open."""
        cipher = self._keys.get(key)
        if cipher is None:
            raise Unsealable("unknown-key")
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            raise Unsealable("malformed")
        try:
            return cipher.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(outbox_id, partner)
            )
        except InvalidTag:
            raise Unsealable("authentication-failed") from None


def new_key_line() -> bytes:
    """A new key as a key file line (url-safe base64 of 32 random bytes, newline)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)) + b"\n"


def write_new_key_file(path: Path) -> bool:
    """Create ``path`` holding one new key (mode 0600) unless it exists; True if written.

    Written to a temporary file, flushed, then linked into place, so that two processes starting
    at once end up with the same key and neither reads a half-written file.
    """
    return write_once(path, new_key_line())


def load_keyring(path: Path) -> Keyring:
    """The keys in ``path``: one base64 key per line, the sealing key first; blank lines and
    ``#`` comments ignored. ConfigurationError naming the line (never the key) otherwise."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"sealing.key_file: cannot read {path}: {type(exc).__name__}"
        ) from None
    keys: list[bytes] = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            key = base64.urlsafe_b64decode(text.encode("ascii"))
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise ConfigurationError(
                f"sealing.key_file: {path} line {number}: not a base64 key of 32 bytes"
            )
        keys.append(key)
    if not keys:
        raise ConfigurationError(f"sealing.key_file: {path} holds no key")
    return Keyring(keys)


class SealingSettings(BaseModel):
    """Where the outbox sealing keys are (``sealing:`` in the config)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # One base64 AES-256 key per line; the first seals, all open. None: a key is generated under
    # ./var for the demo on first start.
    key_file: Path | None = None
    # Deliver rows written before bodies were sealed (``body_key_id`` NULL). Off: such a row is
    # dead-lettered as unsealable, so that nobody who can write the database can slip a
    # plaintext body of their own into the outbox. Switch on only to drain an upgrade.
    open_plaintext: bool = False

    @cached_property
    def keyring(self) -> Keyring:
        """The keys, loaded once (the demo key generated first if need be)."""
        path = self.key_file
        if path is None:
            path = DEMO_KEY_FILE
            try:
                generated = write_new_key_file(path)
            except OSError as exc:
                raise ConfigurationError(
                    f"sealing.key_file is not set and the demo key cannot be written at {path} "
                    f"({type(exc).__name__}): configure sealing.key_file"
                ) from None
            if generated:
                log.warning(
                    "outbox_sealing_key_generated",
                    path=str(path.resolve()),
                    note="a demo key; configure sealing.key_file for real use",
                )
        return load_keyring(path)
