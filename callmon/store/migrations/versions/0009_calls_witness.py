"""calls.witness / witness_rings: the other source's record of the same call (AMI <-> serial line)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 06:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('witness', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('witness_rings', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('witness_rings')
        batch_op.drop_column('witness')
