"""Finding, registering and updating articles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from service.articles.models import Article
from service.db import Session
from service.errors import Invalid
from service.schemas import SITE_ID_HELP, SITE_ID_PATTERN

_EDITABLE = ("title", "url", "section", "language", "moderation_mode", "comments_open")


def check_external_id(external_id: str) -> str:
    if not SITE_ID_PATTERN.match(external_id):
        raise Invalid(f"article_id: {SITE_ID_HELP}.", details={"article_id": [SITE_ID_HELP]})
    return external_id


def get_article(session: Session, external_id: str) -> Article | None:
    return session.scalars(sa.select(Article).where(Article.external_id == external_id)).first()


def get_or_create_article(
    session: Session, external_id: str, details: Mapping[str, Any] | None = None
) -> Article:
    """The article with the site's id ``external_id``, created from ``details`` if new."""
    return _get_or_create(session, external_id, details)[0]


def _get_or_create(
    session: Session, external_id: str, details: Mapping[str, Any] | None
) -> tuple[Article, bool]:
    # Safe against two requests registering the same article at once: the loser of
    # the race rolls back its savepoint and reads the winner's row.
    article = get_article(session, external_id)
    if article is not None:
        return article, False
    article = Article(
        external_id=external_id, **{k: v for k, v in (details or {}).items() if k in _EDITABLE}
    )
    try:
        with session.begin_nested():
            session.add(article)
    except IntegrityError:
        article = get_article(session, external_id)
        if article is None:  # pragma: no cover - the conflicting row must exist
            raise
        return article, False
    return article, True


def upsert_article(session: Session, external_id: str, changes: Mapping[str, Any]) -> Article:
    """Register the article or change its policy and details (fields left out keep theirs).

    The one way to set an article's policy: the site's route and the moderators' route
    (``service/articles/api.py``) both call it.
    """
    check_external_id(external_id)
    article, created = _get_or_create(session, external_id, changes)
    if not created:
        for key in _EDITABLE:
            if key in changes:
                setattr(article, key, changes[key])
    session.flush()
    return article
