"""The roster the key-holders sign (issue 16): its versions, the holders' signatures on them, and the
officer key certificates that organisations sign.

Revision ID: 0017_roster
Revises: 0016_oidc_refresh_tokens
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0017_roster"
down_revision: str | None = "0016_oidc_refresh_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "roster_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('proposed', 'active', 'superseded')", name=op.f("ck_roster_versions_status_valid")
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_roster_versions")),
        sa.UniqueConstraint("digest", name=op.f("uq_roster_versions_digest")),
    )
    op.create_index(op.f("ix_roster_versions_status"), "roster_versions", ["status"], unique=False)
    op.create_table(
        "roster_signatures",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("signing_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["key_holders.id"], name=op.f("fk_roster_signatures_holder_id_key_holders")
        ),
        sa.ForeignKeyConstraint(
            ["version"],
            ["roster_versions.version"],
            name=op.f("fk_roster_signatures_version_roster_versions"),
        ),
        sa.PrimaryKeyConstraint("version", "holder_id", name=op.f("pk_roster_signatures")),
    )
    op.create_table(
        "officer_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("officer_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_accounts.id"], name=op.f("fk_officer_certificates_staff_id_staff_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officer_certificates")),
    )
    op.create_index(op.f("ix_officer_certificates_officer_key"), "officer_certificates", ["officer_key"])
    op.create_index(op.f("ix_officer_certificates_staff_id"), "officer_certificates", ["staff_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_officer_certificates_staff_id"), table_name="officer_certificates")
    op.drop_index(op.f("ix_officer_certificates_officer_key"), table_name="officer_certificates")
    op.drop_table("officer_certificates")
    op.drop_table("roster_signatures")
    op.drop_index(op.f("ix_roster_versions_status"), table_name="roster_versions")
    op.drop_table("roster_versions")
