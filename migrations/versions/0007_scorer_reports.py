"""Scorer reports: each toxicity worker process's last reported scorer state.

Kept in the database rather than only in Redis, so ``/statusz`` still shows the last
known state (with its age) after Redis restarts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import service.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scorer_reports',
    sa.Column('process', sa.String(length=300), nullable=False),
    sa.Column('report', service.db.JSONType, nullable=False),
    sa.Column('reported_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('process', name=op.f('pk_scorer_reports'))
    )


def downgrade() -> None:
    op.drop_table('scorer_reports')
