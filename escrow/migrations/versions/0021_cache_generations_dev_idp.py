"""Issue 17: the generation counters behind each process's caches (JWKS, API keys, active keys), and
the development identity provider's pending authorization codes (shared by every worker).

Revision ID: 0021_cache_generations_dev_idp
Revises: 0020_webhooks
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0021_cache_generations_dev_idp"
down_revision: str | None = "0020_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# escrow.services.read_cache.GENERATIONS: one row each, so an increment is a plain UPDATE.
_GENERATIONS = ("keys", "platforms")


def upgrade() -> None:
    generations = op.create_table(
        "cache_generations",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_generations")),
    )
    op.bulk_insert(generations, [{"name": name, "generation": 0} for name in _GENERATIONS])
    op.create_table(
        "dev_idp_codes",
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_dev_idp_codes")),
    )
    op.create_index(op.f("ix_dev_idp_codes_expires_at"), "dev_idp_codes", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_dev_idp_codes_expires_at"), table_name="dev_idp_codes")
    op.drop_table("dev_idp_codes")
    op.drop_table("cache_generations")
