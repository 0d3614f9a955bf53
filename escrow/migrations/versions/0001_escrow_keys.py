"""Create escrow_keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "escrow_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("holder_count", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("key_record", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "threshold >= 1 AND threshold <= holder_count",
            name=op.f("ck_escrow_keys_threshold_range"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'retired')",
            name=op.f("ck_escrow_keys_status_valid"),
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_escrow_keys")),
    )


def downgrade() -> None:
    op.drop_table("escrow_keys")
