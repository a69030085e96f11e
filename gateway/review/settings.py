"""Settings for the IG review pages (``review:`` in the config): accounts, sign-in, sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["ig-officer", "ops"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _https_or_loopback(value: str, what: str) -> str:
    # SECURITY: tokens and codes travel over TLS; plain HTTP only to this machine (the tests'
    # provider simulator), never across a network.
    url = urlsplit(value)
    if url.scheme == "https" and url.hostname:
        return value
    if url.scheme == "http" and url.hostname in _LOOPBACK:
        return value
    raise ValueError(f"{what} must be an https:// URL (http:// only to loopback)")


class ReviewAccount(BaseModel):
    """A local account for the embedded default (real deployments sign in through OIDC)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    password_hash: Annotated[str, Field(pattern=r"^\$argon2id\$")]  # never a password
    roles: Annotated[tuple[Role, ...], Field(min_length=1)]


class OidcSettings(BaseModel):
    """An OpenID Connect provider for real deployments (authorisation code flow with PKCE)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str
    client_id: str
    client_secret: str | None = None
    redirect_uri: str
    roles_claim: str = "roles"
    # The provider's role names mapped to the gateway's.
    role_map: dict[str, Role] = Field(default_factory=dict)
    # The claim naming the member of staff in the ledger (``sub`` when the claim is absent).
    username_claim: str = "preferred_username"
    scope: str = "openid profile"
    # The name on the sign-in page's button.
    display_name: Annotated[str, Field(min_length=1, max_length=80)] = "your organisation's sign-in"

    @field_validator("issuer")
    @classmethod
    def _secure_issuer(cls, value: str) -> str:
        return _https_or_loopback(value, "the OIDC issuer").rstrip("/")

    @field_validator("redirect_uri")
    @classmethod
    def _secure_redirect(cls, value: str) -> str:
        _https_or_loopback(value, "the OIDC redirect_uri")
        if not urlsplit(value).path.endswith("/review/oidc/callback"):
            raise ValueError("the OIDC redirect_uri must end in /review/oidc/callback")
        return value


class ReviewSettings(BaseModel):
    """The review pages: on by default; nobody can sign in until an account or OIDC is set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    accounts: tuple[ReviewAccount, ...] = ()
    oidc: OidcSettings | None = None
    session_minutes: Annotated[int, Field(gt=0, le=24 * 60)] = 30
    # The keys that encrypt and sign session cookies (Fernet, one per line: the first signs, all
    # are accepted, so a new key can be put first and the old one removed a session later).
    # None: a key is generated under ./var for the demo on first start.
    session_key_file: Path | None = None
    # Failed sign-ins allowed per account name within the window before it is locked (429).
    login_attempts: Annotated[int, Field(gt=0, le=100)] = 5
    login_window_minutes: Annotated[int, Field(gt=0, le=24 * 60)] = 15

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, value: tuple[ReviewAccount, ...]) -> tuple[ReviewAccount, ...]:
        names = [a.name for a in value]
        if len(names) != len(set(names)):
            raise ValueError("review account names must be unique")
        return value
