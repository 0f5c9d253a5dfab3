"""Moderation: reports, spam labels, the webhook outbox, API tokens, per-label score columns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 05:12:19.558881
"""
from alembic import op
import sqlalchemy as sa
import service.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('moderator', 'admin', 'site')", name=op.f('ck_api_tokens_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_table('reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('comment_id', sa.Uuid(), nullable=False),
    sa.Column('reporter_id', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['comment_id'], ['comments.id'], name=op.f('fk_reports_comment_id_comments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('comment_id', 'reporter_id', name=op.f('uq_reports_comment_id_reporter_id'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_comment_id'), ['comment_id'], unique=False)

    op.create_table('spam_labels',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('comment_id', sa.Uuid(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('is_spam', sa.Boolean(), nullable=False),
    sa.Column('weight', sa.Double(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['comment_id'], ['comments.id'], name=op.f('fk_spam_labels_comment_id_comments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spam_labels'))
    )
    with op.batch_alter_table('spam_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spam_labels_comment_id'), ['comment_id'], unique=False)

    op.create_table('webhook_events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('comment_id', sa.Uuid(), nullable=False),
    sa.Column('payload', service.db.JSONType, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name=op.f('ck_webhook_events_state')),
    sa.ForeignKeyConstraint(['comment_id'], ['comments.id'], name=op.f('fk_webhook_events_comment_id_comments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events'))
    )
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_events_comment_id'), ['comment_id'], unique=False)
        batch_op.create_index('ix_webhook_events_state_created', ['state', 'created_at'], unique=False)

    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('score_toxicity', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('score_severe_toxicity', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('score_obscene', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('score_threat', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('score_insult', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('score_identity_attack', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('score_sexual_explicit', sa.Double(), nullable=True))
        batch_op.create_index('ix_comments_reported', ['status', 'created_at'], unique=False, postgresql_where=sa.text('report_count > 0'), sqlite_where=sa.text('report_count > 0'))



def downgrade() -> None:
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.drop_index('ix_comments_reported', postgresql_where=sa.text('report_count > 0'), sqlite_where=sa.text('report_count > 0'))
        batch_op.drop_column('score_sexual_explicit')
        batch_op.drop_column('score_identity_attack')
        batch_op.drop_column('score_insult')
        batch_op.drop_column('score_threat')
        batch_op.drop_column('score_obscene')
        batch_op.drop_column('score_severe_toxicity')
        batch_op.drop_column('score_toxicity')

    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_events_state_created')
        batch_op.drop_index(batch_op.f('ix_webhook_events_comment_id'))

    op.drop_table('webhook_events')
    with op.batch_alter_table('spam_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spam_labels_comment_id'))

    op.drop_table('spam_labels')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_comment_id'))

    op.drop_table('reports')
    op.drop_table('api_tokens')
