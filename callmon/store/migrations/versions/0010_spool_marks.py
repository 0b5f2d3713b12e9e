"""spool_marks: how far each local spool has reached the database (written with the events)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 09:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'spool_marks',
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('event_us', sa.BigInteger(), nullable=True),
        sa.Column('updated_us', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('spool_marks')
