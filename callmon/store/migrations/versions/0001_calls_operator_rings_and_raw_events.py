"""calls, operator rings and raw events

Revision ID: 0001
Revises:
Create Date: 2026-11-23 20:06:01.884452
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pbx', sa.String(length=64), nullable=False),
    sa.Column('linkedid', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('caller', sa.String(length=64), nullable=True),
    sa.Column('queue', sa.String(length=128), nullable=True),
    sa.Column('operator', sa.String(length=128), nullable=True),
    sa.Column('operator_interface', sa.String(length=255), nullable=True),
    sa.Column('offered_us', sa.BigInteger(), nullable=True),
    sa.Column('answered_us', sa.BigInteger(), nullable=True),
    sa.Column('ended_us', sa.BigInteger(), nullable=True),
    sa.Column('first_event_us', sa.BigInteger(), nullable=True),
    sa.Column('ring_ms', sa.BigInteger(), nullable=True),
    sa.Column('wait_ms', sa.BigInteger(), nullable=True),
    sa.Column('rings', sa.BigInteger(), nullable=True),
    sa.Column('within_limit', sa.Boolean(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('abandoned', sa.Boolean(), nullable=False),
    sa.Column('abandoned_after_ms', sa.BigInteger(), nullable=True),
    sa.Column('transferred', sa.Boolean(), nullable=False),
    sa.Column('transfer_target', sa.String(length=255), nullable=True),
    sa.Column('talk_ms', sa.BigInteger(), nullable=True),
    sa.Column('hangup_cause', sa.String(length=128), nullable=True),
    sa.Column('incomplete', sa.Boolean(), nullable=False),
    sa.Column('incomplete_reasons', sa.JSON(), nullable=False),
    sa.Column('timed_by', sa.String(length=10), nullable=False),
    sa.Column('recordings', sa.JSON(), nullable=False),
    sa.Column('ring_policy', sa.JSON(), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('computed_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pbx', 'linkedid', name='uq_calls_pbx_linkedid')
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_offered', ['offered_us'], unique=False)
        batch_op.create_index('ix_calls_operator_offered', ['operator', 'offered_us'], unique=False)

    op.create_table('raw_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pbx', sa.String(length=64), nullable=False),
    sa.Column('linkedid', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('ts_us', sa.BigInteger(), nullable=False),
    sa.Column('timed_by', sa.String(length=10), nullable=False),
    sa.Column('received_us', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('synthetic', sa.Boolean(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('raw_events', schema=None) as batch_op:
        batch_op.create_index('ix_raw_events_call', ['pbx', 'linkedid', 'id'], unique=False)

    op.create_table('operator_rings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('operator', sa.String(length=128), nullable=False),
    sa.Column('interface', sa.String(length=255), nullable=True),
    sa.Column('dest_uniqueid', sa.String(length=64), nullable=False),
    sa.Column('rung_us', sa.BigInteger(), nullable=False),
    sa.Column('ended_us', sa.BigInteger(), nullable=True),
    sa.Column('ring_ms', sa.BigInteger(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('rings', sa.BigInteger(), nullable=True),
    sa.Column('within_limit', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('operator_rings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_rings_call_id'), ['call_id'], unique=False)
        batch_op.create_index('ix_operator_rings_operator', ['operator', 'rung_us'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('operator_rings', schema=None) as batch_op:
        batch_op.drop_index('ix_operator_rings_operator')
        batch_op.drop_index(batch_op.f('ix_operator_rings_call_id'))

    op.drop_table('operator_rings')
    with op.batch_alter_table('raw_events', schema=None) as batch_op:
        batch_op.drop_index('ix_raw_events_call')

    op.drop_table('raw_events')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_operator_offered')
        batch_op.drop_index('ix_calls_offered')

    op.drop_table('calls')
