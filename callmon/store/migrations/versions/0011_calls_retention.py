"""calls.recordings_purged_us / transcripts_purged_us: when retention removed a call's audio or transcript

The call record and its score stay; the page says the evidence was removed by retention, and when.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recordings_purged_us', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('transcripts_purged_us', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('transcripts_purged_us')
        batch_op.drop_column('recordings_purged_us')
