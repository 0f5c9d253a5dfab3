"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.db import Base
from service.migrate import alembic_config, upgrade
from service.models import load_all
from tests.helpers import migrated_pg_database


def test_migrated_database_matches_the_models(db_url: str) -> None:
    load_all()
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


@pytest.fixture(params=["postgresql", "sqlite"])
def db_at_0004(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own, migrated to 0004 (before scoped idempotency keys)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/m.sqlite3"
        upgrade(url, "0004")
        yield url
    else:
        with migrated_pg_database("moderation_mig", "0004") as url:
            yield url


def _insert_comment(
    conn: sa.Connection,
    article_id: int,
    key: str,
    report_count: int,
    created: datetime,
    scope: str | None = None,
) -> None:
    """A comment row in raw SQL (the models are ahead of the schema before 0005)."""
    comment_id = uuid.uuid4()
    scoped = ("idempotency_scope, ", ":scope, ") if scope else ("", "")
    conn.execute(
        sa.text(
            f"INSERT INTO comments (id, article_id, author_id, author_name, body, status, "
            f"report_count, {scoped[0]}idempotency_key, request_hash, created_at, updated_at, "
            f"version) VALUES (:id, :article_id, 'u1', 'Lan', 'hello', 'approved', :reports, "
            f"{scoped[1]}:key, 'hash', :t, :t, 1)"
        ),
        {
            # how sa.Uuid stores it on each backend
            "id": comment_id.hex if conn.dialect.name == "sqlite" else comment_id,
            "article_id": article_id,
            "reports": report_count,
            "key": key,
            "scope": scope,
            "t": created.replace(tzinfo=None),
        },
    )


def test_0005_scopes_stored_keys_by_article_and_keeps_their_counts(db_at_0004: str) -> None:
    engine = sa.create_engine(db_at_0004)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO articles (id, external_id, moderation_mode, comments_open, "
                    "created_at, updated_at) VALUES (1, 'a1', 'post', true, :t, :t), "
                    "(2, 'a2', 'post', true, :t, :t)"
                ),
                {"t": now.replace(tzinfo=None)},
            )
            _insert_comment(conn, 1, "k", report_count=2, created=now)
        upgrade(db_at_0004, "0005")
        with engine.begin() as conn:
            got = conn.execute(
                sa.text("SELECT idempotency_scope, counted_report_count FROM comments")
            ).one()
            # a stored key is its article's; the reports it had were counted under the old rule
            assert tuple(got) == ("article:a1", 2)
            # the same key on another article is another caller's: allowed now
            later = now + timedelta(seconds=1)
            _insert_comment(conn, 2, "k", report_count=0, created=later, scope="article:a2")
        # within one scope a key is still unique
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            _insert_comment(conn, 2, "k", report_count=0, created=later, scope="article:a2")
        # going back, the key stays with its first use, as the global rule had it
        command.downgrade(alembic_config(db_at_0004), "0004")
        with engine.connect() as conn:
            keys = conn.execute(
                sa.text("SELECT article_id, idempotency_key FROM comments ORDER BY article_id")
            ).all()
        assert [tuple(k) for k in keys] == [(1, "k"), (2, None)]
    finally:
        engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def db_at_head(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/m.sqlite3"
        upgrade(url)
        yield url
    else:
        with migrated_pg_database("moderation_mig") as url:
            yield url


def test_0008_analyze_keys_go_with_their_role(db_at_head: str) -> None:
    engine = sa.create_engine(db_at_head)
    insert = sa.text(
        "INSERT INTO api_tokens (name, role, token_hash, created_at) "
        "VALUES (:name, :role, :hash, :t)"
    )
    now = datetime(2026, 12, 10)
    try:
        with engine.begin() as conn:
            conn.execute(insert, {"name": "coral", "role": "analyze", "hash": "a" * 64, "t": now})
            conn.execute(insert, {"name": "alice", "role": "moderator", "hash": "b" * 64, "t": now})
        command.downgrade(alembic_config(db_at_head), "0007")
        with engine.connect() as conn:
            names = conn.execute(sa.text("SELECT name FROM api_tokens")).scalars().all()
        assert names == ["alice"]
        # the role constraint is the old one again
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(insert, {"name": "x", "role": "analyze", "hash": "c" * 64, "t": now})
        upgrade(db_at_head)
        with engine.begin() as conn:
            conn.execute(insert, {"name": "coral", "role": "analyze", "hash": "a" * 64, "t": now})
    finally:
        engine.dispose()
