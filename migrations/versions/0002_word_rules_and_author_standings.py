"""Word rules and author standings, which the pipeline applies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 04:47:45.862990
"""
from alembic import op
import sqlalchemy as sa
import service.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('author_standings',
    sa.Column('author_id', sa.String(length=200), nullable=False),
    sa.Column('standing', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.Column('updated_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("standing IN ('normal', 'banned', 'always_review')", name=op.f('ck_author_standings_standing')),
    sa.PrimaryKeyConstraint('author_id', name=op.f('pk_author_standings'))
    )
    op.create_table('word_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phrase', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('banned', 'suspect')", name=op.f('ck_word_rules_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_word_rules')),
    sa.UniqueConstraint('phrase', name=op.f('uq_word_rules_phrase'))
    )


def downgrade() -> None:
    op.drop_table('word_rules')
    op.drop_table('author_standings')
