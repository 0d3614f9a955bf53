"""Issue 19: RP-initiated and back-channel logout settings per platform, a per-platform ``sid`` on
authorization codes, and the webhook outbox with its delivery log (Standard Webhooks).

Revision ID: 0020_webhooks
Revises: 0019_idempotency (the lead rechains at merge)
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_webhooks"
down_revision: str | None = "0019_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("platforms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("post_logout_redirect_uris", sa.Text(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("backchannel_logout_uri", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("webhook_secret_generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("webhook_previous_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sid", sa.String(length=64), nullable=True))
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("platform_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_webhook_messages_attempts_non_negative")),
        sa.ForeignKeyConstraint(
            ["platform_id"], ["platforms.id"], name=op.f("fk_webhook_messages_platform_id_platforms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_messages")),
    )
    with op.batch_alter_table("webhook_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_messages_next_attempt_at"), ["next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_messages_platform_id"), ["platform_id"], unique=False)
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["webhook_messages.id"], name=op.f("fk_webhook_attempts_message_id_webhook_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_attempts_message_id"), ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_attempts_message_id"))
    op.drop_table("webhook_attempts")
    with op.batch_alter_table("webhook_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_messages_platform_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_messages_next_attempt_at"))
    op.drop_table("webhook_messages")
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.drop_column("sid")
    with op.batch_alter_table("platforms", schema=None) as batch_op:
        batch_op.drop_column("webhook_previous_until")
        batch_op.drop_column("webhook_secret_generation")
        batch_op.drop_column("webhook_url")
        batch_op.drop_column("backchannel_logout_uri")
        batch_op.drop_column("post_logout_redirect_uris")
