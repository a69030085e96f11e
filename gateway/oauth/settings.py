"""Settings for partner authentication (``oauth:`` in the config): the token endpoint, its signing
key, the algorithms client assertions may use, optional mutual TLS, and the interim API keys.

Partners' public keys are configured per partner (``partners[].jwks`` or ``jwks_file``); this
model holds what is the gateway's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.oauth.assertion import DEFAULT_ALGORITHMS

# Asymmetric signature algorithms only: never "none", never HMAC (whose "secret" an attacker could
# take from the published public key).
SUPPORTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class ClientCertificate(BaseModel):
    """What a partner's TLS client certificate must show: every field given must match."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The subject as RFC 4514 text, as ``openssl x509 -noout -subject -nameopt RFC2253`` prints it
    # (most specific first), e.g. "CN=epr.trust.example,O=Example NHS Trust,C=GB".
    subject: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    # A DNS name or URI that must be among the certificate's subject alternative names.
    san: Annotated[str, Field(min_length=1, max_length=1024)] | None = None

    @model_validator(mode="after")
    def _something_to_match(self) -> Self:
        if self.subject is None and self.san is None:
            raise ValueError("a client certificate mapping needs a subject or a san")
        return self


class OAuthSettings(BaseModel):
    """OAuth 2.0 client credentials with signed-JWT client assertions (RFC 7523)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The token endpoint's public URL: the ``aud`` every client assertion must name exactly.
    # None: http://<host>:<port>/oauth2/token from the top-level host and port (the demo's).
    token_url: str | None = None
    # How long an access token lasts, in seconds (NHS England's last ten minutes).
    access_token_lifetime: Annotated[int, Field(ge=60, le=3600)] = 600
    # The EC P-256 private key (PEM) that signs access tokens; generated (mode 0600) if missing.
    # Every process of one deployment must use the same file.
    token_key_file: Path = Path("var/oauth-token-key.pem")
    # Earlier signing keys (PEM, public or private) whose tokens are still accepted: the old key
    # for one token lifetime after a rotation.
    verification_key_files: tuple[Path, ...] = ()
    # The signature algorithms client assertions may use.
    algorithms: Annotated[tuple[str, ...], Field(min_length=1)] = DEFAULT_ALGORITHMS
    # The interim API keys (partners[].api_key_sha256): off unless an operator turns them on for a
    # migration period.
    allow_api_keys: bool = False
    # Mutual TLS at the token endpoint. The gateway then terminates TLS itself with
    # tls_certificate_file / tls_key_file, asks every client for a certificate signed by
    # client_ca_file, and issues a token only when the certificate maps to the asserting partner.
    require_client_certificate: bool = False
    client_ca_file: Path | None = None
    tls_certificate_file: Path | None = None
    tls_key_file: Path | None = None
    client_certificates: dict[str, ClientCertificate] = Field(default_factory=dict)

    @field_validator("token_url")
    @classmethod
    def _secure_token_url(cls, value: str | None) -> str | None:
        # SECURITY: assertions and tokens travel over TLS; plain HTTP only to this machine.
        if value is None:
            return None
        url = urlsplit(value)
        if url.query or url.fragment:
            raise ValueError("oauth.token_url must have no query or fragment")
        if url.scheme == "https" and url.hostname:
            return value
        if url.scheme == "http" and url.hostname in _LOOPBACK:
            return value
        raise ValueError("oauth.token_url must be an https:// URL (http:// only to loopback)")

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [a for a in value if a not in SUPPORTED_ALGORITHMS]
        if unknown:
            raise ValueError(
                "oauth.algorithms may list only "
                + ", ".join(sorted(SUPPORTED_ALGORITHMS))
                + " (never none or an HMAC algorithm)"
            )
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _mutual_tls_complete(self) -> Self:
        if self.require_client_certificate:
            missing = [
                name
                for name in ("client_ca_file", "tls_certificate_file", "tls_key_file")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    "oauth.require_client_certificate needs "
                    + ", ".join(f"oauth.{m}" for m in missing)
                )
            if not self.client_certificates:
                raise ValueError(
                    "oauth.require_client_certificate needs oauth.client_certificates: the "
                    "certificate each partner presents"
                )
        if (self.tls_certificate_file is None) != (self.tls_key_file is None):
            raise ValueError("oauth.tls_certificate_file and oauth.tls_key_file go together")
        return self

    def endpoint(self, host: str, port: int) -> str:
        """The token endpoint's URL: ``token_url``, or derived from where the gateway listens."""
        if self.token_url is not None:
            return self.token_url
        shown = f"[{host}]" if ":" in host else host
        scheme = "http" if self.tls_certificate_file is None else "https"
        return f"{scheme}://{shown}:{port}/oauth2/token"
