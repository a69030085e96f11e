"""Signed notes (C2SP signed-note, Ed25519) and the keys that sign and verify them.

A signed note is a text ending in a newline, a blank line, then one or more signature lines::

    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature over the text)>

The key id is ``SHA-256(key name || "\\n" || 0x01 || 32-byte public key)[:4]``; a verifier key is
written ``<name>+<hex key id>+<base64(0x01 || public key)>`` (the form Go's ``sumdb/note`` and the
transparency-dev tools use). Verification follows the specification: signatures by unknown keys
are ignored, a signature by a known key that fails rejects the whole note, and a note with no
verified signature by a known key is rejected.

Ed25519 itself comes from ``cryptography``; only the note framing is written here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.secretfiles import write_once

ED25519 = 0x01  # the signature type byte for Ed25519 (C2SP signed-note)
DASH = "\u2014"  # em dash: the start of every signature line
MAX_SIGNATURES = 16  # the specification requires accepting at least 16
MAX_NOTE_BYTES = 64 * 1024
_NAME = re.compile(r"^[^\s+]+$")


class NoteError(ValueError):
    """A note, key or signature is malformed or does not verify; the message says why."""


def _valid_name(name: str) -> str:
    if not name or not _NAME.match(name):
        raise NoteError("a key name must be non-empty, without spaces or '+'")
    return name


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 key under ``name``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def public_bytes(key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public key that may have signed notes under ``name``."""

    name: str
    key_id: bytes
    key: Ed25519PublicKey

    @classmethod
    def from_public_key(cls, name: str, key: Ed25519PublicKey) -> Verifier:
        return cls(_valid_name(name), key_id(name, public_bytes(key)), key)

    def encode(self) -> str:
        """The verifier key string: ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        raw = bytes([ED25519]) + public_bytes(self.key)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"


def parse_verifier(text: str) -> Verifier:
    """A verifier key string, checked (the id must be the key's own); NoteError otherwise."""
    parts = text.strip().split("+", 2)  # the base64 key itself may contain "+"
    if len(parts) != 3:
        raise NoteError("a verifier key is <name>+<hex key id>+<base64 key>")
    name, hex_id, encoded = parts
    _valid_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise NoteError("a verifier key's id must be 8 lower-case hex digits")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("a verifier key's key is not valid base64") from None
    if len(raw) != 33 or raw[0] != ED25519:
        raise NoteError("a verifier key must be an Ed25519 key (type 0x01, 32 bytes)")
    if key_id(name, raw[1:]) != bytes.fromhex(hex_id):
        raise NoteError("a verifier key's id does not match its name and key")
    return Verifier(name, bytes.fromhex(hex_id), Ed25519PublicKey.from_public_bytes(raw[1:]))


@dataclass(frozen=True, slots=True)
class Signer:
    """A private key that signs notes under ``name``."""

    name: str
    key: Ed25519PrivateKey

    @property
    def verifier(self) -> Verifier:
        return Verifier.from_public_key(self.name, self.key.public_key())

    def sign(self, text: str) -> str:
        """The signed note: ``text`` (which must end in a newline), a blank line, one signature."""
        _check_text(text)
        signature = self.key.sign(text.encode())
        encoded = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{DASH} {self.name} {encoded}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("a note's text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("a note must not contain control characters other than newline")


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A note whose signature verified: its text, and the keys that signed it."""

    text: str
    signed_by: tuple[str, ...]  # verifier key strings


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The text and the (key name, decoded signature) pairs of a note, checked for form only."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError("the note is too large")
    if not note.endswith("\n"):
        raise NoteError("a signed note must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a signed note must not contain control characters other than newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("a signed note needs a blank line between its text and its signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    lines = block.split("\n")[:-1]
    if not lines:
        raise NoteError("a signed note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a signed note may carry at most {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, 1):
        prefix, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if prefix != DASH or not name or not encoded or " " in encoded:
            raise NoteError(f"signature line {number} is not '— <key name> <base64 signature>'")
        _valid_name(name)
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise NoteError(f"signature line {number} is not valid base64") from None
        if len(raw) < 5:
            raise NoteError(f"signature line {number} is too short")
        signatures.append((name, raw))
    return text, signatures


def open_note(note: str, verifiers: Iterable[Verifier]) -> OpenedNote:
    """The note's text, if a known key signed it (NoteError naming the reason otherwise)."""
    text, signatures = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    signed_by: list[str] = []
    for name, raw in signatures:
        verifier = known.get((name, raw[:4]))
        if verifier is None:
            continue  # an unknown key (a witness, a rotated key): ignored, as the spec says
        try:
            verifier.key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise NoteError(f"the signature by {name} ({raw[:4].hex()}) does not verify") from None
        signed_by.append(verifier.encode())
    if not signed_by:
        names = ", ".join(sorted({n for n, _ in signatures}))
        raise NoteError(f"no signature by a known key (signed by: {names})")
    return OpenedNote(text, tuple(signed_by))


# -- key files ------------------------------------------------------------------------------


def load_signer(path: Path, name: str) -> Signer:
    """The Ed25519 private key in a PKCS#8 PEM file (NoteError naming the problem)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NoteError(f"{path}: cannot read the signing key: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise NoteError(f"{path}: not an unencrypted PKCS#8 PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError(f"{path}: the signing key must be Ed25519")
    return Signer(_valid_name(name), key)


def private_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (protect the file by its mode and where it lives)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_new_key(path: Path) -> bool:
    """Generate an Ed25519 key into ``path`` (mode 0600) unless one is there; True if written.

    Written to a temporary file, flushed, then linked into place, so that two processes starting
    at once end up with the same key and neither reads a half-written file.
    """
    return write_once(path, private_pem(Ed25519PrivateKey.generate()))
