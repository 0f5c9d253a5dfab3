"""Submitting, reading and listing comments."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from service.articles.services import check_external_id, get_article, get_or_create_article
from service.comments.models import Comment, Status
from service.db import Session, utcnow, uuid7
from service.dispatch import Dispatcher
from service.errors import Conflict, Invalid
from service.schemas import encode_cursor


@dataclass(frozen=True)
class Submission:
    comment: Comment
    #: False when an Idempotency-Key matched an earlier submission
    created: bool


def _request_hash(article_id: str, data: dict[str, Any]) -> str:
    canonical = json.dumps({"article_id": article_id, **data}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def article_scope(article_external_id: str) -> str:
    """The idempotency scope of a caller known only by the article it posts to."""
    return f"article:{article_external_id}"


def token_scope(token_name: str) -> str:
    """The idempotency scope of a caller with an API token (the site's backend)."""
    return f"token:{token_name}"


def _by_idempotency_key(session: Session, scope: str, key: str) -> Comment | None:
    return session.scalars(
        sa.select(Comment).where(Comment.idempotency_scope == scope, Comment.idempotency_key == key)
    ).first()


def _replayed(existing: Comment, request_hash: str) -> Submission:
    if existing.request_hash != request_hash:
        # Nothing about the earlier comment is told: only its caller knows it.
        raise Invalid(
            "This Idempotency-Key was already used for a different comment; "
            "use a new key for a new comment.",
            code="idempotency_key_reused",
        )
    return Submission(existing, created=False)


def submit_comment(
    session: Session,
    dispatcher: Dispatcher,
    article_external_id: str,
    data: dict[str, Any],
    idempotency_key: str | None = None,
    idempotency_scope: str | None = None,
) -> Submission:
    """Store a new comment ``pending`` and send it to the pipeline after commit.

    ``idempotency_key`` is looked up within ``idempotency_scope`` (default: the
    article's scope), so the same key from another caller is another comment. The
    caller commits. Nothing is written when a check fails.
    """
    check_external_id(article_external_id)
    request_hash = _request_hash(article_external_id, data)
    scope = idempotency_scope or article_scope(article_external_id)
    if idempotency_key:
        existing = _by_idempotency_key(session, scope, idempotency_key)
        if existing is not None:
            return _replayed(existing, request_hash)

    article = get_or_create_article(session, article_external_id, data.get("article"))
    if not article.comments_open:
        raise Conflict(
            f"Comments on article {article_external_id!r} are closed.", code="article_closed"
        )

    comment_id = uuid7()
    root_id = comment_id
    parent_id = data.get("parent_id")
    if parent_id is not None:
        parent = session.get(Comment, parent_id)
        if parent is None or parent.article_id != article.id:
            raise Invalid(
                "parent_id: no such comment on this article; a reply must be on the "
                "same article as the comment it answers.",
                details={"parent_id": ["No such comment on this article."]},
            )
        if parent.status == Status.REJECTED:
            raise Invalid(
                "parent_id: that comment was removed and cannot be replied to.",
                code="parent_removed",
                details={"parent_id": ["That comment was removed."]},
            )
        root_id = parent.root_id or parent.id

    comment = Comment(
        id=comment_id,
        article=article,
        article_id=article.id,
        parent_id=parent_id,
        root_id=root_id,
        author_id=data["author_id"],
        author_name=data["author_name"],
        body=data["body"],
        client_ip=str(data["client_ip"]) if data.get("client_ip") else None,
        user_agent=data.get("user_agent"),
        status=Status.PENDING.value,
        idempotency_scope=scope if idempotency_key else None,
        idempotency_key=idempotency_key,
        request_hash=request_hash if idempotency_key else None,
    )
    if idempotency_key is None:
        session.add(comment)  # written with the commit: no savepoint round trips
    else:
        try:
            with session.begin_nested():
                session.add(comment)
        except IntegrityError:
            # Two retries of one request raced; the other one stored the comment.
            existing = _by_idempotency_key(session, scope, idempotency_key)
            if existing is None:
                raise
            return _replayed(existing, request_hash)
    dispatcher.after_commit(session, [comment.id])
    return Submission(comment, created=True)


def get_comment(session: Session, comment_id: uuid.UUID) -> Comment | None:
    return session.get(Comment, comment_id)


# ----------------------------------------------------------------------
# The public list of an article's approved comments


@dataclass(frozen=True)
class ThreadPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _position(comment: Comment) -> dict[str, str]:
    return {"t": comment.created_at.isoformat(), "id": str(comment.id)}


def _parse_position(cursor: dict[str, Any]) -> tuple[datetime, uuid.UUID]:
    try:
        return datetime.fromisoformat(cursor["t"]), uuid.UUID(cursor["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise Invalid(
            "cursor: not a cursor this API returned.", details={"cursor": ["Invalid cursor."]}
        ) from exc


def _public(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "parent_id": comment.parent_id,
        "author_id": comment.author_id,
        "author_name": comment.author_name,
        "body": comment.body,
        "created_at": comment.created_at,
    }


def list_approved_threads(
    session: Session,
    article_external_id: str,
    limit: int,
    cursor: dict[str, Any] | None,
    replies_per_thread: int,
) -> ThreadPage:
    """Approved top-level comments oldest first, each with its approved replies."""
    check_external_id(article_external_id)
    article = get_article(session, article_external_id)
    if article is None:
        return ThreadPage([], None)

    approved = Status.APPROVED.value
    query = (
        sa.select(Comment)
        .where(
            Comment.article_id == article.id,
            Comment.status == approved,
            Comment.parent_id.is_(None),
        )
        .order_by(Comment.created_at, Comment.id)
        .limit(limit + 1)
    )
    if cursor is not None:
        after_t, after_id = _parse_position(cursor)
        query = query.where(sa.tuple_(Comment.created_at, Comment.id) > (after_t, after_id))
    roots = list(session.scalars(query))
    has_more = len(roots) > limit
    roots = roots[:limit]
    if not roots:
        return ThreadPage([], None)

    root_ids = [r.id for r in roots]
    reply_filter = (
        Comment.root_id.in_(root_ids),
        Comment.status == approved,
        Comment.parent_id.is_not(None),
    )
    rank = (
        sa.func.row_number()
        .over(partition_by=Comment.root_id, order_by=(Comment.created_at, Comment.id))
        .label("rank")
    )
    ranked = sa.select(Comment.id, rank).where(*reply_filter).subquery()
    replies = session.scalars(
        sa.select(Comment)
        .join(ranked, ranked.c.id == Comment.id)
        .where(ranked.c.rank <= replies_per_thread)
        .order_by(Comment.created_at, Comment.id)
    )
    counts = dict(
        session.execute(
            sa.select(Comment.root_id, sa.func.count())
            .where(*reply_filter)
            .group_by(Comment.root_id)
        ).all()
    )
    by_root: dict[uuid.UUID, list[dict[str, Any]]] = {rid: [] for rid in root_ids}
    for reply in replies:
        by_root[reply.root_id].append(_public(reply))

    items = [
        {**_public(r), "replies": by_root[r.id], "reply_count": counts.get(r.id, 0)} for r in roots
    ]
    return ThreadPage(items, encode_cursor(_position(roots[-1])) if has_more else None)


# ----------------------------------------------------------------------
# The sweeper's view


def stale_pending_ids(session: Session, grace: timedelta, limit: int) -> list[str]:
    """Ids of comments still ``pending`` after ``grace`` and not yet handed to the model,
    oldest first.

    A comment waiting for the model needs no second run of the cheap stages: its claim's
    lease and :func:`service.comments.claims.oldest_unclaimed` see it through.
    """
    cutoff = utcnow() - grace
    rows = session.scalars(
        sa.select(Comment.id)
        .where(
            Comment.status == Status.PENDING.value,
            Comment.created_at < cutoff,
            Comment.toxicity_queued_at.is_(None),
        )
        .order_by(Comment.created_at)
        .limit(limit)
    )
    return [str(r) for r in rows]
