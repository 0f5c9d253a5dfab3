"""Idempotency keys scoped to their caller; reports counted only from reporters with standing.

``comments.idempotency_key`` was unique across every caller, so a key reused by another
caller answered with the first caller's comment id. A key is now unique within its
``idempotency_scope`` (``token:<name>`` or ``article:<external id>``); keys already
stored get the scope of their article.

``reports.counted`` says whether the reporter had standing when they reported, and
``comments.counted_report_count`` counts those reports since the last decision: what
REPORT_THRESHOLD compares. Reports already stored were counted under the old rule.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('comments') as batch:
        batch.add_column(sa.Column('idempotency_scope', sa.String(length=220), nullable=True))
        batch.add_column(
            sa.Column('counted_report_count', sa.Integer(), server_default='0', nullable=False)
        )
    op.execute(
        "UPDATE comments SET idempotency_scope = 'article:' || "
        "(SELECT external_id FROM articles WHERE articles.id = comments.article_id) "
        "WHERE idempotency_key IS NOT NULL"
    )
    op.execute("UPDATE comments SET counted_report_count = report_count")
    with op.batch_alter_table('comments') as batch:
        batch.drop_constraint(op.f('uq_comments_idempotency_key'), type_='unique')
        batch.create_unique_constraint(
            op.f('uq_comments_idempotency_scope_idempotency_key'),
            ['idempotency_scope', 'idempotency_key'],
        )

    with op.batch_alter_table('reports') as batch:
        batch.add_column(
            sa.Column('counted', sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    op.create_index(
        op.f('ix_reports_reporter_id_created_at'), 'reports', ['reporter_id', 'created_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_reports_reporter_id_created_at'), table_name='reports')
    with op.batch_alter_table('reports') as batch:
        batch.drop_column('counted')
    # keys were unique per scope only: keep each key's first use, as the old rule would have
    op.execute(
        "UPDATE comments SET idempotency_key = NULL, request_hash = NULL "
        "WHERE idempotency_key IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM comments AS earlier "
        "WHERE earlier.idempotency_key = comments.idempotency_key "
        "AND (earlier.created_at < comments.created_at "
        "OR (earlier.created_at = comments.created_at AND earlier.id < comments.id)))"
    )
    with op.batch_alter_table('comments') as batch:
        batch.drop_constraint(
            op.f('uq_comments_idempotency_scope_idempotency_key'), type_='unique'
        )
        batch.create_unique_constraint(op.f('uq_comments_idempotency_key'), ['idempotency_key'])
        batch.drop_column('counted_report_count')
        batch.drop_column('idempotency_scope')
