"""Word rules of kind ``allow``: a site switches off an entry of the default lexicon.

The default Vietnamese lexicon ships in the package (service/policy/lexicon/vi.json),
not in the database, so nothing is seeded here: only the kind's CHECK widens.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-12 10:00:00
"""
from alembic import op

revision = '0010'
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('word_rules') as batch:
        batch.drop_constraint(op.f('ck_word_rules_kind'), type_='check')
        batch.create_check_constraint('kind', "kind IN ('banned', 'suspect', 'allow')")


def downgrade() -> None:
    op.execute("DELETE FROM word_rules WHERE kind = 'allow'")
    with op.batch_alter_table('word_rules') as batch:
        batch.drop_constraint(op.f('ck_word_rules_kind'), type_='check')
        batch.create_check_constraint('kind', "kind IN ('banned', 'suspect')")
