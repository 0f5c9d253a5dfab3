"""Fixtures: a real PostgreSQL database and a SQLite file, a real Redis, each test rolled back.

Every test that takes ``app``/``client``/``session`` runs twice: once on PostgreSQL
(127.0.0.1:5432, a database created for this run) and once on SQLite.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from config import Settings
from service import create_app
from service.db import Session
from service.migrate import upgrade
from service.moderation.auth import create_token
from tests.helpers import AnalyzeWorker, migrated_pg_database
from workers.toxicity.scorer import KeywordScorer

REDIS_TEST_URL = os.environ.get("MODERATION_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head."""
    with migrated_pg_database("moderation_test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/moderation.sqlite3"
    upgrade(url)
    return url


@pytest.fixture(scope="session", params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_TEST_URL


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[redis.Redis]:
    """The test Redis database, emptied before the test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def make_settings(db_url: str, redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db_url,
        "redis_url": redis_url,
        "log_format": "text",
        "log_level": "WARNING",
        # tests change comments and read counts at once; the cache has its own test
        "queue_counts_ttl_s": 0,
    }
    values.update(overrides)
    return Settings.from_env(environ={}, **values)


@pytest.fixture(scope="session")
def app(db_url: str, redis_url: str) -> Iterator[Flask]:
    application = create_app(make_settings(db_url, redis_url))
    application.testing = True
    yield application
    application.extensions["db"].dispose()


@pytest.fixture
def connection(app: Flask) -> Iterator[sa.Connection]:
    """One connection in one transaction for the whole test, rolled back at the end.

    The app's sessions join it with savepoints, so a view's ``commit()`` is real
    to the code under test and still leaves nothing behind.
    """
    db = app.extensions["db"]
    conn = db.engine.connect()
    transaction = conn.begin()
    original = dict(db.sessionmaker.kw)
    db.sessionmaker.configure(bind=conn, join_transaction_mode="create_savepoint")
    try:
        yield conn
    finally:
        db.sessionmaker.kw.clear()
        db.sessionmaker.kw.update(original)
        transaction.rollback()
        conn.close()


@pytest.fixture
def session(app: Flask, connection: sa.Connection) -> Iterator[Session]:
    """A session on the test's connection, for arranging data and checking results."""
    s = app.extensions["db"].sessionmaker()
    yield s
    s.close()


@pytest.fixture
def client(app: Flask, connection: sa.Connection, redis_db: redis.Redis) -> FlaskClient:
    return app.test_client()


#: the tokens of :func:`tokens`, by name: their roles
TOKEN_ROLES = {
    "moderator": "moderator",
    "admin": "admin",
    "site": "site",
    "other_site": "site",  # a second site, whose keys and reports are not the first's
}


@pytest.fixture
def tokens(session: Session) -> dict[str, str]:
    """A fresh token for each name in :data:`TOKEN_ROLES` (send with ``helpers.auth``)."""
    made = {
        name: create_token(session, f"{name}-{uuid.uuid4().hex[:6]}", role)
        for name, role in TOKEN_ROLES.items()
    }
    session.commit()
    return made


@pytest.fixture
def analyze_key(client: FlaskClient, session: Session) -> str:
    """An ``analyze`` token: a Perspective API key, an Akismet key."""
    token = create_token(session, f"analyze-{uuid.uuid4().hex[:6]}", "analyze")
    session.commit()
    return token


@pytest.fixture
def analyze_worker(client: FlaskClient, redis_url: str) -> Iterator[AnalyzeWorker]:
    """A toxicity worker's analyze thread, the keyword scorer standing in for the model."""
    with AnalyzeWorker(redis_url, KeywordScorer()) as worker:
        yield worker
