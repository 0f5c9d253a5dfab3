"""A corpus of bad requests: each a clear 4xx in the one error shape, and nothing written.

Each case once answered 500 or silently changed what was sent (issue 10); the rules
live in service/guards.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from service.articles.models import Article
from service.comments.models import Comment
from service.db import Session
from service.moderation.auth import create_token
from service.policy.models import AuthorStanding, WordRule
from tests.test_comments_api import assert_error

GOOD = {"author_id": "u1", "author_name": "Lan", "body": "Hello there"}
NESTED = '{"author_id":"u","author_name":"n","body":' + "[" * 10000 + "]" * 10000 + "}"
BAD_CHARACTERS = "Must not contain NUL (U+0000) or unpaired surrogate characters."

# (name, method, path, json body or raw text, needs a token, status, code, field named)
CASES: list[tuple[str, str, str, Any, bool, int, str, str | None]] = [
    ("nested JSON", "POST", "/v1/articles/a1/comments", NESTED, False, 400, "invalid_json", None),
    (
        "NUL in user_agent",
        "POST",
        "/v1/articles/a1/comments",
        {**GOOD, "user_agent": "a\u0000b"},
        False,
        422,
        "validation_failed",
        "user_agent",
    ),
    (
        "NUL in body",
        "POST",
        "/v1/articles/a1/comments",
        {**GOOD, "body": "hi\u0000there"},
        False,
        422,
        "validation_failed",
        "body",
    ),
    (
        "lone surrogate in body",
        "POST",
        "/v1/articles/a1/comments",
        '{"author_id":"u1","author_name":"Lan","body":"x\\ud800y"}',
        False,
        422,
        "validation_failed",
        "body",
    ),
    (
        "lone surrogate in a word rule",
        "POST",
        "/v1/moderation/words",
        '{"phrase":"\\ud800x","kind":"banned"}',
        True,
        422,
        "validation_failed",
        "phrase",
    ),
    (
        "NUL in a query value",
        "GET",
        "/v1/moderation/queue?language=%00",
        None,
        True,
        422,
        "validation_failed",
        "language",
    ),
    (
        "NUL in a path id",
        "PUT",
        "/v1/moderation/authors/a%00b",
        {"standing": "banned"},
        True,
        422,
        "validation_failed",
        "author_id",
    ),
    (
        "article id longer than the column",
        "PUT",
        "/v1/articles/" + "a" * 201,
        {"moderation_mode": "pre"},
        True,
        422,
        "validation_failed",
        "article_id",
    ),
    (
        "author id longer than the column",
        "PUT",
        "/v1/moderation/authors/" + "a" * 201,
        {"standing": "banned"},
        True,
        422,
        "validation_failed",
        "author_id",
    ),
    (
        "markup in an article id",
        "PUT",
        "/v1/articles/a%20b%3Cscript%3E",
        {"moderation_mode": "pre"},
        True,
        422,
        "validation_failed",
        "article_id",
    ),
    (
        "dots as an article id",
        "PUT",
        "/v1/moderation/articles/%2E%2E",
        {"moderation_mode": "pre"},
        True,
        422,
        "validation_failed",
        "article_id",
    ),
    (
        "a version that is not an integer",
        "POST",
        f"/v1/moderation/comments/{uuid.uuid4()}/decision",
        {"action": "approve", "version": 1.5},
        True,
        422,
        "validation_failed",
        "version",
    ),
    (
        "a bulk version that is not an integer",
        "POST",
        "/v1/moderation/decisions",
        {"action": "approve", "items": [{"comment_id": str(uuid.uuid4()), "version": 1.5}]},
        True,
        422,
        "validation_failed",
        None,
    ),
    ("PUT with no body", "PUT", "/v1/articles/a2", None, True, 400, "body_required", None),
    (
        "POST with no body",
        "POST",
        "/v1/articles/a1/comments",
        None,
        False,
        400,
        "body_required",
        None,
    ),
    (
        "word rule id beyond the integer range",
        "DELETE",
        "/v1/moderation/words/202665185041",
        None,
        True,
        404,
        "not_found",
        None,
    ),
]


def _counts(session: Session) -> dict[str, int]:
    session.expire_all()
    return {
        model.__name__: session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Comment, Article, AuthorStanding, WordRule)
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "needs_token", "status", "code", "field"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_request_is_a_clear_4xx_and_writes_nothing(
    client: FlaskClient,
    session: Session,
    method: str,
    path: str,
    body: Any,
    needs_token: bool,
    status: int,
    code: str,
    field: str | None,
) -> None:
    headers = {}
    if needs_token:
        token = create_token(session, f"admin-{uuid.uuid4().hex[:6]}", "admin")
        session.commit()
        headers["Authorization"] = f"Bearer {token}"
    before = _counts(session)
    kwargs: dict[str, Any] = {"headers": headers}
    if isinstance(body, str):
        kwargs |= {"data": body, "content_type": "application/json"}
    elif body is not None:
        kwargs["json"] = body
    error = assert_error(client.open(path, method=method, **kwargs), status, code)
    if field is not None:
        assert error["details"][field], error
        assert field in error["message"]
    assert _counts(session) == before
