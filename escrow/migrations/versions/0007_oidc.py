"""OpenID Connect provider (issue 7): platform client secrets and ID token algorithm, consents,
authorization codes and access tokens.

Revision ID: 0007_oidc
Revises: 0006_disclosure
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_oidc"
down_revision: str | None = "0006_disclosure"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("platforms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_secret_hash", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("id_token_alg", sa.String(length=8), server_default="EdDSA", nullable=False)
        )

    op.create_table("oidc_consents",
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("platform_id", sa.String(length=64), nullable=False),
    sa.Column("pseudonym", sa.String(length=64), nullable=False),
    sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], name=op.f("fk_oidc_consents_platform_id_platforms")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_consents")),
    sa.UniqueConstraint("platform_id", "pseudonym", name=op.f("uq_oidc_consents_platform_id"))
    )
    op.create_table("oidc_codes",
    sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
    sa.Column("platform_id", sa.String(length=64), nullable=False),
    sa.Column("credential_id", sa.String(length=64), nullable=False),
    sa.Column("redirect_uri", sa.Text(), nullable=False),
    sa.Column("scope", sa.String(length=200), nullable=False),
    sa.Column("nonce", sa.String(length=255), nullable=True),
    sa.Column("code_challenge", sa.String(length=128), nullable=True),
    sa.Column("code_challenge_method", sa.String(length=8), nullable=True),
    sa.Column("acr", sa.String(length=16), nullable=False),
    sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["credential_id"], ["credentials.jti"], name=op.f("fk_oidc_codes_credential_id_credentials")),
    sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], name=op.f("fk_oidc_codes_platform_id_platforms")),
    sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oidc_codes"))
    )
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_codes_platform_id"), ["platform_id"], unique=False)

    op.create_table("oidc_tokens",
    sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
    sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
    sa.Column("platform_id", sa.String(length=64), nullable=False),
    sa.Column("credential_id", sa.String(length=64), nullable=False),
    sa.Column("scope", sa.String(length=200), nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["code_hash"], ["oidc_codes.code_hash"], name=op.f("fk_oidc_tokens_code_hash_oidc_codes")),
    sa.ForeignKeyConstraint(["credential_id"], ["credentials.jti"], name=op.f("fk_oidc_tokens_credential_id_credentials")),
    sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], name=op.f("fk_oidc_tokens_platform_id_platforms")),
    sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oidc_tokens"))
    )
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_tokens_code_hash"), ["code_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_tokens_code_hash"))
    op.drop_table("oidc_tokens")
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_codes_platform_id"))
    op.drop_table("oidc_codes")
    op.drop_table("oidc_consents")
    with op.batch_alter_table("platforms", schema=None) as batch_op:
        batch_op.drop_column("id_token_alg")
        batch_op.drop_column("client_secret_hash")
