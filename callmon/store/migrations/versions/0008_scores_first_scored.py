"""scores.first_scored_us: when a call was first scored, so re-judging it does not reopen the dispute window

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 03:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_scored_us', sa.BigInteger(), nullable=True))
    op.execute("UPDATE scores SET first_scored_us = computed_us")


def downgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_column('first_scored_us')
