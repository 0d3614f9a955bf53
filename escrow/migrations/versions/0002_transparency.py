"""Transparency log tables.

Revision ID: 0002_transparency
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_transparency"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_log_state_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_state")),
    )
    op.execute("INSERT INTO log_state (id, size) VALUES (1, 0)")
    op.create_table(
        "log_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_log_entries")),
    )
    op.create_index(op.f("ix_log_entries_kind"), "log_entries", ["kind"])
    op.create_index(op.f("ix_log_entries_created_at"), "log_entries", ["created_at"])
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_log_nodes")),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_log_checkpoints")),
    )
    op.create_table(
        "log_commitment_openings",
        sa.Column("entry_idx", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_idx"],
            ["log_entries.idx"],
            name=op.f("fk_log_commitment_openings_entry_idx_log_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_idx", "name", name=op.f("pk_log_commitment_openings")),
    )


def downgrade() -> None:
    op.drop_table("log_commitment_openings")
    op.drop_table("log_checkpoints")
    op.drop_table("log_nodes")
    op.drop_index(op.f("ix_log_entries_created_at"), table_name="log_entries")
    op.drop_index(op.f("ix_log_entries_kind"), table_name="log_entries")
    op.drop_table("log_entries")
    op.drop_table("log_state")
