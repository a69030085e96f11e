"""Proof documents: the JSON of the C2SP / transparency-dev test vectors, read strictly.

An inclusion proof: ``{"leafIdx", "treeSize", "root", "leafHash", "proof"}``; a consistency
proof: ``{"size1", "size2", "root1", "root2", "proof"}``; hashes in standard base64, ``proof`` a
list (or null for none). Other keys (a receipt's ``checkpoint``, a vector's ``desc``) are ignored
here. Any shape problem is a :class:`~gateway.audit.merkle.ProofError` naming the field.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from gateway.audit.merkle import ProofError, verify_consistency, verify_inclusion


def load(data: bytes) -> dict[str, Any]:
    """The JSON object in ``data`` (ProofError if it is not one)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProofError(f"not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(document, dict):
        raise ProofError("not a JSON object")
    return document


def _size(document: dict[str, Any], name: str) -> int:
    value = document.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofError(f"{name}: must be a whole number")
    if value < 0:
        raise ProofError(f"{name}: must not be negative")
    return value


def _hash(document: dict[str, Any], name: str, value: object | None = None) -> bytes:
    value = document.get(name) if value is None else value
    if not isinstance(value, str):
        raise ProofError(f"{name}: must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError(f"{name}: is not valid base64") from None


def _proof(document: dict[str, Any]) -> list[bytes]:
    value = document.get("proof")
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProofError("proof: must be a list of base64 hashes or null")
    return [_hash(document, f"proof[{i}]", item) for i, item in enumerate(value)]


def check_inclusion(document: dict[str, Any]) -> None:
    """Raise ProofError unless the inclusion proof document verifies."""
    verify_inclusion(
        _size(document, "leafIdx"),
        _size(document, "treeSize"),
        _hash(document, "leafHash"),
        _proof(document),
        _hash(document, "root"),
    )


def check_consistency(document: dict[str, Any]) -> None:
    """Raise ProofError unless the consistency proof document verifies."""
    verify_consistency(
        _size(document, "size1"),
        _size(document, "size2"),
        _proof(document),
        _hash(document, "root1"),
        _hash(document, "root2"),
    )


def b64(value: bytes) -> str:
    """Standard base64, as the proof documents carry hashes."""
    return base64.b64encode(value).decode("ascii")
