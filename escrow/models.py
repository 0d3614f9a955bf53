"""SQLAlchemy models: tables and their invariants (check constraints), no workflows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import expression

from escrow.db import Base

KEY_STATUS_PENDING: Final = "pending"
KEY_STATUS_ACTIVE: Final = "active"
KEY_STATUS_RETIRED: Final = "retired"
KEY_STATUSES: Final = (KEY_STATUS_PENDING, KEY_STATUS_ACTIVE, KEY_STATUS_RETIRED)
PURPOSE_ESCROW: Final = "escrow"  # a ceremony for the escrow key (seals identities)
PURPOSE_OPRF: Final = "oprf"  # a ceremony for the key the OPRF nodes share (issue 13)
PUBLIC_KEY_BYTES: Final = 32  # an Ed25519 group element, compressed (DESIGN.md section 3)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC on every backend.

    SQLite has no time zones and returns naive values; this type refuses naive input and returns
    aware UTC datetimes everywhere, so comparisons never mix naive and aware values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (e.g. datetime.now(UTC))")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)  # noqa: S101 - the impl type guarantees it
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EscrowKey(Base):
    """A threshold ElGamal public key; its private shares are held by ``holder_count`` key-holders.

    ``threshold`` of them must cooperate to open an envelope sealed to ``public_key``. The private
    key never exists in one place, so no column here is secret.
    """

    __tablename__ = "escrow_keys"
    __table_args__ = (
        CheckConstraint("threshold >= 1 AND threshold <= holder_count", name="threshold_range"),
        CheckConstraint(
            "status IN ('pending', 'active', 'retired')",
            name="status_valid",
        ),
    )

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    threshold: Mapped[int]
    holder_count: Mapped[int]
    public_key: Mapped[bytes] = mapped_column(LargeBinary(PUBLIC_KEY_BYTES))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Canonical JSON of escrow.crypto.dkg.ThresholdPublicKey.to_dict(): PK, threshold and every V_j.
    key_record: Mapped[str] = mapped_column(Text)


class OprfKey(Base):
    """The threshold OPRF's public key (issue 13): ``threshold`` of ``node_count`` nodes must answer.

    Made by the same dealerless ceremony as the escrow key, so ``key_record`` is the same
    escrow.crypto.dkg.ThresholdPublicKey record; the nodes' ristretto255 public shares are its
    verification keys read through escrow.crypto.ristretto.from_edwards. No column here is secret.
    """

    __tablename__ = "oprf_keys"
    __table_args__ = (
        CheckConstraint("threshold >= 1 AND threshold <= node_count", name="threshold_range"),
        CheckConstraint("status IN ('active', 'retired')", name="status_valid"),
    )

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    threshold: Mapped[int]
    node_count: Mapped[int]
    public_key: Mapped[bytes] = mapped_column(LargeBinary(PUBLIC_KEY_BYTES))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    key_record: Mapped[str] = mapped_column(Text)


class OprfUsage(Base):
    """How many elements the service had evaluated in one UTC hour (``node`` 0), and how many it sent
    to each node (``node`` i), never an input.

    Once the hour is over its counts are appended to the transparency log (``oprf.usage``, then
    ``logged``), so an auditor can hold each node's published count against the log's count for it.
    """

    __tablename__ = "oprf_usage"
    __table_args__ = (
        CheckConstraint("elements >= 0", name="elements_non_negative"),
        CheckConstraint("node >= 0 AND node <= 255", name="node_range"),
    )

    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    node: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    elements: Mapped[int] = mapped_column(BigInteger)
    logged: Mapped[bool] = mapped_column(default=False, server_default=expression.false())


class LogState(Base):
    """The transparency log's head: one row holding the tree size.

    Appenders reserve the next index with one atomic UPDATE ... RETURNING on this row, which
    serialises concurrent appends (a row lock on PostgreSQL, the write lock on SQLite), so the log
    stays gap-free and ordered (docs/transparency.md#appending).
    """

    __tablename__ = "log_state"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)


class LogEntry(Base):
    """One transparency-log entry: the canonical JSON bytes that are the Merkle leaf."""

    __tablename__ = "log_entries"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LogNode(Base):
    """The hash of a complete subtree: node (level, idx) covers leaves [idx*2^level, (idx+1)*2^level)."""

    __tablename__ = "log_nodes"

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogCheckpoint(Base):
    """A signed checkpoint (C2SP signed note) for one tree size."""

    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LogQueued(Base):
    """An event queued in the transaction of the change it records, not yet in the tree (issue 15).

    The sequencer (escrow.services.transparency.integrate) moves queued events into log_entries in
    batches, in `id` order among those committed, and signs one checkpoint per batch. `openings` is
    the canonical JSON of the salted commitments' openings ({name: [salt_b64u, value]}), or NULL.
    """

    __tablename__ = "log_queue"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    openings: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LogCosignature(Base):
    """A witness's cosignature line (c2sp.org/tlog-cosignature) on the checkpoint of one tree size."""

    __tablename__ = "log_cosignatures"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(255), primary_key=True)
    line: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WitnessAlarm(Base):
    """A witness refused to cosign a checkpoint, or could not be reached (shown on the public report)."""

    __tablename__ = "witness_alarms"

    id: Mapped[int] = mapped_column(primary_key=True)
    witness: Mapped[str] = mapped_column(String(255), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    # The HTTP status of a refusal (409, 422, ...); None when the witness did not answer in time.
    status: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LogCommitmentOpening(Base):
    """The opening of a salted commitment in a log entry, kept by the service for auditors."""

    __tablename__ = "log_commitment_openings"

    entry_idx: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("log_entries.idx", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    value: Mapped[str] = mapped_column(Text)


HOLDER_STATUS_INVITED: Final = "invited"
HOLDER_STATUS_ENROLLED: Final = "enrolled"
CEREMONY_KINDS: Final = ("create", "reshare")
CEREMONY_STATUSES: Final = ("round1", "round2", "confirm", "active", "aborted", "cancelled")
CEREMONY_MESSAGE_KINDS: Final = ("round1", "round2", "confirm", "drill")


class KeyHolder(Base):
    """A key-holder: invited by an admin, enrolled when they register their public keys.

    Only public keys are stored; the invitation code is kept as its SHA-256 (it is a one-time
    bearer secret). ``last_request_ms`` is the newest signed-request timestamp seen (replay guard).
    """

    __tablename__ = "key_holders"
    __table_args__ = (CheckConstraint("status IN ('invited', 'enrolled')", name="status_valid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    invite_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime())
    invite_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    signing_key: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    exchange_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    last_request_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class Ceremony(Base):
    """A key ceremony (``create``) or a reshare of an existing key, relayed by the service."""

    __tablename__ = "ceremonies"
    __table_args__ = (
        CheckConstraint("kind IN ('create', 'reshare')", name="kind_valid"),
        CheckConstraint(
            "status IN ('round1', 'round2', 'confirm', 'active', 'aborted', 'cancelled')", name="status_valid"
        ),
        CheckConstraint("threshold >= 1", name="threshold_positive"),
        CheckConstraint("purpose IN ('escrow', 'oprf')", name="purpose_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # What the key is for: the escrow key (seals identities) or the OPRF key the nodes share (issue 13).
    purpose: Mapped[str] = mapped_column(String(16), default=PURPOSE_ESCROW, server_default=PURPOSE_ESCROW)
    status: Mapped[str] = mapped_column(String(16))
    threshold: Mapped[int]
    context: Mapped[str] = mapped_column(String(64), unique=True)
    old_key_id: Mapped[str | None] = mapped_column(ForeignKey("escrow_keys.key_id"))
    key_id: Mapped[str | None] = mapped_column(String(64))
    result_key: Mapped[str | None] = mapped_column(Text)
    drill_envelope: Mapped[str | None] = mapped_column(Text)
    drill_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    outcome: Mapped[str | None] = mapped_column(Text)
    blamed_holder_id: Mapped[int | None] = mapped_column(ForeignKey("key_holders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CeremonyParticipant(Base):
    """A key-holder's place in a ceremony: its dealer index, its recipient index, or both."""

    __tablename__ = "ceremony_participants"
    __table_args__ = (
        UniqueConstraint("ceremony_id", "holder_id"),
        CheckConstraint("dealer_index IS NOT NULL OR recipient_index IS NOT NULL", name="has_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ceremony_id: Mapped[int] = mapped_column(ForeignKey("ceremonies.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("key_holders.id"), index=True)
    dealer_index: Mapped[int | None]
    recipient_index: Mapped[int | None]


class CeremonyMessage(Base):
    """One signed ceremony message as relayed (shares inside are sealed to their recipients)."""

    __tablename__ = "ceremony_messages"
    __table_args__ = (
        UniqueConstraint("ceremony_id", "holder_id", "kind"),
        CheckConstraint("kind IN ('round1', 'round2', 'confirm', 'drill')", name="kind_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ceremony_id: Mapped[int] = mapped_column(ForeignKey("ceremonies.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("key_holders.id"))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


STAFF_ROLE_PLATFORM: Final = "platform"
STAFF_ROLES: Final = ("admin", "verification_officer", "legal_officer", STAFF_ROLE_PLATFORM)
_STAFF_ROLES_SQL: Final = ", ".join(f"'{role}'" for role in STAFF_ROLES)


class StaffAccount(Base):
    """A member of staff: admin, verification officer, legal officer (one ``staff_roles`` row per
    role), or a platform's own staff (issue 8: role ``platform`` alone, bound to exactly one platform).

    The platform rule, and what enforces it (issue 12):
    - ``is_platform_login`` is true exactly when ``platform_id`` is set: check ``platform_binding``.
    - Each role row repeats its account's ``is_platform_login`` (a composite foreign key to
      ``(id, is_platform_login)``, so it cannot disagree) and may be ``platform`` only where it is
      true: check ``staff_roles.platform_role``. So a platform login holds no other role, and no
      other account holds ``platform``; the primary key ``(staff_id, role)`` allows one row a role.
    - That an account has at least one role, and a platform login the ``platform`` role, spans rows
      of two tables, which a check constraint cannot express: services.staff.create_staff enforces
      it (the only writer of both tables).
    """

    __tablename__ = "staff_accounts"
    __table_args__ = (
        CheckConstraint(
            "(is_platform_login AND platform_id IS NOT NULL)"
            " OR (NOT is_platform_login AND platform_id IS NULL)",
            name="platform_binding",
        ),
        # The target of staff_roles' composite foreign key (id alone is already unique).
        UniqueConstraint("id", "is_platform_login"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    organisation: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=expression.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Second factor (RFC 6238), mandatory for legal officers: the shared secret sealed with
    # keys/totp-key (escrow.services.totp), and the last accepted time step (a code is used once).
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary(128))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    platform_id: Mapped[str | None] = mapped_column(ForeignKey("platforms.id"), index=True)
    is_platform_login: Mapped[bool] = mapped_column(Boolean, server_default=expression.false())
    role_rows: Mapped[list[StaffRole]] = relationship(
        back_populates="account", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(row.role for row in self.role_rows)


class StaffRole(Base):
    """One role of one staff account (issue 12: was a comma-separated column); see StaffAccount."""

    __tablename__ = "staff_roles"
    __table_args__ = (
        ForeignKeyConstraint(
            ["staff_id", "is_platform_login"], ["staff_accounts.id", "staff_accounts.is_platform_login"]
        ),
        CheckConstraint(f"role IN ({_STAFF_ROLES_SQL})", name="role_valid"),
        CheckConstraint(
            f"(role = '{STAFF_ROLE_PLATFORM}' AND is_platform_login)"
            f" OR (role <> '{STAFF_ROLE_PLATFORM}' AND NOT is_platform_login)",
            name="platform_role",
        ),
    )

    staff_id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    is_platform_login: Mapped[bool] = mapped_column(Boolean)
    account: Mapped[StaffAccount] = relationship(back_populates="role_rows")


# Issue 3: persons, platforms, credentials. No column holds a name, birthdate, document number or
# identity-provider subject: the identity is only inside ``persons.identity_seal`` (threshold key).

PERSON_KEY_BYTES: Final = 32
REVOKERS: Final = ("user", "platform", "admin")


class Person(Base):
    """One verified person (one row per person: ``person_key`` is unique).

    ``person_key`` is KDF(OPRF(canonical identity key), "lookup") (issue 13): it finds the account and
    derives nothing else (no pseudonym can be computed from any column here). The identity
    itself is sealed to the escrow key in ``identity_seal``; the server cannot open it.
    """

    __tablename__ = "persons"
    __table_args__ = (
        CheckConstraint("provider_kind IN ('oidc', 'officer')", name="provider_kind_valid"),
        CheckConstraint("assurance IN ('low', 'substantial', 'high')", name="assurance_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_key: Mapped[bytes] = mapped_column(LargeBinary(PERSON_KEY_BYTES), unique=True)
    provider_kind: Mapped[str] = mapped_column(String(16))
    assurance: Mapped[str] = mapped_column(String(16))
    escrow_key_id: Mapped[str] = mapped_column(String(64))
    identity_seal: Mapped[bytes] = mapped_column(LargeBinary)
    # argon2id, only for officer-verified persons (OIDC persons log in through their provider).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Platform(Base):
    """A relying platform and its policy (credential lifetime, pseudonyms a person may hold there)."""

    __tablename__ = "platforms"
    __table_args__ = (
        CheckConstraint("credential_lifetime_s > 0", name="lifetime_positive"),
        CheckConstraint("pseudonyms_per_person >= 1", name="pseudonyms_positive"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(320))
    redirect_uris: Mapped[str] = mapped_column(Text)  # JSON list of absolute URLs
    credential_lifetime_s: Mapped[int]
    pseudonyms_per_person: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # OpenID Connect client (issue 7): SHA-256 of the client secret (None: a public client, PKCE only)
    # and the algorithm of its ID tokens ("EdDSA" or "RS256").
    client_secret_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    id_token_alg: Mapped[str] = mapped_column(String(8), default="EdDSA", server_default="EdDSA")
    # Issue 19, logout: where RP-initiated logout may send the person back (JSON list, exact match)
    # and the platform's OpenID Connect Back-Channel Logout 1.0 receiver (None: not told).
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    # Issue 19, webhooks (Standard Webhooks): the receiver, and which generation of its secret signs
    # (0: none yet). The secret is derived from a key under keys/, never stored (services/webhooks.py);
    # the previous generation still signs until ``webhook_previous_until`` (rotation without a gap).
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    webhook_previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PlatformApiKey(Base):
    """A platform API key: only its visible prefix and its SHA-256 are stored (shown once)."""

    __tablename__ = "platform_api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SigningKey(Base):
    """A credential signing key (Ed25519); its seed is a file under keys/, named by ``kid``.

    Published in the JWKS while active, and after retirement until ``publish_until`` (the last
    expiry of a credential it signed).
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Credential(Base):
    """One issued credential. Names its platform and pseudonym, never the person's account.

    The envelope seals the identity anew for (platform, pseudonym, envelope id): no byte of it
    repeats in another envelope, so rows of one person on two platforms cannot be joined.
    """

    __tablename__ = "credentials"
    __table_args__ = (
        CheckConstraint(
            "revoked_by IS NULL OR revoked_by IN ('user', 'platform', 'admin')", name="revoked_by_valid"
        ),
    )

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id"), index=True)
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    signing_key_id: Mapped[str] = mapped_column(ForeignKey("signing_keys.kid"))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    envelope_digest: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(16))
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcConsent(Base):
    """A person's standing consent to sign in to a platform (issue 7), until they withdraw it.

    Keyed by (platform, pseudonym), never by account: like credentials, a person's consents are found
    by re-deriving their pseudonyms, so no row joins one person's platforms.
    """

    __tablename__ = "oidc_consents"
    __table_args__ = (UniqueConstraint("platform_id", "pseudonym"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id"))
    pseudonym: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcCode(Base):
    """An OAuth 2.0 authorization code (stored as its SHA-256), single-use and short-lived.

    It names the credential made for this sign-in (pseudonym + fresh envelope), not the person.
    """

    __tablename__ = "oidc_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id"), index=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.jti"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(200))
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    acr: Mapped[str] = mapped_column(String(16))
    # Issue 19: None unless the platform asked for it (max_age, prompt=login), and then the time of a
    # sign-in made for this request alone, never the person's escrow sign-in time (a join key).
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Issue 19: the ID token's ``sid`` (Back-Channel Logout 1.0 section 2.1), random per escrow session
    # AND platform: two platforms never see the same sid, so their logout tokens do not join.
    sid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcToken(Base):
    """An access token for the userinfo endpoint (stored as its SHA-256); revoked if its code is reused."""

    __tablename__ = "oidc_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    code_hash: Mapped[bytes] = mapped_column(ForeignKey("oidc_codes.code_hash"), index=True)
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id"))
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.jti"))
    scope: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcRefreshToken(Base):
    """A refresh token (stored as its SHA-256), issue 19: single use, rotated at every refresh. Its
    family is the authorization code it descends from: presenting a used one (a stolen copy, RFC 9700
    section 4.14.2) revokes the whole family, access tokens included."""

    __tablename__ = "oidc_refresh_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    code_hash: Mapped[bytes] = mapped_column(ForeignKey("oidc_codes.code_hash"), index=True)
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id"))
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.jti"), index=True)
    scope: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The family's absolute end (the sign-in plus REFRESH_TOKEN_TTL): rotation never extends it.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# Issue 6: disclosure requests. No column holds an identity: revealed identities exist only in memory
# while a granted officer views them (docs/disclosure.md).

DISCLOSURE_STATUSES: Final = (
    "draft",
    "submitted",
    "cosigned",
    "disclosed",
    "rejected",
    "expired",
    "withdrawn",
)
COURT_VERDICTS: Final = ("verified", "unsigned", "signature-invalid")


class OfficerKey(Base):
    """A legal officer's Ed25519 public key; the private key lives only in the officer's key file."""

    __tablename__ = "officer_keys"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Court(Base):
    """A court whose orders may open a disclosure; optionally the key with which it signs orders."""

    __tablename__ = "courts"
    __table_args__ = (UniqueConstraint("name", "jurisdiction"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    jurisdiction: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OrderDocument(Base):
    """An uploaded court order (PDF), stored once by its SHA-256 (hex)."""

    __tablename__ = "order_documents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DisclosureRequest(Base):
    """A disclosure request. ``body`` is its canonical JSON and ``digest`` the SHA-256 every party signs.

    Neither changes after the draft is made; the submitter's signature over ``digest`` submits it.
    """

    __tablename__ = "disclosure_requests"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'submitted', 'cosigned', 'disclosed', 'rejected', 'expired', 'withdrawn')",
            name="status_valid",
        ),
        CheckConstraint(
            "court_verdict IN ('verified', 'unsigned', 'signature-invalid')", name="court_verdict_valid"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    case_number: Mapped[str] = mapped_column(String(200))
    order_sha256: Mapped[str] = mapped_column(ForeignKey("order_documents.sha256"))
    court_signature: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    court_verdict: Mapped[str] = mapped_column(String(24))
    legal_basis: Mapped[str] = mapped_column(Text)
    is_emergency: Mapped[bool] = mapped_column(Boolean)
    key_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notify_delay_s: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    submitter_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    submit_signature: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disclosed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    view_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    partials_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DisclosureScope(Base):
    """One pseudonym in a request's scope, with the envelope copied from its credential at drafting."""

    __tablename__ = "disclosure_scope"
    __table_args__ = (UniqueConstraint("request_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("disclosure_requests.id"), index=True)
    position: Mapped[int]
    platform_id: Mapped[str] = mapped_column(String(64), index=True)
    pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    envelope_digest: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    # When the person behind this pseudonym first saw the notice (found by re-deriving pseudonyms).
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DisclosureCosignature(Base):
    """A co-signing legal officer's Ed25519 signature over a request digest."""

    __tablename__ = "disclosure_cosignatures"
    __table_args__ = (UniqueConstraint("request_id", "officer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("disclosure_requests.id"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DisclosureWithdrawal(Base):
    """Who withdrew a request (an officer of it), why, and their Ed25519 signature over the withdrawal
    digest (escrow.crypto.disclosure.withdrawal_digest). At most one per request."""

    __tablename__ = "disclosure_withdrawals"

    request_id: Mapped[int] = mapped_column(ForeignKey("disclosure_requests.id"), primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    reason: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DisclosureExtension(Base):
    """A proposed extension of a request's notification delay, signed by its proposer (an officer of the
    request). ``body`` is its canonical JSON and ``digest`` the domain-separated SHA-256 every officer
    signs; it takes effect (``status`` effective) once co-signed, and is superseded when another
    extension of the same request takes effect first.
    """

    __tablename__ = "disclosure_extensions"
    __table_args__ = (
        UniqueConstraint("request_id", "sequence"),
        CheckConstraint("status IN ('proposed', 'effective', 'superseded')", name="status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("disclosure_requests.id"), index=True)
    sequence: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    old_delay_s: Mapped[int] = mapped_column(BigInteger)
    new_delay_s: Mapped[int] = mapped_column(BigInteger)
    order_sha256: Mapped[str | None] = mapped_column(ForeignKey("order_documents.sha256"))
    proposer_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    proposer_signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DisclosureExtensionCosignature(Base):
    """A co-signing legal officer's Ed25519 signature over an extension digest."""

    __tablename__ = "disclosure_extension_cosignatures"
    __table_args__ = (UniqueConstraint("extension_id", "officer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    extension_id: Mapped[int] = mapped_column(ForeignKey("disclosure_extensions.id"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DisclosureDecision(Base):
    """A key-holder's signed approval (with partial decryptions) or rejection of one request.

    ``partials`` (JSON) is deleted when the viewing window ends, the request expires or is rejected.
    """

    __tablename__ = "disclosure_decisions"
    __table_args__ = (
        UniqueConstraint("request_id", "holder_id"),
        CheckConstraint("decision IN ('approve', 'reject')", name="decision_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("disclosure_requests.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("key_holders.id"))
    holder_index: Mapped[int]
    decision: Mapped[str] = mapped_column(String(8))
    partials: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


ROSTER_STATUSES: Final = ("proposed", "active", "superseded")


class RosterVersion(Base):
    """One version of the roster the key-holders sign (escrow.protocol.roster): courts, officers'
    organisations and the holders themselves. ``body`` is its canonical JSON, ``digest`` its SHA-256.

    A version is ``active`` once a quorum of holders signed it (services/roster.py); the service keeps
    it, but the holders' tools check the signatures themselves, so a row written here proves nothing.
    """

    __tablename__ = "roster_versions"
    __table_args__ = (CheckConstraint("status IN ('proposed', 'active', 'superseded')", name="status_valid"),)

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RosterSignature(Base):
    """A key-holder's Ed25519 signature over a roster version's digest."""

    __tablename__ = "roster_signatures"

    version: Mapped[int] = mapped_column(ForeignKey("roster_versions.version"), primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("key_holders.id"), primary_key=True)
    signing_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OfficerCertificateRecord(Base):
    """An officer's key certificate, signed by their organisation's key (escrow.protocol.roster)."""

    __tablename__ = "officer_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    officer_key: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    certificate: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdempotencyRecord(Base):
    """An Idempotency-Key (issue 17 finding 6, draft-ietf-httpapi-idempotency-key-header) a caller used:
    the answer its retries get. ``lookup`` is derived from the key, the operation and the caller (never
    the key itself, nor a person's id); ``response`` is sealed under a key derived from the
    Idempotency-Key, which only the caller holds (escrow.crypto.idempotency). ``status`` is None while
    the first request is in flight."""

    __tablename__ = "idempotency_keys"

    lookup: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    request_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


# Issue 19: events to platforms (Standard Webhooks). The outbox row is written in the transaction of
# the change it reports; a worker delivers it (services/webhooks.py). It names the platform and what
# the platform already knows (its own pseudonym, a credential id, a request id), never a person.


class WebhookMessage(Base):
    """One event for one platform: its exact body, and where its delivery stands."""

    __tablename__ = "webhook_messages"
    __table_args__ = (CheckConstraint("attempts >= 0", name="attempts_non_negative"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the webhook-id header: msg_...
    platform_id: Mapped[str] = mapped_column(ForeignKey("platforms.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body sent (and signed)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)  # None: done
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # gave up after the last retry


class WebhookAttempt(Base):
    """One delivery attempt: the platform portal's delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("webhook_messages.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no HTTP answer
    error: Mapped[str | None] = mapped_column(String(200))
    duration_ms: Mapped[int] = mapped_column(Integer)


class CacheGeneration(Base):
    """A counter that every change to one family of cached rows increments in the same transaction
    (issue 17 finding 10): each process keeps its copy of the rows with the number it was read at, and
    reads them again when the number in the database has moved (escrow.services.read_cache)."""

    __tablename__ = "cache_generations"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class DevIdpCode(Base):
    """DEVELOPMENT ONLY: an authorization code of the development identity provider, waiting to be
    exchanged (issue 17 finding 11: kept here, not in one worker's memory). The code itself is never
    stored, only its SHA-256, so a database reader cannot redeem it."""

    __tablename__ = "dev_idp_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    # The JSON of the pending authorization: client, redirect URI, nonce, PKCE challenge, username.
    request: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
