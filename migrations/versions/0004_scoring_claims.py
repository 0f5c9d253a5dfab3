"""Scoring claims: a toxicity task claims the comments it scores, with a lease.

A comment waiting for the model carries ``toxicity_queued_at``; a task claims a batch
of such comments (``claimed_by`` its task id, ``claimed_until`` the lease's end) and
counts each claim in ``toxicity_attempts``, the one place attempts are counted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:10:00
"""
from alembic import op
import sqlalchemy as sa
import service.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('comments') as batch:
        batch.add_column(sa.Column('toxicity_queued_at', service.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('toxicity_attempts', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('claimed_until', service.db.UTCDateTime(timezone=True), nullable=True))
    op.create_index(
        'ix_comments_awaiting_toxicity',
        'comments',
        ['toxicity_queued_at', 'id'],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND toxicity_queued_at IS NOT NULL"),
        sqlite_where=sa.text("status = 'pending' AND toxicity_queued_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index('ix_comments_awaiting_toxicity', table_name='comments')
    with op.batch_alter_table('comments') as batch:
        batch.drop_column('claimed_until')
        batch.drop_column('claimed_by')
        batch.drop_column('toxicity_attempts')
        batch.drop_column('toxicity_queued_at')
