"""calls: index on (caller, first_event_us) to find repeat calls from one number

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_caller_first_event', ['caller', 'first_event_us'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_caller_first_event')
