"""Settings: a YAML file plus ``JOINEDUP_``-prefixed environment variables (pydantic-settings).

With no configuration at all every command works on the demo's embedded defaults: a SQLite file
under ``./var``, the example agreements and the two demo partners. Environment variables win over
the file (for example ``JOINEDUP_DATABASE_URL``, an SQLAlchemy URL); nested values use ``__``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from gateway.audit.settings import LedgerSettings
from gateway.conventions import IdempotencySettings, LimitSettings, RateLimitSettings
from gateway.oauth.jwks import JwksError, check_jwks
from gateway.oauth.settings import OAuthSettings
from gateway.review.settings import ReviewSettings
from gateway.store.sealing import SealingSettings
from gateway.workcal import WorkingHoursSettings

REPO_ROOT = Path(__file__).resolve().parent.parent


def bundled(relative: str) -> Path:
    """A file shipped with the gateway: in the source tree, or inside the installed package."""
    for base in (REPO_ROOT / "deploy", Path(__file__).resolve().parent / "_deploy"):
        candidate = base / relative
        if candidate.exists():
            return candidate
    return REPO_ROOT / "deploy" / relative


def hash_api_key(key: str) -> str:
    """How API keys are stored: SHA-256, hex. Keys are random 256-bit tokens, so a fast hash is
    enough (a password hash protects low-entropy secrets; these are not)."""
    return hashlib.sha256(key.encode()).hexdigest()


class PartnerSettings(BaseModel):
    """A partner system: who it speaks for, how it authenticates, where its deliveries go."""

    # SECURITY: errors never repeat the input: a refused JWKS may hold a private key.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    name: str
    organisations: Annotated[tuple[str, ...], Field(min_length=1)]
    format: str  # adapter name used for deliveries to it: "fhir-r4" or "csc"
    # SECURITY: only hashes of API keys are configured; see hash_api_key.
    api_key_sha256: tuple[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")], ...] = ()
    # The partner's public keys for its client assertions (RFC 7517 JWKS), inline or in a file
    # (re-read when it changes). Public keys only: a key with private members is refused.
    jwks: dict[str, Any] | None = None
    jwks_file: Path | None = None
    endpoint: str | None = None  # where the delivery worker posts disclosures

    @field_validator("jwks")
    @classmethod
    def _public_jwks(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                check_jwks(value)
            except JwksError as exc:
                raise ValueError(f"jwks: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if self.jwks is not None and self.jwks_file is not None:
            raise ValueError("give jwks or jwks_file, not both")
        return self

    @field_validator("endpoint")
    @classmethod
    def _secure_endpoint(cls, value: str | None) -> str | None:
        # SECURITY: disclosures travel over TLS; plain HTTP only to this machine (the demo's and
        # the tests' partner simulators), never across a network.
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme == "https" and url.hostname:
            return value
        if url.scheme == "http" and url.hostname in {"127.0.0.1", "localhost", "::1"}:
            return value
        raise ValueError("a delivery endpoint must be https:// (http:// only to loopback)")


class DeliverySettings(BaseModel):
    """The outbox worker's pacing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    poll_interval: Annotated[float, Field(gt=0)] = 0.2
    batch: Annotated[int, Field(gt=0)] = 50
    max_attempts: Annotated[int, Field(gt=0)] = 8
    backoff_base: Annotated[float, Field(gt=0)] = 0.5
    backoff_cap: Annotated[float, Field(gt=0)] = 300.0
    timeout: Annotated[float, Field(gt=0)] = 10.0
    lease: Annotated[float, Field(gt=0)] = 60.0


