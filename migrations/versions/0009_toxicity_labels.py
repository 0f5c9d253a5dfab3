"""Toxicity labels: moderators' decisions on Vietnamese comments, for the online learner.

Rows are only added (one per decision, in the decision's transaction) and replayed by
every worker in id order, like ``spam_labels``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-14 10:00:00
"""
from alembic import op
import sqlalchemy as sa

import service.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'toxicity_labels',
        sa.Column(
            'id',
            sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column('comment_id', sa.Uuid(), nullable=True),
        sa.Column('language', sa.String(length=16), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('is_toxic', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=True),
        sa.Column('source', sa.String(length=200), nullable=False),
        sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['comment_id'],
            ['comments.id'],
            name=op.f('fk_toxicity_labels_comment_id_comments'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_toxicity_labels')),
    )
    with op.batch_alter_table('toxicity_labels') as batch:
        batch.create_index(batch.f('ix_toxicity_labels_comment_id'), ['comment_id'], unique=False)
        batch.create_index('ix_toxicity_labels_language_id', ['language', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('toxicity_labels') as batch:
        batch.drop_index('ix_toxicity_labels_language_id')
        batch.drop_index(batch.f('ix_toxicity_labels_comment_id'))
    op.drop_table('toxicity_labels')
