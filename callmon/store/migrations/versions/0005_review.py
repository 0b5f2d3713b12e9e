"""review: accounts, sessions, flag kinds, audit log (insert-only), disputes, calibration, reviewed scores

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 02:00:00
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _kind(reason: str) -> str:
    # the same mapping as callmon.store.review.flag_kind, frozen here as migrations must be
    if reason.startswith('needs a human'):
        return 'needs_human'
    if reason.startswith('veto'):
        return 'veto'
    if reason.startswith('score'):
        return 'below_pass'
    if reason.startswith('ring'):
        return 'rings'
    if reason.startswith('prohibited'):
        return 'prohibited'
    return 'other'


def upgrade() -> None:
    op.create_table('users',
        sa.Column('id', ID, primary_key=True),
        sa.Column('username', sa.String(64), nullable=False, unique=True),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('operator', sa.String(128)),
        sa.Column('password_hash', sa.String(255), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('created_us', sa.BigInteger(), nullable=False),
        sa.Column('password_changed_us', sa.BigInteger(), nullable=False))
    op.create_table('web_sessions',
        sa.Column('id', ID, primary_key=True),
        sa.Column('token_sha256', sa.String(64), nullable=False, unique=True),
        sa.Column('user_id', ID, sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False, index=True),
        sa.Column('csrf', sa.String(64), nullable=False),
        sa.Column('created_us', sa.BigInteger(), nullable=False),
        sa.Column('last_seen_us', sa.BigInteger(), nullable=False))
    op.create_table('login_failures',
        sa.Column('id', ID, primary_key=True),
        sa.Column('username', sa.String(64), nullable=False),
        sa.Column('address', sa.String(64), nullable=False),
        sa.Column('at_us', sa.BigInteger(), nullable=False))
    op.create_index('ix_login_failures_user_at', 'login_failures', ['username', 'at_us'])
    op.create_index('ix_login_failures_addr_at', 'login_failures', ['address', 'at_us'])
    op.create_table('score_flags',
        sa.Column('id', ID, primary_key=True),
        sa.Column('call_id', ID, sa.ForeignKey('calls.id', ondelete='CASCADE'), nullable=False, index=True),
        sa.Column('kind', sa.String(32), nullable=False))
    op.create_index('ix_score_flags_kind_call', 'score_flags', ['kind', 'call_id'])
    op.create_table('audit_log',
        sa.Column('id', ID, primary_key=True),
        sa.Column('at_us', sa.BigInteger(), nullable=False),
        sa.Column('username', sa.String(64), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('action', sa.String(32), nullable=False),
        sa.Column('call_id', sa.BigInteger()),
        sa.Column('item_id', sa.String(64)),
        sa.Column('before', sa.JSON()),
        sa.Column('after', sa.JSON()),
        sa.Column('reason', sa.Text(), nullable=False))
    op.create_index('ix_audit_log_call', 'audit_log', ['call_id', 'at_us'])
    op.create_table('disputes',
        sa.Column('id', ID, primary_key=True),
        sa.Column('call_id', ID, sa.ForeignKey('calls.id', ondelete='CASCADE'), nullable=False),
        sa.Column('item_id', sa.String(64), nullable=False),
        sa.Column('username', sa.String(64), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_us', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('resolved_by', sa.String(64)),
        sa.Column('resolution', sa.Text()),
        sa.Column('resolved_us', sa.BigInteger()))
    op.create_index('ix_disputes_call', 'disputes', ['call_id'])
    op.create_index('ix_disputes_state', 'disputes', ['state', 'created_us'])
    op.create_table('calibration_samples',
        sa.Column('id', ID, primary_key=True),
        sa.Column('month', sa.String(7), nullable=False),
        sa.Column('per_10000', sa.Integer(), nullable=False),
        sa.Column('seed', sa.BigInteger(), nullable=False),
        sa.Column('created_by', sa.String(64), nullable=False),
        sa.Column('created_us', sa.BigInteger(), nullable=False),
        sa.Column('call_ids', sa.JSON(), nullable=False))
    op.create_table('calibration_verdicts',
        sa.Column('id', ID, primary_key=True),
        sa.Column('sample_id', ID, sa.ForeignKey('calibration_samples.id', ondelete='CASCADE'), nullable=False,
                  index=True),
        sa.Column('call_id', sa.BigInteger(), nullable=False),
        sa.Column('username', sa.String(64), nullable=False),
        sa.Column('items', sa.JSON(), nullable=False),
        sa.Column('created_us', sa.BigInteger(), nullable=False),
        sa.UniqueConstraint('sample_id', 'call_id', 'username', name='uq_calibration_verdict'))
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_state', sa.String(16), nullable=False, server_default='unreviewed'))
        batch_op.add_column(sa.Column('reviewed_score', sa.Integer()))
        batch_op.add_column(sa.Column('reviewed_passed', sa.Boolean()))
        batch_op.add_column(sa.Column('reviewed_items', sa.JSON()))
        batch_op.add_column(sa.Column('reviewed_by', sa.String(64)))
        batch_op.add_column(sa.Column('reviewed_us', sa.BigInteger()))
        batch_op.create_index('ix_scores_flagged_call', ['flagged', 'call_id'])
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_operator_first_event', ['operator', 'first_event_us'])
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT call_id, flag_reasons FROM scores WHERE flagged")).fetchall()
    flags = [{'call_id': cid, 'kind': kind} for cid, reasons in rows
             for kind in sorted({_kind(r) for r in (json.loads(reasons) if isinstance(reasons, str) else reasons)})]
    if flags:
        op.bulk_insert(sa.table('score_flags', sa.column('call_id'), sa.column('kind')), flags)
    if bind.dialect.name == 'sqlite':
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                       "BEGIN SELECT RAISE(ABORT, 'audit records cannot be changed or deleted'); END")
    else:
        op.execute("CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "RAISE EXCEPTION 'audit records cannot be changed or deleted'; END $$")
        op.execute("CREATE TRIGGER audit_log_refuse BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_refuse ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse()")
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_operator_first_event')
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_index('ix_scores_flagged_call')
        for name in ('reviewed_us', 'reviewed_by', 'reviewed_items', 'reviewed_passed', 'reviewed_score',
                     'review_state'):
            batch_op.drop_column(name)
    for table in ('calibration_verdicts', 'calibration_samples', 'disputes', 'audit_log', 'score_flags',
                  'login_failures', 'web_sessions', 'users'):
        op.drop_table(table)
