"""Building rows for tests without going through the API."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from service.articles.models import Article
from service.comments.models import Comment, Status
from service.db import Session, utcnow, uuid7

_seq = itertools.count(1)


def make_article(session: Session, external_id: str | None = None, **fields: Any) -> Article:
    article = Article(external_id=external_id or f"article-{next(_seq)}", **fields)
    session.add(article)
    session.flush()
    return article


def make_comment(
    session: Session,
    article: Article,
    *,
    status: str = Status.APPROVED,
    parent: Comment | None = None,
    created_at: datetime | None = None,
    body: str | None = None,
    **fields: Any,
) -> Comment:
    n = next(_seq)
    comment_id = uuid7()
    comment = Comment(
        id=comment_id,
        article_id=article.id,
        parent_id=parent.id if parent else None,
        root_id=(parent.root_id or parent.id) if parent else comment_id,
        author_id=fields.pop("author_id", f"reader-{n}"),
        author_name=fields.pop("author_name", f"Reader {n}"),
        body=body or f"Comment number {n}",
        status=str(status),
        created_at=created_at or utcnow(),
        **fields,
    )
    session.add(comment)
    session.flush()
    return comment


def at(seconds: float) -> datetime:
    """A fixed point in time, ``seconds`` after an arbitrary origin (for ordering)."""
    return datetime(2026, 1, 1, tzinfo=utcnow().tzinfo) + timedelta(seconds=seconds)


def known_reader(
    session: Session, article: Article, reader_id: str, age: timedelta = timedelta(days=2)
) -> Comment:
    """Give ``reader_id`` standing as a reporter: an approved comment of theirs, ``age`` old."""
    return make_comment(
        session, article, author_id=reader_id, status=Status.APPROVED, created_at=utcnow() - age
    )
