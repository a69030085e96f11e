"""Review sessions: a cookie that is encrypted and signed (Fernet), nothing kept server-side.

A session is a small JSON document: a random session id, the CSRF token its forms carry, and once
signed in the account name, its roles, how it signed in and when the session ends. Fernet
(AES-128-CBC with an HMAC-SHA256 over the whole token) makes the cookie unreadable and unforgeable
without the key; the expiry inside it is checked on every request, so a session cannot outlive
``session_minutes`` however long the browser keeps the cookie. Signing out clears the cookie and
remembers the session id as revoked (in this process) until the session would have expired.

The keys live in a file (``review.session_key_file``), one Fernet key per line: the first signs, all
are accepted (``MultiFernet``), so keys rotate without signing everyone out. Without a file, a key
is generated under ``./var`` for the demo.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from gateway.errors import ConfigurationError
from gateway.secretfiles import write_once

COOKIE = "review_session"
OIDC_COOKIE = "review_oidc"  # the sign-in in flight: state, nonce, PKCE verifier (10 minutes)
OIDC_FLOW_SECONDS = 600
DEMO_KEY_FILE = Path("var") / "review-session.key"


@dataclass(frozen=True, slots=True)
class Session:
    """One browser's session: anonymous (a CSRF token only) or signed in."""

    sid: str
    csrf: str
    expires: int  # unix seconds
    user: str | None = None
    roles: tuple[str, ...] = ()
    via: str | None = None  # "password" or "oidc"

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    def has_role(self, *roles: str) -> bool:
        """Whether the session holds any of ``roles``."""
        return any(r in self.roles for r in roles)


def new_session(
    minutes: int,
    *,
    user: str | None = None,
    roles: tuple[str, ...] = (),
    via: str | None = None,
    now: float | None = None,
) -> Session:
    """A fresh session: new id and CSRF token (so signing in never keeps a token seen before)."""
    started = time.time() if now is None else now
    return Session(
        sid=secrets.token_urlsafe(18),
        csrf=secrets.token_urlsafe(32),
        expires=int(started) + minutes * 60,
        user=user,
        roles=roles,
        via=via,
    )


def load_keys(path: Path) -> MultiFernet:
    """The Fernet keys in ``path`` (one per line; blank lines and ``#`` comments ignored)."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"review.session_key_file: cannot read {path}: {exc}") from None
    keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not keys:
        raise ConfigurationError(f"review.session_key_file: {path} holds no key")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ConfigurationError(
            f"review.session_key_file: {path}: each line must be a Fernet key "
            "(32 url-safe base64-encoded bytes)"
        ) from None


def ensure_key_file(path: Path) -> Path:
    """Create ``path`` with a new key (mode 0600) unless it exists; return it."""
    write_once(path, Fernet.generate_key() + b"\n")
    return path


class SessionCodec:
    """Turns sessions into cookie values and back; keeps the ids of signed-out sessions."""

    def __init__(self, keys: MultiFernet) -> None:
        self._fernet = keys
        self._revoked: dict[str, int] = {}

    def encode(self, session: Session) -> str:
        document = {
            "sid": session.sid,
            "csrf": session.csrf,
            "exp": session.expires,
            "user": session.user,
            "roles": list(session.roles),
            "via": session.via,
        }
        return self._fernet.encrypt(orjson.dumps(document)).decode("ascii")

    def decode(self, value: str | None, *, now: float | None = None) -> Session | None:
        """The session in a cookie value, or None if absent, forged, expired or signed out."""
        if not value or len(value) > 4096:
            return None
        try:
            document = orjson.loads(self._fernet.decrypt(value.encode("ascii")))
            session = Session(
                sid=str(document["sid"]),
                csrf=str(document["csrf"]),
                expires=int(document["exp"]),
                user=None if document["user"] is None else str(document["user"]),
                roles=tuple(str(r) for r in document["roles"]),
                via=None if document["via"] is None else str(document["via"]),
            )
        except (InvalidToken, UnicodeEncodeError, orjson.JSONDecodeError, KeyError, TypeError):
            return None
        moment = time.time() if now is None else now
        if session.expires <= moment or session.sid in self._revoked:
            return None
        return session

    def revoke(self, session: Session) -> None:
        """Refuse this session from now until it would have expired anyway."""
        now = int(time.time())
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
        self._revoked[session.sid] = session.expires

    def seal(self, document: dict[str, str]) -> str:
        """Encrypt and sign a small document (the OIDC sign-in in flight)."""
        return self._fernet.encrypt(orjson.dumps(document)).decode("ascii")

    def unseal(self, value: str | None, ttl: int) -> dict[str, str] | None:
        """A document sealed less than ``ttl`` seconds ago, or None."""
        if not value or len(value) > 4096:
            return None
        try:
            document = orjson.loads(self._fernet.decrypt(value.encode("ascii"), ttl=ttl))
        except (InvalidToken, UnicodeEncodeError, orjson.JSONDecodeError):
            return None
        if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
            return None
        return {str(k): v for k, v in document.items()}