class WorkflowSettings(BaseModel):
    """The safeguarding workflows' clocks and deadlines (issue 7): ``workflows`` in the config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    working_hours: WorkingHoursSettings = WorkingHoursSettings()
    # A referral not acknowledged (received) by the council within this many *working* hours of
    # reaching the gateway is escalated to both organisations' safeguarding leads.
    referral_ack_working_hours: Annotated[float, Field(gt=0)] = 8.0
    # How often the gateway looks for overdue referrals (seconds; 0 turns the timer off, for a
    # deployment that runs ``joinedup workflows escalate`` from cron instead).
    escalation_interval: Annotated[float, Field(ge=0)] = 60.0
    # The initial child protection conference's target: within this many working days of the
    # strategy discussion (Working Together to Safeguard Children 2023).
    icpc_target_working_days: Annotated[int, Field(gt=0)] = 15


class Settings(BaseSettings):
    """Every setting, with the embedded demo defaults."""

    # SECURITY: errors never repeat the input: a refused partner JWKS may hold a private key.
    model_config = SettingsConfigDict(
        env_prefix="JOINEDUP_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    database_url: str = "sqlite+aiosqlite:///var/joinedup.db"
    database_schema: str | None = None  # PostgreSQL schema holding the tables (default: public)
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    agreements_dir: Path = Field(default_factory=lambda: bundled("agreements"))
    seed_file: Path | None = None
    directory_file: Path | None = None  # a directory file loaded at start-up (issue 7)
    partners: tuple[PartnerSettings, ...] = Field(
        default_factory=lambda: tuple(load_partner_file(bundled("demo/partners.yaml")))
    )
    max_body_bytes: Annotated[int, Field(gt=0)] = 1_048_576
    log_level: str = "info"
    log_format: str = "json"  # json | console
    delivery: DeliverySettings = DeliverySettings()
    # Children Act 2004 s16LA (inserted 2026; check commencement): a duty to share information
    # relevant to safeguarding unless disclosure would be more detrimental to the child. Off until
    # in force; when on, a withholding for a safeguarding purpose must record that judgement.
    s16la_duty: bool = False
    auto_migrate: bool = True  # bring the database schema up to date at start-up
    validate_fhir_models: bool = False  # full fhir.resources validation on every message (slow)
    commit_max_batch: Annotated[int, Field(gt=0)] = 512
    reader_threads: Annotated[int, Field(gt=0, le=64)] = 4  # threads resolving identities
    ledger: LedgerSettings = LedgerSettings()
    review: ReviewSettings = ReviewSettings()
    oauth: OAuthSettings = OAuthSettings()
    limits: LimitSettings = LimitSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    idempotency: IdempotencySettings = IdempotencySettings()
    sealing: SealingSettings = SealingSettings()  # the keys outbox bodies are sealed with
    workflows: WorkflowSettings = WorkflowSettings()

    @field_validator("partners")
    @classmethod
    def _unique_partners(cls, value: tuple[PartnerSettings, ...]) -> tuple[PartnerSettings, ...]:
        ids = [p.id for p in value]
        if len(ids) != len(set(ids)):
            raise ValueError("partner ids must be unique")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Order is precedence: explicit arguments, then the environment, then the YAML file.
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    def partner(self, partner_id: str) -> PartnerSettings | None:
        """The partner with this id, if configured."""
        for p in self.partners:
            if p.id == partner_id:
                return p
        return None

    def partner_for_organisation(self, code: str) -> PartnerSettings | None:
        """The partner that speaks for an organisation code."""
        for p in self.partners:
            if code in p.organisations:
                return p
        return None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``config_file`` (if given), the environment, and keyword overrides."""
    if config_file is None:
        return Settings(**overrides)
    if not config_file.is_file():
        raise FileNotFoundError(f"no configuration file at {config_file}")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(yaml_file=config_file)

    settings: Settings = FileSettings(**overrides)
    # A relative path written in the config file is relative to the file, not to the working
    # directory; one given in the environment or as an argument keeps its usual meaning.
    from_file = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    base = config_file.resolve().parent
    updates: dict[str, Any] = {}
    for key in ("agreements_dir", "seed_file", "directory_file"):
        value = getattr(settings, key)
        overridden = key in overrides or f"JOINEDUP_{key.upper()}" in os.environ
        if key in from_file and not overridden and value is not None and not value.is_absolute():
            updates[key] = base / value
    for section, fields in _FILE_PATHS_IN_SECTIONS.items():
        written = from_file.get(section)
        overridden = section in overrides or any(
            name.startswith(f"JOINEDUP_{section.upper()}__") for name in os.environ
        )
        if not isinstance(written, dict) or overridden:
            continue
        current = getattr(settings, section)
        changed = {
            name: _relative_to(base, getattr(current, name))
            for name in fields
            if name in written and getattr(current, name) is not None
        }
        if changed:
            updates[section] = current.model_copy(update=changed)
    if isinstance(from_file.get("partners"), list) and "partners" not in overrides:
        updates["partners"] = tuple(
            p.model_copy(update={"jwks_file": _relative_to(base, p.jwks_file)})
            if p.jwks_file is not None
            else p
            for p in settings.partners
        )
    return settings.model_copy(update=updates) if updates else settings


# Paths inside a config file's sections that name files or folders: relative to the file too.
_FILE_PATHS_IN_SECTIONS: dict[str, tuple[str, ...]] = {
    "ledger": ("signing_key_file", "checkpoint_dir"),
    "sealing": ("key_file",),
    "oauth": (
        "token_key_file",
        "verification_key_files",
        "client_ca_file",
        "tls_certificate_file",
        "tls_key_file",
    ),
    "review": ("session_key_file",),
}


def _relative_to(base: Path, value: Any) -> Any:
    """``value`` (a path, or a tuple of paths) with each relative path made relative to ``base``."""
    if isinstance(value, tuple):
        return tuple(_relative_to(base, v) for v in value)
    if isinstance(value, Path) and not value.is_absolute():
        return base / value
    return value


def load_partner_file(path: Path) -> list[PartnerSettings]:
    """Partners from a YAML list (used for the embedded demo defaults)."""
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [PartnerSettings.model_validate(item) for item in data]
