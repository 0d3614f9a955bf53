"""Witnessed checkpoints (issue 15): the cosignature lines witnesses returned for each tree size, and
the alarms raised when a witness refused a checkpoint or did not answer.

Revision ID: 0014_witness_cosignatures
Revises: 0013_seal_v2
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_witness_cosignatures"
down_revision: str | None = "0013_seal_v2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(length=255), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", "witness", name=op.f("pk_log_cosignatures")),
    )
    op.create_table(
        "witness_alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("witness", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_witness_alarms")),
    )
    op.create_index(op.f("ix_witness_alarms_witness"), "witness_alarms", ["witness"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_witness_alarms_witness"), table_name="witness_alarms")
    op.drop_table("witness_alarms")
    op.drop_table("log_cosignatures")
