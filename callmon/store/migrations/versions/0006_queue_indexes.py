"""indexes for a month of 150,000 calls in the review queue and the scorecards

calls: (first_event_us, id) for the queue's period and its newest-first order;
(operator, first_event_us, outcome, within_limit, id) for an operator's queue, scorecard and
12-month trend from the index alone (replaces (operator, first_event_us) of 0005).
scores: (flagged, call_id, review_state, score, reviewed_score) for the flagged queue, its count
and its state and score filters without reading the rows, whose evidence JSON is kilobytes each
(replaces (flagged, call_id) of 0005 and (flagged) of 0003); (call_id, flagged, score,
reviewed_score, passed, reviewed_passed, review_state) for the scorecard's sums joined from the
calls.  Indexes only: no table or row changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 03:00:00
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_first_event', ['first_event_us', 'id'], unique=False)
        batch_op.create_index('ix_calls_operator_card', ['operator', 'first_event_us', 'outcome', 'within_limit', 'id'],
                              unique=False)
        batch_op.drop_index('ix_calls_operator_first_event')
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.create_index('ix_scores_flagged_verdict',
                              ['flagged', 'call_id', 'review_state', 'score', 'reviewed_score'], unique=False)
        batch_op.create_index('ix_scores_call_verdict', ['call_id', 'flagged', 'score', 'reviewed_score', 'passed',
                                                         'reviewed_passed', 'review_state'], unique=False)
        batch_op.drop_index('ix_scores_flagged_call')
        batch_op.drop_index('ix_scores_flagged')


def downgrade() -> None:
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.create_index('ix_scores_flagged', ['flagged'], unique=False)
        batch_op.create_index('ix_scores_flagged_call', ['flagged', 'call_id'], unique=False)
        batch_op.drop_index('ix_scores_call_verdict')
        batch_op.drop_index('ix_scores_flagged_verdict')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_operator_first_event', ['operator', 'first_event_us'], unique=False)
        batch_op.drop_index('ix_calls_operator_card')
        batch_op.drop_index('ix_calls_first_event')
