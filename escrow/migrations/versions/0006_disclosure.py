"""Disclosure requests: officer keys, courts, order documents, scope, co-signatures, decisions (issue 6).

Revision ID: 0006_disclosure
Revises: 0005_identity
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_disclosure"
down_revision: str | None = "0005_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "courts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("jurisdiction", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courts")),
        sa.UniqueConstraint("name", "jurisdiction", name=op.f("uq_courts_name")),
    )
    op.create_table(
        "order_documents",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_order_documents")),
    )
    op.create_table(
        "disclosure_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("court_id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.String(length=200), nullable=False),
        sa.Column("order_sha256", sa.String(length=64), nullable=False),
        sa.Column("court_signature", sa.LargeBinary(length=64), nullable=True),
        sa.Column("court_verdict", sa.String(length=24), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("is_emergency", sa.Boolean(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notify_delay_s", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("submitter_id", sa.Integer(), nullable=False),
        sa.Column("submit_signature", sa.LargeBinary(length=64), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disclosed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("view_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("partials_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "court_verdict IN ('verified', 'unsigned', 'signature-invalid')",
            name=op.f("ck_disclosure_requests_court_verdict_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'cosigned', 'disclosed', 'rejected', 'expired', 'withdrawn')",
            name=op.f("ck_disclosure_requests_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["court_id"], ["courts.id"], name=op.f("fk_disclosure_requests_court_id_courts")
        ),
        sa.ForeignKeyConstraint(
            ["order_sha256"],
            ["order_documents.sha256"],
            name=op.f("fk_disclosure_requests_order_sha256_order_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["submitter_id"],
            ["staff_accounts.id"],
            name=op.f("fk_disclosure_requests_submitter_id_staff_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_requests")),
        sa.UniqueConstraint("digest", name=op.f("uq_disclosure_requests_digest")),
    )
    with op.batch_alter_table("disclosure_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disclosure_requests_status"), ["status"], unique=False)

    op.create_table(
        "officer_keys",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_accounts.id"], name=op.f("fk_officer_keys_staff_id_staff_accounts")
        ),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_officer_keys")),
        sa.UniqueConstraint("public_key", name=op.f("uq_officer_keys_public_key")),
    )
    op.create_table(
        "disclosure_cosignatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["staff_accounts.id"],
            name=op.f("fk_disclosure_cosignatures_officer_id_staff_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["disclosure_requests.id"],
            name=op.f("fk_disclosure_cosignatures_request_id_disclosure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_cosignatures")),
        sa.UniqueConstraint("request_id", "officer_id", name=op.f("uq_disclosure_cosignatures_request_id")),
    )
    with op.batch_alter_table("disclosure_cosignatures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disclosure_cosignatures_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "disclosure_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("holder_index", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("partials", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('approve', 'reject')", name=op.f("ck_disclosure_decisions_decision_valid")
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["key_holders.id"], name=op.f("fk_disclosure_decisions_holder_id_key_holders")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["disclosure_requests.id"],
            name=op.f("fk_disclosure_decisions_request_id_disclosure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_decisions")),
        sa.UniqueConstraint("request_id", "holder_id", name=op.f("uq_disclosure_decisions_request_id")),
    )
    with op.batch_alter_table("disclosure_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disclosure_decisions_request_id"), ["request_id"], unique=False)

    op.create_table(
        "disclosure_scope",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("envelope_digest", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["disclosure_requests.id"],
            name=op.f("fk_disclosure_scope_request_id_disclosure_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_scope")),
        sa.UniqueConstraint("request_id", "position", name=op.f("uq_disclosure_scope_request_id")),
    )
    with op.batch_alter_table("disclosure_scope", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disclosure_scope_platform_id"), ["platform_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disclosure_scope_pseudonym"), ["pseudonym"], unique=False)
        batch_op.create_index(batch_op.f("ix_disclosure_scope_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("disclosure_scope", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_scope_request_id"))
        batch_op.drop_index(batch_op.f("ix_disclosure_scope_pseudonym"))
        batch_op.drop_index(batch_op.f("ix_disclosure_scope_platform_id"))

    op.drop_table("disclosure_scope")
    with op.batch_alter_table("disclosure_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_decisions_request_id"))

    op.drop_table("disclosure_decisions")
    with op.batch_alter_table("disclosure_cosignatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_cosignatures_request_id"))

    op.drop_table("disclosure_cosignatures")
    op.drop_table("officer_keys")
    with op.batch_alter_table("disclosure_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_requests_status"))

    op.drop_table("disclosure_requests")
    op.drop_table("order_documents")
    op.drop_table("courts")
