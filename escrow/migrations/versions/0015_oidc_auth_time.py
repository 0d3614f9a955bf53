"""Sign in with escrow (issue 19): an authorization code's ``auth_time`` is optional and never the
person's escrow sign-in time.

Before this revision every code stored the time the person signed in to escrow, the same value for
every platform they then signed in to: a join key between platforms inside a copy of the database.
Now the column holds a time only when the platform asked for one (``max_age`` or ``prompt=login``),
and then it is the time of a sign-in made for that one authorization request. Existing values are
dropped: codes live 60 seconds, so none is still needed (docs/platforms.md#auth_time).

Revision ID: 0015_oidc_auth_time
Revises: 0014_witness_cosignatures
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_oidc_auth_time"
down_revision: str | None = "0014_witness_cosignatures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _oidc_codes(*, auth_time_nullable: bool) -> sa.Table:
    """The table as 0007 made it, so SQLite's batch copy needs no reflection (offline --sql too)."""
    return sa.Table(
        "oidc_codes",
        sa.MetaData(),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("platform_id", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=True),
        sa.Column("acr", sa.String(length=16), nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=auth_time_nullable),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["credential_id"], ["credentials.jti"], name="fk_oidc_codes_credential_id_credentials"
        ),
        sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], name="fk_oidc_codes_platform_id_platforms"),
        sa.PrimaryKeyConstraint("code_hash", name="pk_oidc_codes"),
        sa.Index("ix_oidc_codes_platform_id", "platform_id"),
    )


def upgrade() -> None:
    with op.batch_alter_table("oidc_codes", copy_from=_oidc_codes(auth_time_nullable=False)) as batch_op:
        batch_op.alter_column("auth_time", existing_type=sa.DateTime(timezone=True), nullable=True)
    op.execute("UPDATE oidc_codes SET auth_time = NULL")


def downgrade() -> None:
    # The old schema wants a value: the code's own creation time (no shared sign-in time comes back).
    op.execute("UPDATE oidc_codes SET auth_time = created_at WHERE auth_time IS NULL")
    with op.batch_alter_table("oidc_codes", copy_from=_oidc_codes(auth_time_nullable=True)) as batch_op:
        batch_op.alter_column("auth_time", existing_type=sa.DateTime(timezone=True), nullable=False)
