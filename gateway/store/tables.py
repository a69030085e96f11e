"""Every table the gateway keeps. The gateway holds an index, the ledger and undelivered bodies;
never a clinical or case record.

Alembic migrations in ``migrations/versions`` create these; a test checks they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError("expected a datetime from the database")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- the index: who is who -------------------------------------------------------------------

persons = Table(
    "persons",
    metadata,
    Column("id", String(36), primary_key=True),  # a surrogate uuid, safe to put in the ledger
    Column("created_at", UTCDateTime(), nullable=False),
)

person_identifiers = Table(
    "person_identifiers",
    metadata,
    Column("key", String(128), primary_key=True),  # e.g. nhs:9000000009, la:999:CH1, upn:A123...
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=False, index=True),
    Column("source_partner", String(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

family_links = Table(
    "family_links",
    metadata,
    Column("parent_id", String(36), ForeignKey("persons.id"), primary_key=True),
    Column("child_id", String(36), ForeignKey("persons.id"), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("source_partner", String(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_family_links_child_id", "child_id"),
)

worker_roles = Table(
    "worker_roles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=False),
    Column("role", String(48), nullable=False),
    Column("organisation", String(16), nullable=False),  # ODS or DfE LA code holding the role
    Column("source_partner", String(64), nullable=False),
    # Canonical JSON of the WorkerRole, Worker and Organisation facts (contacts, not case data).
    Column("details", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("person_id", "role", "organisation", name="uq_worker_roles_subject_role"),
)

social_care_episodes = Table(
    "social_care_episodes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=False),
    Column("organisation", String(16), nullable=False),  # the council's DfE LA code
    Column("referral_date", String(10), nullable=False),  # ISO date; part of the episode's key
    Column("source_partner", String(64), nullable=False),
    # Canonical JSON of the SocialCareEpisode fact: dates, codes and plans (the status the
    # national CP-IS service shares), never case notes.
    Column("details", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint(
        "person_id", "organisation", "referral_date", name="uq_social_care_episodes_key"
    ),
)

consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=False, index=True),
    Column("source_partner", String(64), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),  # when the directive was made
    Column("details", Text, nullable=False),  # canonical JSON of the Consent fact
    Column("details_sha256", String(64), nullable=False),
    UniqueConstraint("person_id", "details_sha256", name="uq_consents_directive"),
)

# --- exchanges, outbox, ledger ----------------------------------------------------------------

exchanges = Table(
    "exchanges",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=False),
    Column("partner", String(64), nullable=False),
    Column("kind", String(48), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("summary", Text, nullable=False),  # the 202 body: ids, outcomes, no record content
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(36), primary_key=True),  # also the delivery's Idempotency-Key
    Column("exchange_id", String(36), nullable=False, index=True),
    Column("disclosure_id", String(36), nullable=False),
    Column("partner", String(64), nullable=False),
    Column("request_id", String(36), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("body", LargeBinary, nullable=True),  # purged once delivered
    Column("body_sha256", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_error", String(200), nullable=True),  # a status code or error class, no content
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    # Deliveries to one recipient about one subject go in order: ``<partner>:<person id>`` (the
    # index's surrogate id, never an identifier); NULL where a message has no subject.
    Column("ordering_key", String(128), nullable=True),
    # Which sealing key encrypted ``body`` (AES-GCM; gateway/store/sealing.py); NULL = plaintext
    # (rows written before 0006).
    Column("body_key_id", String(64), nullable=True),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_ordering", "partner", "ordering_key", "created_at"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", Text, nullable=False),  # RFC 8785 canonical JSON of the audit event
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
)

ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("seq", BigInteger, nullable=False),
    Column("entry_hash", String(64), nullable=False),
)

# --- the Merkle tree over the ledger, its checkpoints, and the audit search index ---------------
# No foreign keys to ``ledger``: a tamper test (or an attacker) deleting ledger rows must not be
# stopped or cascaded by the database; the verifier is what finds it.

ledger_nodes = Table(
    "ledger_nodes",
    metadata,
    # A perfect subtree of the RFC 9162 tree: leaves [idx << level, (idx + 1) << level).
    # Level 0 holds the leaf hashes (leaf index = seq - 1).
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),  # hex SHA-256
    Column("note", Text, nullable=False),  # the C2SP signed note, exactly as signed
    Column("created_at", UTCDateTime(), nullable=False),
)

ledger_search = Table(
    "ledger_search",
    metadata,
    # One row per ledger entry, written in the same transaction: what the IG review pages search
    # by. A finding aid only: pages show entries read back from ``ledger`` itself.
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("event", String(48), nullable=False),
    Column("exchange_id", String(36), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("partner", String(64), nullable=True),
    Column("recipient_partner", String(64), nullable=True),
    Column("agreement_id", String(128), nullable=True),
    Column("purpose", String(64), nullable=True),
    Column("lawful_basis", String(128), nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("reason_code", String(64), nullable=True),
    Column("override_reason", String(64), nullable=True),
    Column("flagged", Boolean, nullable=False),
    Index("ix_ledger_search_at", "at"),
    Index("ix_ledger_search_exchange_id", "exchange_id"),
    Index("ix_ledger_search_event_flagged", "event", "flagged"),
    Index("ix_ledger_search_partner", "partner"),
)

ledger_persons = Table(
    "ledger_persons",
    metadata,
    # Which entries name which person (the index's surrogate id): the per-person report's index.
    Column("person_id", String(36), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
)

# --- partner API: OAuth client-assertion replay register, idempotency keys ---------------------

oauth_jtis = Table(
    "oauth_jtis",
    metadata,
    # Every client assertion's jti while it could still be valid: a second use is a replay.
    Column("client_id", String(64), primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_oauth_jtis_expires_at", "expires_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # A partner's Idempotency-Key and the response it got: a replay returns the stored response;
    # the same key with a different body is refused. Keys are scoped to the partner.
    Column("partner", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_sha256", String(64), nullable=False),  # method, route and body
    Column("state", String(16), nullable=False),  # in-flight | done
    Column("response_status", Integer, nullable=True),
    Column("response_headers", Text, nullable=True),  # JSON: content type and the ids echoed
    Column("response_body", LargeBinary, nullable=True),  # the 2xx/4xx body (no record content)
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
)

# --- safeguarding workflows (issue 7): each block below belongs to one workflow ------------------

# directory (migration 0007)

directory_entries = Table(
    "directory_entries",
    metadata,
    # Who holds an organisational role (front door, safeguarding leads, out-of-hours, link worker,
    # team manager...) at an organisation: contacts, never case data. One row per organisation,
    # role and entry (a worker's local id, or a team or duty line's name).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("organisation", String(16), nullable=False),  # ODS or DfE LA code
    Column("role", String(48), nullable=False),
    Column("entry_key", String(128), nullable=False),
    Column("source", String(64), nullable=False),  # "file" or the partner id that told us
    # Canonical JSON of the WorkerRole, then its Worker and Organisation facts (as worker_roles).
    Column("details", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("organisation", "role", "entry_key", name="uq_directory_entries_key"),
    Index("ix_directory_entries_org_role", "organisation", "role"),
)

# referrals (migration 0008)

referrals = Table(
    "referrals",
    metadata,
    # Each referral the gateway carried to a council's front door (permitted to it), so that the
    # council's acknowledgements go back to the referrer and an unacknowledged one is escalated.
    # No content: codes, the referrer's reference, the referrer's contact (as the directory holds
    # it), the index's surrogate person ids and times.
    Column("id", String(36), primary_key=True),  # the gateway's referral id
    Column("exchange_id", String(36), nullable=False),  # the referral's exchange
    Column("reference", String(255), nullable=False),  # the referrer's own: acks quote it
    Column("referrer_organisation", String(16), nullable=False),  # ODS code
    Column("referrer_partner", String(64), nullable=False),
    # Canonical JSON of the referrer's WorkerRole, then its Worker and Organisation (as
    # worker_roles and directory_entries hold them): acknowledgements are addressed to it.
    Column("referrer_role", Text, nullable=False),
    Column("front_door_organisation", String(16), nullable=False),  # DfE LA code
    Column("subject_person_id", String(36), ForeignKey("persons.id"), nullable=True),
    Column("child_person_id", String(36), ForeignKey("persons.id"), nullable=True),
    Column("status", String(24), nullable=False),  # ReferralStatus: sent, received, allocated...
    Column("sent_at", UTCDateTime(), nullable=False),  # when the gateway received it
    Column("ack_deadline", UTCDateTime(), nullable=False),  # sent_at + N working hours
    Column("acknowledged_at", UTCDateTime(), nullable=True),  # the first acknowledgement
    Column("status_at", UTCDateTime(), nullable=False),  # the latest status change
    Column("escalated_at", UTCDateTime(), nullable=True),
    UniqueConstraint(
        "front_door_organisation",
        "reference",
        "referrer_organisation",
        name="uq_referrals_reference",
    ),
    Index("ix_referrals_due", "escalated_at", "acknowledged_at", "ack_deadline"),
)

# meetings (migration 0009)

meetings = Table(
    "meetings",
    metadata,
    # One row per meeting invitation the gateway carried between the agencies (a care review, a
    # strategy discussion, a conference, a core group, an ICPC scheduled), so that a reply can be
    # routed back to its organiser and refused when it names a meeting its sender was not invited
    # to. No content: codes, dates, organisation codes and the index's surrogate person id.
    Column("id", String(36), primary_key=True),
    Column("organiser_organisation", String(16), nullable=False),  # ODS or DfE LA code
    Column("organiser_partner", String(64), nullable=False),
    Column("organiser_role", String(48), nullable=False),  # the role a reply is addressed to
    Column("reference", String(255), nullable=True),  # the organiser's own id, replies quote it
    Column("kind", String(32), nullable=False),  # MeetingKind
    Column("start", UTCDateTime(), nullable=True),  # None for an ICPC scheduled by date only
    Column("start_date", String(10), nullable=False),  # ISO date, in the working calendar
    Column("status", String(16), nullable=False),
    Column("subject_person_id", String(36), ForeignKey("persons.id"), nullable=False, index=True),
    Column("invited", Text, nullable=False),  # JSON list of organisation codes carried to
    Column("target_date", String(10), nullable=True),  # an ICPC's target (ISO date)
    Column("after_target", Boolean, nullable=True),
    Column("replies", Text, nullable=False),  # JSON list: organisation, response, at, exchange
    Column("exchange_id", String(36), nullable=False),  # the latest invitation's exchange
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("organiser_organisation", "reference", name="uq_meetings_reference"),
    Index("ix_meetings_reference", "reference"),
)

# think family (migration 0010)

think_family_flags = Table(
    "think_family_flags",
    metadata,
    # Each think-family flag raised: a parent (the trust's patient with a care coordinator) and a
    # child open to children's social care, told to one organisation (the trust: the child's
    # allocated worker; the council: the parent's care coordinator). Raised once per parent,
    # child and recipient; raised again only when the worker it names changes (worker_sha256).
    Column("parent_id", String(36), primary_key=True),
    Column("child_id", String(36), primary_key=True),
    Column("recipient_organisation", String(16), primary_key=True),
    Column("worker_sha256", String(64), nullable=False),  # who the named worker is (not contacts)
    Column("exchange_id", String(36), nullable=False),
    Column("disclosure_id", String(36), nullable=False),
    Column("raised_at", UTCDateTime(), nullable=False),
)
