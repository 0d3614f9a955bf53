"""Platform staff (issue 8): a staff account may be bound to one platform (role ``platform``).

Revision ID: 0009_platform_staff
Revises: 0008_staff_totp
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision: str = "0009_platform_staff"
down_revision: str | None = "0008_staff_totp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PLATFORM_BINDING = (
    "(roles = 'platform' AND platform_id IS NOT NULL)"
    " OR (roles NOT LIKE '%platform%' AND platform_id IS NULL)"
)


def _staff_accounts(*, bound: bool) -> sa.Table:
    """staff_accounts as it stands before (bound=False) or after this revision: SQLite's batch mode
    copies the table from it instead of reflecting it, so `alembic upgrade --sql` works offline too."""
    columns: list[SchemaItem] = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("organisation", sa.String(length=128), nullable=False),
        sa.Column("roles", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        # 0008_staff_totp
        sa.Column("totp_secret", sa.LargeBinary(length=128), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("totp_enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_accounts"),
        sa.UniqueConstraint("username", name="uq_staff_accounts_username"),
    ]
    if bound:
        columns += [
            sa.Column("platform_id", sa.String(length=64), nullable=True),
            sa.ForeignKeyConstraint(
                ["platform_id"], ["platforms.id"], name="fk_staff_accounts_platform_id_platforms"
            ),
            sa.CheckConstraint(_PLATFORM_BINDING, name="ck_staff_accounts_platform_binding"),
            sa.Index("ix_staff_accounts_platform_id", "platform_id"),
        ]
    return sa.Table("staff_accounts", sa.MetaData(), *columns)


def upgrade() -> None:
    with op.batch_alter_table("staff_accounts", copy_from=_staff_accounts(bound=False)) as batch_op:
        batch_op.add_column(sa.Column("platform_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_staff_accounts_platform_id"), ["platform_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_staff_accounts_platform_id_platforms"), "platforms", ["platform_id"], ["id"]
        )
        batch_op.create_check_constraint(batch_op.f("ck_staff_accounts_platform_binding"), _PLATFORM_BINDING)


def downgrade() -> None:
    with op.batch_alter_table("staff_accounts", copy_from=_staff_accounts(bound=True)) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_staff_accounts_platform_binding"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_staff_accounts_platform_id_platforms"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_staff_accounts_platform_id"))
        batch_op.drop_column("platform_id")
