"""Partners' public keys: a JWKS (RFC 7517), inline in the configuration or in a file.

A partner's JWKS must hold public keys only. A key set that carries private members (``d``, the RSA
primes and CRT values, ``k`` of a symmetric key) is refused when it is loaded: a private key in
the gateway's configuration would be a key the partner has lost control of. Each key needs a
unique ``kid`` (the assertion's header names it), and must be RSA of at least 2048 bits or EC on
P-256, P-384 or P-521. Errors name the key by position and the rule broken, never key material.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from joserfc.jwk import KeySet

PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CURVES = frozenset({"P-256", "P-384", "P-521"})
MIN_RSA_BITS = 2048
MAX_KEYS = 20


class JwksError(ValueError):
    """A JWKS that cannot be used; the message names the key and the rule, not the material."""


def _modulus_bits(n: object) -> int:
    if not isinstance(n, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        return 0
    return int.from_bytes(raw, "big").bit_length()


def _check_member(position: int, key: Any, kids: set[str]) -> None:
    where = f"keys[{position}]"
    if not isinstance(key, Mapping):
        raise JwksError(f"{where} is not a JSON object")
    private = sorted(PRIVATE_MEMBERS & set(key))
    if private:
        # SECURITY: refuse outright; a partner's private key must never be in our configuration.
        raise JwksError(
            f"{where} carries private key members ({', '.join(private)}): configure the "
            "partner's public keys only, and ask the partner to make a new key pair"
        )
    kty = key.get("kty")
    if kty not in ("RSA", "EC"):
        raise JwksError(f"{where}: kty must be RSA or EC")
    if kty == "EC" and key.get("crv") not in _CURVES:
        raise JwksError(f"{where}: crv must be one of {', '.join(sorted(_CURVES))}")
    if kty == "RSA" and _modulus_bits(key.get("n")) < MIN_RSA_BITS:
        raise JwksError(f"{where}: an RSA key needs at least {MIN_RSA_BITS} bits")
    kid = key.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise JwksError(f"{where}: kid is required (at most 128 characters)")
    if kid in kids:
        raise JwksError(f"{where}: kid is used by another key in the set")
    kids.add(kid)
    use = key.get("use")
    if use is not None and use != "sig":
        raise JwksError(f"{where}: use must be sig")


def check_jwks(data: object) -> KeySet:
    """The key set ``data`` describes, or JwksError naming the first problem."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise JwksError('a JWKS is a JSON object with a "keys" list')
    keys = data["keys"]
    if not keys or len(keys) > MAX_KEYS:
        raise JwksError(f"a JWKS needs between 1 and {MAX_KEYS} keys")
    kids: set[str] = set()
    for position, key in enumerate(keys):
        _check_member(position, key, kids)
    try:
        key_set = KeySet.import_key_set({"keys": [dict(k) for k in keys]})
    except (ValueError, TypeError, KeyError):
        raise JwksError("a key in the JWKS is not a valid RSA or EC public key") from None
    return key_set


def load_jwks_file(path: Path) -> KeySet:
    """The key set in the JSON file at ``path``; JwksError if it cannot be read or used."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JwksError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise JwksError(f"{path} is not JSON") from None
    try:
        return check_jwks(data)
    except JwksError as exc:
        raise JwksError(f"{path}: {exc}") from None
