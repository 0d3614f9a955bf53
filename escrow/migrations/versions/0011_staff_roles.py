"""Staff roles in their own table (issue 12), instead of a comma-separated ``staff_accounts.roles``.

``staff_accounts`` gains ``is_platform_login`` (true exactly for the accounts bound to a platform);
each ``staff_roles`` row repeats it through a composite foreign key, so the platform rule is a pair
of check constraints instead of ``roles NOT LIKE '%platform%'`` (see escrow.models.StaffAccount).
The data is copied in plain SQL (one INSERT ... SELECT per known role, and back), so offline
``alembic upgrade --sql`` writes it too.

Revision ID: 0011_staff_roles
Revises: 0010_disclosure_extensions
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision: str = "0011_staff_roles"
down_revision: str | None = "0010_disclosure_extensions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As they stood at this revision: later edits of escrow.models must not change what it does.
_ROLES = ("admin", "legal_officer", "platform", "verification_officer")  # sorted, as 0003 joined them
_CSV_BINDING = (
    "(roles = 'platform' AND platform_id IS NOT NULL)"
    " OR (roles NOT LIKE '%platform%' AND platform_id IS NULL)"
)
_FLAG_BINDING = (
    "(is_platform_login AND platform_id IS NOT NULL) OR (NOT is_platform_login AND platform_id IS NULL)"
)
_ROLE_VALID = "role IN ({})".format(", ".join(f"'{role}'" for role in _ROLES))
_PLATFORM_ROLE = (
    "(role = 'platform' AND is_platform_login) OR (role <> 'platform' AND NOT is_platform_login)"
)


def _staff_accounts(*, has_csv: bool, has_flag: bool) -> sa.Table:
    """staff_accounts at each step of this revision: SQLite's batch mode copies the table from it
    instead of reflecting it, so `alembic upgrade --sql` works offline too."""
    columns: list[SchemaItem] = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("organisation", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary(length=128), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("totp_enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("platform_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_accounts"),
        sa.UniqueConstraint("username", name="uq_staff_accounts_username"),
        sa.ForeignKeyConstraint(["platform_id"], ["platforms.id"], name="fk_staff_accounts_platform_id_platforms"),
        sa.Index("ix_staff_accounts_platform_id", "platform_id"),
    ]
    if has_csv:
        columns += [
            sa.Column("roles", sa.String(length=128), nullable=False),
            sa.CheckConstraint(_CSV_BINDING, name="ck_staff_accounts_platform_binding"),
        ]
    if has_flag:
        columns += [
            sa.Column("is_platform_login", sa.Boolean(), server_default=sa.false(), nullable=False),
            sa.UniqueConstraint("id", "is_platform_login", name="uq_staff_accounts_id"),
        ]
    if has_flag and not has_csv:
        columns.append(sa.CheckConstraint(_FLAG_BINDING, name="ck_staff_accounts_platform_binding"))
    return sa.Table("staff_accounts", sa.MetaData(), *columns)


def _lightweight_tables() -> tuple[sa.TableClause, sa.TableClause]:
    accounts = sa.table(
        "staff_accounts",
        sa.column("id", sa.Integer()),
        sa.column("roles", sa.String()),
        sa.column("platform_id", sa.String()),
        sa.column("is_platform_login", sa.Boolean()),
    )
    roles = sa.table(
        "staff_roles",
        sa.column("staff_id", sa.Integer()),
        sa.column("role", sa.String()),
        sa.column("is_platform_login", sa.Boolean()),
    )
    return accounts, roles


def upgrade() -> None:
    accounts, roles = _lightweight_tables()
    copy_from = _staff_accounts(has_csv=True, has_flag=False)
    with op.batch_alter_table("staff_accounts", copy_from=copy_from) as batch_op:
        batch_op.add_column(
            sa.Column("is_platform_login", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_unique_constraint(batch_op.f("uq_staff_accounts_id"), ["id", "is_platform_login"])
    op.execute(
        accounts.update().where(accounts.c.platform_id.is_not(None)).values(is_platform_login=sa.true())
    )
    op.create_table(
        "staff_roles",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("is_platform_login", sa.Boolean(), nullable=False),
        sa.CheckConstraint(_ROLE_VALID, name=op.f("ck_staff_roles_role_valid")),
        sa.CheckConstraint(_PLATFORM_ROLE, name=op.f("ck_staff_roles_platform_role")),
        sa.ForeignKeyConstraint(
            ["staff_id", "is_platform_login"],
            ["staff_accounts.id", "staff_accounts.is_platform_login"],
            name=op.f("fk_staff_roles_staff_id_staff_accounts"),
        ),
        sa.PrimaryKeyConstraint("staff_id", "role", name=op.f("pk_staff_roles")),
    )
    for role in _ROLES:
        # ',a,b,' LIKE '%,a,%' matches whole names only (no role name contains another's).
        listed = (sa.literal(",") + accounts.c.roles + sa.literal(",")).like(f"%,{role},%")
        rows = sa.select(accounts.c.id, sa.literal(role), accounts.c.is_platform_login).where(listed)
        op.execute(roles.insert().from_select(["staff_id", "role", "is_platform_login"], rows))
    copy_from = _staff_accounts(has_csv=True, has_flag=True)
    with op.batch_alter_table("staff_accounts", copy_from=copy_from) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_staff_accounts_platform_binding"), type_="check")
        batch_op.drop_column("roles")
        batch_op.create_check_constraint(batch_op.f("ck_staff_accounts_platform_binding"), _FLAG_BINDING)


def downgrade() -> None:
    accounts, roles = _lightweight_tables()
    copy_from = _staff_accounts(has_csv=False, has_flag=True)
    with op.batch_alter_table("staff_accounts", copy_from=copy_from) as batch_op:
        batch_op.add_column(sa.Column("roles", sa.String(length=128), nullable=True))
    # 'admin,' || 'legal_officer,' || ... for the roles held, in sorted order, then the last comma off.
    held: list[sa.ColumnElement[str]] = [
        sa.case(
            (
                sa.exists().where(roles.c.staff_id == accounts.c.id, roles.c.role == role),
                sa.literal(role + ","),
            ),
            else_=sa.literal(""),
        )
        for role in _ROLES
    ]
    joined = held[0]
    for part in held[1:]:
        joined = joined + part
    op.execute(accounts.update().values(roles=sa.func.rtrim(joined, ",")))
    op.drop_table("staff_roles")
    copy_from = _staff_accounts(has_csv=False, has_flag=True)
    copy_from.append_column(sa.Column("roles", sa.String(length=128), nullable=True))
    with op.batch_alter_table("staff_accounts", copy_from=copy_from) as batch_op:
        batch_op.alter_column("roles", existing_type=sa.String(length=128), nullable=False)
        batch_op.drop_constraint(batch_op.f("ck_staff_accounts_platform_binding"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_staff_accounts_id"), type_="unique")
        batch_op.drop_column("is_platform_login")
        batch_op.create_check_constraint(batch_op.f("ck_staff_accounts_platform_binding"), _CSV_BINDING)
