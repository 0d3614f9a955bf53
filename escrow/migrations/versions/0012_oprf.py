"""The threshold OPRF (issue 13): its public key, the service's hourly evaluation counts, and the
purpose of a ceremony (an escrow key, or the OPRF key the nodes share).

A database made under the first-version HMAC scheme cannot be carried over: its ``persons.person_key``
came from a server-held key that no longer exists, and no stored value gives a person's pseudonyms.
There are no production instances of that scheme, so upgrading such a database stops with a message
saying so (docs/operations.md#upgrading-from-the-hmac-scheme) instead of leaving accounts no one can
sign in to.

Revision ID: 0012_oprf
Revises: 0011_staff_roles
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from escrow.errors import ConfigError

revision: str = "0012_oprf"
down_revision: str | None = "0011_staff_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HMAC_SCHEME_REFUSAL = (
    "this database holds persons registered under the first-version HMAC derivation "
    "(keys/person-key, keys/pseudonym-key); from issue 13 on, person keys and pseudonyms come from the "
    "threshold OPRF and cannot be re-derived from anything this database or keys/ holds. There are no "
    "production instances of that scheme: start from an empty database "
    "(docs/operations.md#upgrading-from-the-hmac-scheme)"
)


def _refuse_hmac_persons() -> None:
    if context.is_offline_mode():
        return  # `alembic upgrade --sql` writes DDL only; the online upgrade makes the check
    persons = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM persons")).scalar_one()
    if persons:
        raise ConfigError(HMAC_SCHEME_REFUSAL)  # `escrow db upgrade` prints it and exits 1


def upgrade() -> None:
    _refuse_hmac_persons()
    op.create_table(
        "oprf_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("key_record", sa.Text(), nullable=False),
        sa.CheckConstraint("threshold >= 1 AND threshold <= node_count", name=op.f("ck_oprf_keys_threshold_range")),
        sa.CheckConstraint("status IN ('active', 'retired')", name=op.f("ck_oprf_keys_status_valid")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_oprf_keys")),
    )
    op.create_table(
        "oprf_usage",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node", sa.Integer(), nullable=False),
        sa.Column("elements", sa.BigInteger(), nullable=False),
        sa.Column("logged", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint("elements >= 0", name=op.f("ck_oprf_usage_elements_non_negative")),
        sa.CheckConstraint("node >= 0 AND node <= 255", name=op.f("ck_oprf_usage_node_range")),
        sa.PrimaryKeyConstraint("hour", "node", name=op.f("pk_oprf_usage")),
    )
    op.add_column("ceremonies", sa.Column("purpose", sa.String(length=16), server_default="escrow", nullable=False))
    if op.get_context().dialect.name != "sqlite":
        # SQLite adds a constraint only by copying the table, which offline mode cannot reflect;
        # escrow.models.Ceremony keeps the same rule for every write through the service.
        op.create_check_constraint("purpose_valid", "ceremonies", "purpose IN ('escrow', 'oprf')")


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        op.drop_constraint("purpose_valid", "ceremonies", type_="check")
    op.drop_column("ceremonies", "purpose")
    op.drop_table("oprf_usage")
    op.drop_table("oprf_keys")
