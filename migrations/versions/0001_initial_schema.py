"""Initial schema: articles, comments and the audit log.

Revision ID: 0001
Revises: 
Create Date: 2026-11-30 04:38:19.365547
"""
from alembic import op
import sqlalchemy as sa
import service.db

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('articles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=True),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('section', sa.String(length=200), nullable=True),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('moderation_mode', sa.String(length=8), server_default='post', nullable=False),
    sa.Column('comments_open', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("moderation_mode IN ('pre', 'post')", name=op.f('ck_articles_moderation_mode')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_articles')),
    sa.UniqueConstraint('external_id', name=op.f('uq_articles_external_id'))
    )
    op.create_table('comments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('root_id', sa.Uuid(), nullable=True),
    sa.Column('author_id', sa.String(length=200), nullable=False),
    sa.Column('author_name', sa.String(length=100), nullable=False),
    sa.Column('client_ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=512), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('scores', service.db.JSONType, nullable=True),
    sa.Column('scored_by', service.db.JSONType, nullable=True),
    sa.Column('spam_score', sa.Double(), nullable=True),
    sa.Column('signals', service.db.JSONType, nullable=True),
    sa.Column('reasons', service.db.JSONType, nullable=True),
    sa.Column('report_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'approved', 'held', 'rejected')", name=op.f('ck_comments_status')),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_comments_article_id_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['comments.id'], name=op.f('fk_comments_parent_id_comments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comments')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_comments_idempotency_key'))
    )
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.create_index('ix_comments_article_status_created', ['article_id', 'status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_comments_author_created', ['author_id', 'created_at'], unique=False)
        batch_op.create_index('ix_comments_root_status_created', ['root_id', 'status', 'created_at'], unique=False)
        batch_op.create_index('ix_comments_status_created', ['status', 'created_at', 'id'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('comment_id', sa.Uuid(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason_code', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('details', service.db.JSONType, nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['comment_id'], ['comments.id'], name=op.f('fk_audit_log_comment_id_comments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_comment_id'), ['comment_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_comment_id'))

    op.drop_table('audit_log')
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.drop_index('ix_comments_status_created')
        batch_op.drop_index('ix_comments_root_status_created')
        batch_op.drop_index('ix_comments_author_created')
        batch_op.drop_index('ix_comments_article_status_created')

    op.drop_table('comments')
    op.drop_table('articles')
