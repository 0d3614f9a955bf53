"""Version 2 seals and envelopes (issue 14): identity seals under the person's own seal key and bound to
their account, envelopes with one ElGamal point and a proof of knowledge of its randomness, request
bodies with the submitting officer's blinding points.

No column changes. A database holding persons, credentials or disclosure requests of version 1 cannot
be carried over: a version-1 seal is encrypted to the escrow key with randomness nobody kept, so no
version-2 envelope can be made from it without opening it, and version-1 partials are readable by the
server. There are no production instances, so upgrading such a database stops with a message saying so
(docs/operations.md#upgrading-to-version-2-seals) instead of leaving accounts that cannot get credentials.

Revision ID: 0013_seal_v2
Revises: 0012_oprf
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from escrow.errors import ConfigError

revision: str = "0013_seal_v2"
down_revision: str | None = "0012_oprf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSION_1_REFUSAL = (
    "this database holds persons or disclosure requests sealed with version-1 envelopes; from issue 14 "
    "on, identity seals are keyed by each person's own seal key and requests are blinded by the "
    "submitting officer, and version-1 data cannot be converted without opening it. There are no "
    "production instances of version 1: start from an empty database "
    "(docs/operations.md#upgrading-to-version-2-seals)"
)


def upgrade() -> None:
    if context.is_offline_mode():
        return  # `alembic upgrade --sql` writes DDL only; the online upgrade makes the check
    bind = op.get_bind()
    for table in ("persons", "disclosure_requests"):
        if bind.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one():  # noqa: S608 - constant
            raise ConfigError(VERSION_1_REFUSAL)  # `escrow db upgrade` prints it and exits 1


def downgrade() -> None:
    """Nothing to undo: the revision changes no column."""
