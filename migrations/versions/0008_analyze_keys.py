"""``analyze`` keys for the Perspective- and Akismet-compatible endpoints, what they keep.

A token role ``analyze`` (the API key of both protocols), the site an Akismet client
names (``api_tokens.blog``), and ``analyze_requests``: texts analysed without
``doNotStore`` and clients' corrections (``comments:suggestscore``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00
"""
from alembic import op
import sqlalchemy as sa

import service.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_constraint(op.f('ck_api_tokens_role'), type_='check')
        batch.create_check_constraint(
            'role', "role IN ('moderator', 'admin', 'site', 'ops', 'analyze')"
        )
        batch.add_column(sa.Column('blog', sa.String(length=500), nullable=True))
    op.create_table(
        'analyze_requests',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('token_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('text_sha256', sa.String(length=64), nullable=False),
        sa.Column('languages', service.db.JSONType, nullable=False),
        sa.Column('scores', service.db.JSONType, nullable=True),
        sa.Column('model', sa.String(length=200), nullable=True),
        sa.Column('client_token', sa.String(length=500), nullable=True),
        sa.Column('session_id', sa.String(length=500), nullable=True),
        sa.Column('community_id', sa.String(length=500), nullable=True),
        sa.Column('suggested', service.db.JSONType, nullable=True),
        sa.Column('suggested_at', service.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['token_id'], ['api_tokens.id'], name=op.f('fk_analyze_requests_token_id_api_tokens')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_analyze_requests')),
    )
    op.create_index(
        'ix_analyze_requests_token_id_text_sha256',
        'analyze_requests',
        ['token_id', 'text_sha256'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_analyze_requests_token_id_text_sha256', table_name='analyze_requests')
    op.drop_table('analyze_requests')
    op.execute("DELETE FROM api_tokens WHERE role = 'analyze'")
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('blog')
        batch.drop_constraint(op.f('ck_api_tokens_role'), type_='check')
        batch.create_check_constraint('role', "role IN ('moderator', 'admin', 'site', 'ops')")
