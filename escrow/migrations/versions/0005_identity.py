"""Persons, platforms, platform API keys, signing keys and credentials (issue 3).

Revision ID: 0005_identity
Revises: 0004_ceremony
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_identity"
down_revision: str | None = "0004_ceremony"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table("persons",
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("person_key", sa.LargeBinary(length=32), nullable=False),
    sa.Column("provider_kind", sa.String(length=16), nullable=False),
    sa.Column("assurance", sa.String(length=16), nullable=False),
    sa.Column("escrow_key_id", sa.String(length=64), nullable=False),
    sa.Column("identity_seal", sa.LargeBinary(), nullable=False),
    sa.Column("password_hash", sa.String(length=255), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("assurance IN ('low', 'substantial', 'high')", name=op.f("ck_persons_assurance_valid")),
    sa.CheckConstraint("provider_kind IN ('oidc', 'officer')", name=op.f("ck_persons_provider_kind_valid")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    sa.UniqueConstraint("person_key", name=op.f("uq_persons_person_key"))
    )
    op.create_table("platforms",
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("contact", sa.String(length=320), nullable=False),
    sa.Column("redirect_uris", sa.Text(), nullable=False),
    sa.Column("credential_lifetime_s", sa.Integer(), nullable=False),
    sa.Column("pseudonyms_per_person", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("credential_lifetime_s > 0", name=op.f("ck_platforms_lifetime_positive")),
    sa.CheckConstraint("pseudonyms_per_person >= 1", name=op.f("ck_platforms_pseudonyms_positive")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_platforms"))
    )
    op.create_table("signing_keys",
    sa.Column("kid", sa.String(length=64), nullable=False),
    sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("publish_until", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys"))
    )
    op.create_table("credentials",
    sa.Column("jti", sa.String(length=64), nullable=False),
    sa.Column("platform_id", sa.String(length=64), nullable=False),
    sa.Column("pseudonym", sa.String(length=64), nullable=False),
    sa.Column("signing_key_id", sa.String(length=64), nullable=False),
    sa.Column("envelope", sa.LargeBinary(), nullable=False),
    sa.Column("envelope_digest", sa.String(length=64), nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_by", sa.String(length=16), nullable=True),
    sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("revoked_by IS NULL OR revoked_by IN ('user', 'platform', 'admin')", name=op.f("ck_credentials_revoked_by_valid")),
    sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], name=op.f("fk_credentials_platform_id_platforms")),
    sa.ForeignKeyConstraint(["signing_key_id"], ["signing_keys.kid"], name=op.f("fk_credentials_signing_key_id_signing_keys")),
    sa.PrimaryKeyConstraint("jti", name=op.f("pk_credentials"))
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credentials_platform_id"), ["platform_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credentials_pseudonym"), ["pseudonym"], unique=False)

    op.create_table("platform_api_keys",
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("platform_id", sa.String(length=64), nullable=False),
    sa.Column("prefix", sa.String(length=32), nullable=False),
    sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], name=op.f("fk_platform_api_keys_platform_id_platforms")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_api_keys")),
    sa.UniqueConstraint("prefix", name=op.f("uq_platform_api_keys_prefix"))
    )
    with op.batch_alter_table("platform_api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_platform_api_keys_platform_id"), ["platform_id"], unique=False)




def downgrade() -> None:

    with op.batch_alter_table("platform_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_platform_api_keys_platform_id"))

    op.drop_table("platform_api_keys")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_pseudonym"))
        batch_op.drop_index(batch_op.f("ix_credentials_platform_id"))

    op.drop_table("credentials")
    op.drop_table("signing_keys")
    op.drop_table("platforms")
    op.drop_table("persons")

