"""Disclosure notification-delay extensions and withdrawal (issue 6): extension and extension
co-signature tables; withdrawals (who withdrew a request, why, and their signature).

Revision ID: 0010_disclosure_extensions
Revises: 0009_platform_staff
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_disclosure_extensions"
down_revision: str | None = "0009_platform_staff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disclosure_extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("old_delay_s", sa.BigInteger(), nullable=False),
        sa.Column("new_delay_s", sa.BigInteger(), nullable=False),
        sa.Column("order_sha256", sa.String(length=64), nullable=True),
        sa.Column("proposer_id", sa.Integer(), nullable=False),
        sa.Column("proposer_signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('proposed', 'effective', 'superseded')",
            name=op.f("ck_disclosure_extensions_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["order_sha256"],
            ["order_documents.sha256"],
            name=op.f("fk_disclosure_extensions_order_sha256_order_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["proposer_id"],
            ["staff_accounts.id"],
            name=op.f("fk_disclosure_extensions_proposer_id_staff_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["disclosure_requests.id"],
            name=op.f("fk_disclosure_extensions_request_id_disclosure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_extensions")),
        sa.UniqueConstraint("digest", name=op.f("uq_disclosure_extensions_digest")),
        sa.UniqueConstraint("request_id", "sequence", name=op.f("uq_disclosure_extensions_request_id")),
    )
    with op.batch_alter_table("disclosure_extensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disclosure_extensions_request_id"), ["request_id"], unique=False)

    op.create_table(
        "disclosure_extension_cosignatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("extension_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["extension_id"],
            ["disclosure_extensions.id"],
            name=op.f("fk_disclosure_extension_cosignatures_extension_id_disclosure_extensions"),
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["staff_accounts.id"],
            name=op.f("fk_disclosure_extension_cosignatures_officer_id_staff_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_extension_cosignatures")),
        sa.UniqueConstraint(
            "extension_id", "officer_id", name=op.f("uq_disclosure_extension_cosignatures_extension_id")
        ),
    )
    with op.batch_alter_table("disclosure_extension_cosignatures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disclosure_extension_cosignatures_extension_id"), ["extension_id"], unique=False
        )

    op.create_table(
        "disclosure_withdrawals",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["staff_accounts.id"],
            name=op.f("fk_disclosure_withdrawals_officer_id_staff_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["disclosure_requests.id"],
            name=op.f("fk_disclosure_withdrawals_request_id_disclosure_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_disclosure_withdrawals")),
    )


def downgrade() -> None:
    op.drop_table("disclosure_withdrawals")
    with op.batch_alter_table("disclosure_extension_cosignatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_extension_cosignatures_extension_id"))
    op.drop_table("disclosure_extension_cosignatures")
    with op.batch_alter_table("disclosure_extensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_extensions_request_id"))
    op.drop_table("disclosure_extensions")
