"""Settings for the IG review pages (``review:`` in the config): accounts, sign-in, sessions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["ig-officer", "ops"]


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


class ReviewSettings(BaseModel):
    """The review pages: on by default; nobody can sign in until an account or OIDC is set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    accounts: tuple[ReviewAccount, ...] = ()
    oidc: OidcSettings | None = None
    session_minutes: Annotated[int, Field(gt=0, le=24 * 60)] = 30
