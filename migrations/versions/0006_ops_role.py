"""An ``ops`` token role: reads /statusz and /metrics, nothing else.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 13:00:00
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_constraint(op.f('ck_api_tokens_role'), type_='check')
        batch.create_check_constraint('role', "role IN ('moderator', 'admin', 'site', 'ops')")


def downgrade() -> None:
    op.execute("DELETE FROM api_tokens WHERE role = 'ops'")
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_constraint(op.f('ck_api_tokens_role'), type_='check')
        batch.create_check_constraint('role', "role IN ('moderator', 'admin', 'site')")
