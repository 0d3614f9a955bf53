"""Platform staff (issue 8): a staff account may be bound to one platform (role ``platform``).

Revision ID: 0008_platform_staff
Revises: 0007_oidc
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_platform_staff"
down_revision: str | None = "0007_oidc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PLATFORM_BINDING = (
    "(roles = 'platform' AND platform_id IS NOT NULL)"
    " OR (roles NOT LIKE '%platform%' AND platform_id IS NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("staff_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_staff_accounts_platform_id"), ["platform_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_staff_accounts_platform_id_platforms"), "platforms", ["platform_id"], ["id"]
        )
        batch_op.create_check_constraint(batch_op.f("ck_staff_accounts_platform_binding"), _PLATFORM_BINDING)


def downgrade() -> None:
    with op.batch_alter_table("staff_accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_staff_accounts_platform_binding"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_staff_accounts_platform_id_platforms"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_staff_accounts_platform_id"))
        batch_op.drop_column("platform_id")
