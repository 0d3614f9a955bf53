"""Sign in with escrow (issue 19): refresh tokens, single use and rotated, in families (the code they
descend from) so that a reused one revokes them all.

Revision ID: 0016_oidc_refresh_tokens
Revises: 0015_oidc_auth_time
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_oidc_refresh_tokens"
down_revision: str | None = "0015_oidc_auth_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_refresh_tokens",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("platform_id", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["code_hash"], ["oidc_codes.code_hash"], name=op.f("fk_oidc_refresh_tokens_code_hash_oidc_codes")
        ),
        sa.ForeignKeyConstraint(
            ["credential_id"], ["credentials.jti"], name=op.f("fk_oidc_refresh_tokens_credential_id_credentials")
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"], ["platforms.id"], name=op.f("fk_oidc_refresh_tokens_platform_id_platforms")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oidc_refresh_tokens")),
    )
    with op.batch_alter_table("oidc_refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_refresh_tokens_code_hash"), ["code_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_refresh_tokens_credential_id"), ["credential_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_refresh_tokens_credential_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_refresh_tokens_code_hash"))
    op.drop_table("oidc_refresh_tokens")
