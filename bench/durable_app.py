"""The honest limit for ingest: the least work that stores a comment durably and queues it.

A plain WSGI callable (no Flask, no ORM, no Celery) under the same gunicorn settings as
the API. Per request it parses the JSON body, INSERTs one comment row with every column
the API's INSERT writes (into the same ``comments`` table of the bench database) and
COMMITs with psycopg, then LPUSHes the comment's id onto a Redis list (after the
commit, as the API does), and answers ``202`` with a small JSON. One database and one
Redis connection per gunicorn worker, opened on its first request.

What it leaves out is what the API adds on top of that floor: validation and
normalisation, the article lookup (it registers each article once per worker and keeps
its id), idempotency keys, the Celery message format, its sent event and the dispatch
mark, request ids and the access log. Run it as
``gunicorn -c config/gunicorn.py 'bench.durable_app:create_app()'`` with
``MODERATION_DATABASE_URL`` and ``MODERATION_REDIS_URL`` set.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis

from service.db import uuid7

#: where the ids go: a list of the bench's own, no worker reads it
QUEUE = "bench:durable"
_PATH = re.compile(r"^/v1/articles/([A-Za-z0-9._:~@+-]{1,200})/comments$")

_INSERT_COMMENT = """
INSERT INTO comments (
    id, article_id, parent_id, root_id, author_id, author_name, client_ip, user_agent, body,
    status, language, spam_score, score_toxicity, score_severe_toxicity, score_obscene,
    score_threat, score_insult, score_identity_attack, score_sexual_explicit,
    toxicity_queued_at, toxicity_attempts, claimed_by, claimed_until, report_count,
    counted_report_count, idempotency_scope, idempotency_key, request_hash, created_at,
    updated_at, decided_at, decided_by, version
) VALUES (
    %s, %s, NULL, %s, %s, %s, %s, %s, %s,
    'pending', NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL,
    NULL, 0, NULL, NULL, 0,
    0, NULL, NULL, NULL, %s,
    %s, NULL, NULL, 1
)
"""
_REGISTER_ARTICLE = """
INSERT INTO articles (external_id, created_at, updated_at) VALUES (%s, %s, %s)
ON CONFLICT (external_id) DO UPDATE SET external_id = EXCLUDED.external_id
RETURNING id
"""

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _libpq_url(url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` URL as libpq reads it."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


class DurableApp:
    """The WSGI callable; its connections are per process (one gunicorn worker each)."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.database_url = _libpq_url(database_url)
        self.redis_url = redis_url
        self._conn: psycopg.Connection[Any] | None = None
        self._redis: redis.Redis | None = None
        self._articles: dict[str, int] = {}

    def _connections(self) -> tuple[psycopg.Connection[Any], redis.Redis]:
        # opened lazily: gunicorn may import the app before it forks its workers
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url)
            self._articles.clear()
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.redis_url)
        return self._conn, self._redis

    def _article_id(self, conn: psycopg.Connection[Any], external_id: str) -> int:
        article_id = self._articles.get(external_id)
        if article_id is None:
            now = datetime.now(UTC)
            with conn.transaction():
                row = conn.execute(_REGISTER_ARTICLE, (external_id, now, now)).fetchone()
            assert row is not None
            article_id = self._articles[external_id] = row[0]
        return article_id

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = _PATH.match(environ.get("PATH_INFO", ""))
        if environ["REQUEST_METHOD"] != "POST" or match is None:
            return _reply(start_response, "404 Not Found", {"error": "not found"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            data = json.loads(environ["wsgi.input"].read(length))
            author_id, author_name, body = data["author_id"], data["author_name"], data["body"]
        except (ValueError, KeyError, TypeError):
            return _reply(start_response, "400 Bad Request", {"error": "bad body"})
        conn, queue = self._connections()
        article_id = self._article_id(conn, match.group(1))
        comment_id = uuid7()
        now = datetime.now(UTC)
        with conn.transaction():  # COMMIT at the end of the block
            conn.execute(
                _INSERT_COMMENT,
                (
                    comment_id,
                    article_id,
                    comment_id,
                    author_id,
                    author_name,
                    data.get("client_ip"),
                    data.get("user_agent"),
                    body,
                    now,
                    now,
                ),
            )
        queue.lpush(QUEUE, str(comment_id))  # after the commit, as the API sends
        return _reply(start_response, "202 Accepted", {"id": str(comment_id), "status": "pending"})


def _reply(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def create_app() -> DurableApp:
    return DurableApp(os.environ["MODERATION_DATABASE_URL"], os.environ["MODERATION_REDIS_URL"])
