"""Key-holders, ceremonies, their participants and relayed messages.

Revision ID: 0004_ceremony
Revises: 0003_staff
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_ceremony'
down_revision: str | None = '0003_staff'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('key_holders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organisation', sa.String(length=200), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('invite_digest', sa.LargeBinary(length=32), nullable=True),
    sa.Column('invited_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('invite_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signing_key', sa.LargeBinary(length=32), nullable=True),
    sa.Column('exchange_key', sa.LargeBinary(length=32), nullable=True),
    sa.Column('last_request_ms', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("status IN ('invited', 'enrolled')", name=op.f('ck_key_holders_status_valid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_holders')),
    sa.UniqueConstraint('invite_digest', name=op.f('uq_key_holders_invite_digest')),
    sa.UniqueConstraint('signing_key', name=op.f('uq_key_holders_signing_key'))
    )
    op.create_table('ceremonies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('context', sa.String(length=64), nullable=False),
    sa.Column('old_key_id', sa.String(length=64), nullable=True),
    sa.Column('key_id', sa.String(length=64), nullable=True),
    sa.Column('result_key', sa.Text(), nullable=True),
    sa.Column('drill_envelope', sa.Text(), nullable=True),
    sa.Column('drill_digest', sa.LargeBinary(length=32), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('blamed_holder_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('create', 'reshare')", name=op.f('ck_ceremonies_kind_valid')),
    sa.CheckConstraint("status IN ('round1', 'round2', 'confirm', 'active', 'aborted', 'cancelled')", name=op.f('ck_ceremonies_status_valid')),
    sa.CheckConstraint('threshold >= 1', name=op.f('ck_ceremonies_threshold_positive')),
    sa.ForeignKeyConstraint(['blamed_holder_id'], ['key_holders.id'], name=op.f('fk_ceremonies_blamed_holder_id_key_holders')),
    sa.ForeignKeyConstraint(['old_key_id'], ['escrow_keys.key_id'], name=op.f('fk_ceremonies_old_key_id_escrow_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ceremonies')),
    sa.UniqueConstraint('context', name=op.f('uq_ceremonies_context'))
    )
    op.create_table('ceremony_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ceremony_id', sa.Integer(), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('round1', 'round2', 'confirm', 'drill')", name=op.f('ck_ceremony_messages_kind_valid')),
    sa.ForeignKeyConstraint(['ceremony_id'], ['ceremonies.id'], name=op.f('fk_ceremony_messages_ceremony_id_ceremonies')),
    sa.ForeignKeyConstraint(['holder_id'], ['key_holders.id'], name=op.f('fk_ceremony_messages_holder_id_key_holders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ceremony_messages')),
    sa.UniqueConstraint('ceremony_id', 'holder_id', 'kind', name=op.f('uq_ceremony_messages_ceremony_id'))
    )
    with op.batch_alter_table('ceremony_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ceremony_messages_ceremony_id'), ['ceremony_id'], unique=False)

    op.create_table('ceremony_participants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ceremony_id', sa.Integer(), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('dealer_index', sa.Integer(), nullable=True),
    sa.Column('recipient_index', sa.Integer(), nullable=True),
    sa.CheckConstraint('dealer_index IS NOT NULL OR recipient_index IS NOT NULL', name=op.f('ck_ceremony_participants_has_role')),
    sa.ForeignKeyConstraint(['ceremony_id'], ['ceremonies.id'], name=op.f('fk_ceremony_participants_ceremony_id_ceremonies')),
    sa.ForeignKeyConstraint(['holder_id'], ['key_holders.id'], name=op.f('fk_ceremony_participants_holder_id_key_holders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ceremony_participants')),
    sa.UniqueConstraint('ceremony_id', 'holder_id', name=op.f('uq_ceremony_participants_ceremony_id'))
    )
    with op.batch_alter_table('ceremony_participants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ceremony_participants_ceremony_id'), ['ceremony_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ceremony_participants_holder_id'), ['holder_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ceremony_participants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ceremony_participants_holder_id'))
        batch_op.drop_index(batch_op.f('ix_ceremony_participants_ceremony_id'))

    op.drop_table('ceremony_participants')
    with op.batch_alter_table('ceremony_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ceremony_messages_ceremony_id'))

    op.drop_table('ceremony_messages')
    op.drop_table('ceremonies')
    op.drop_table('key_holders')
