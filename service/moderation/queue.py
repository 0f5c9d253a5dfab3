"""Reading for moderators: the review queue and one comment in full."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
import sqlalchemy as sa

from service.articles.models import Article
from service.comments.models import LABELS, Comment, Status, label_column
from service.db import Session
from service.errors import Invalid
from service.moderation.models import AuditEntry, Report
from service.policy.services import author_standing
from service.schemas import encode_cursor

SORTS = ("oldest", "newest", *(f"score:{label}" for label in (*LABELS, "spam")))


@dataclass(frozen=True)
class QueueFilters:
    statuses: tuple[str, ...] = (Status.HELD.value,)
    article: str | None = None
    language: str | None = None
    author: str | None = None
    reported: bool | None = None
    #: label -> (min, max), inclusive
    score_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class QueuePage:
    items: list[Comment]
    next_cursor: str | None
    counts: dict[str, int]


def _sort_key(sort: str) -> tuple[list[Any], list[Any]]:
    """(columns, directions) of the keyset; ``id`` last breaks ties."""
    if sort == "oldest":
        return [Comment.created_at, Comment.id], [sa.asc, sa.asc]
    if sort == "newest":
        return [Comment.created_at, Comment.id], [sa.desc, sa.desc]
    label = sort.removeprefix("score:")
    # unscored comments (a language the model does not cover) sort last, not out; -1.0
    # written as a literal, not a bound parameter, so that the expression is the one
    # ix_comments_status_toxicity indexes (a prepared statement's generic plan cannot
    # match an index expression to a parameter)
    score = sa.func.coalesce(label_column(label), sa.literal_column("-1.0"))
    return [score, Comment.id], [sa.desc, sa.asc]


def _after(columns: list[Any], directions: list[Any], values: list[Any]) -> Any:
    """The keyset condition "strictly after ``values``" for mixed sort directions."""
    clauses = []
    for i, (column, direction) in enumerate(zip(columns, directions, strict=True)):
        equal = [c == v for c, v in zip(columns[:i], values[:i], strict=True)]
        beyond = column > values[i] if direction is sa.asc else column < values[i]
        clauses.append(sa.and_(*equal, beyond))
    return sa.or_(*clauses)


def _cursor_values(sort: str, cursor: dict[str, Any]) -> list[Any]:
    try:
        if cursor.get("sort") != sort:
            raise ValueError("sort changed")
        first = cursor["k"]
        key = datetime.fromisoformat(first) if sort in {"oldest", "newest"} else float(first)
        return [key, uuid.UUID(cursor["id"])]
    except (KeyError, TypeError, ValueError) as exc:
        raise Invalid(
            "cursor: not a cursor of this queue and sort order; start again without it.",
            details={"cursor": ["Invalid cursor for this sort order."]},
        ) from exc


def _cursor_for(sort: str, comment: Comment) -> str:
    if sort in {"oldest", "newest"}:
        key: Any = comment.created_at.isoformat()
    else:
        value = getattr(comment, label_column(sort.removeprefix("score:")).key)
        key = -1.0 if value is None else value
    return encode_cursor({"sort": sort, "k": key, "id": str(comment.id)})


def _filtered(filters: QueueFilters, *, with_status: bool) -> list[Any]:
    conditions: list[Any] = []
    if with_status:
        conditions.append(Comment.status.in_(filters.statuses))
    if filters.article is not None:
        conditions.append(
            Comment.article_id
            == sa.select(Article.id).where(Article.external_id == filters.article).scalar_subquery()
        )
    if filters.language is not None:
        conditions.append(Comment.language == filters.language)
    if filters.author is not None:
        conditions.append(Comment.author_id == filters.author)
    if filters.reported is True:
        conditions.append(Comment.report_count > 0)
    elif filters.reported is False:
        conditions.append(Comment.report_count == 0)
    for label, (low, high) in filters.score_ranges.items():
        column = label_column(label)
        conditions.append(column.between(low, high))
    return conditions


def status_counts(session: Session, filters: QueueFilters) -> dict[str, int]:
    """How many comments of each status match the filters other than status."""
    counts = dict(
        session.execute(
            sa.select(Comment.status, sa.func.count())
            .where(*_filtered(filters, with_status=False))
            .group_by(Comment.status)
        ).all()
    )
    return {s.value: int(counts.get(s.value, 0)) for s in Status}


class CountsCache:
    """Status counts kept in Redis, served stale while one process recounts them.

    On 100,000 comments counting takes 40-60 ms, most of a queue request's time, and a
    count a few seconds old is what a moderator needs. Counts are fresh for ``ttl_s``.
    With ``later`` (run work with a session of its own once the response has gone:
    :func:`service.app_context.after_response`), older counts, up to ``KEEP_TTLS`` TTLs
    old, are still answered at once, and the first request to find them stale recounts
    after its response (one at a time: a Redis ``SET NX`` lock), so no moderator waits
    for a recount; without it, or past that age, the request counts for itself.
    """

    PREFIX = "moderation:queue-counts:v2:"
    #: stale counts are answered while younger than this many TTLs
    KEEP_TTLS = 12

    def __init__(
        self,
        client: redis.Redis,
        ttl_s: float = 5.0,
        later: Callable[[Callable[[Session], None]], None] | None = None,
    ) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self.later = later

    def get(self, session: Session, filters: QueueFilters) -> dict[str, int]:
        if self.ttl_s <= 0:
            return status_counts(session, filters)
        key = (
            self.PREFIX
            + hashlib.sha1(repr(dataclasses.replace(filters, statuses=())).encode()).hexdigest()
        )
        try:
            cached = self.redis.get(key)
        except redis.RedisError:
            return status_counts(session, filters)
        if cached is not None:
            entry = json.loads(cached)
            if time.time() - entry["at"] < self.ttl_s:
                return entry["counts"]  # type: ignore[no-any-return]
            if self.later is not None:
                self._recount_later(key, filters)
                return entry["counts"]  # type: ignore[no-any-return]
        counts = status_counts(session, filters)
        self._store(key, counts)
        return counts

    def _recount_later(self, key: str, filters: QueueFilters) -> None:
        assert self.later is not None
        try:
            first = self.redis.set(key + ":recounting", "1", nx=True, px=int(self.ttl_s * 1000))
        except redis.RedisError:
            return
        if first:
            self.later(lambda session: self._store(key, status_counts(session, filters)))

    def _store(self, key: str, counts: dict[str, int]) -> None:
        keep_s = self.ttl_s * (self.KEEP_TTLS if self.later is not None else 1)
        with contextlib.suppress(redis.RedisError):
            self.redis.set(
                key, json.dumps({"counts": counts, "at": time.time()}), px=int(keep_s * 1000)
            )


def review_queue(
    session: Session,
    filters: QueueFilters,
    *,
    sort: str = "oldest",
    limit: int = 20,
    cursor: dict[str, Any] | None = None,
    counts: CountsCache | None = None,
) -> QueuePage:
    """One page of the queue, and how many comments of each status match the other filters."""
    columns, directions = _sort_key(sort)
    query = sa.select(Comment).where(*_filtered(filters, with_status=True))
    if cursor is not None:
        query = query.where(_after(columns, directions, _cursor_values(sort, cursor)))
    query = query.order_by(*(d(c) for c, d in zip(columns, directions, strict=True)))
    rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return QueuePage(
        rows,
        _cursor_for(sort, rows[-1]) if more and rows else None,
        counts.get(session, filters) if counts is not None else status_counts(session, filters),
    )


def comment_in_full(session: Session, comment: Comment, history: int = 5) -> dict[str, Any]:
    """The comment with its author's record, its reports and its audit trail."""
    by_status = dict(
        session.execute(
            sa.select(Comment.status, sa.func.count())
            .where(Comment.author_id == comment.author_id)
            .group_by(Comment.status)
        ).all()
    )
    recent = session.scalars(
        sa.select(Comment)
        .where(Comment.author_id == comment.author_id, Comment.id != comment.id)
        .order_by(Comment.created_at.desc())
        .limit(history)
    ).all()
    reports = session.scalars(
        sa.select(Report).where(Report.comment_id == comment.id).order_by(Report.id)
    ).all()
    audit = session.scalars(
        sa.select(AuditEntry).where(AuditEntry.comment_id == comment.id).order_by(AuditEntry.id)
    ).all()
    return {
        "comment": comment,
        "author": {
            "author_id": comment.author_id,
            "standing": author_standing(session, comment.author_id),
            "counts": {s.value: int(by_status.get(s.value, 0)) for s in Status},
            "recent": list(recent),
        },
        "reports": list(reports),
        "audit": list(audit),
    }


def thread_context(session: Session, comment: Comment, limit: int = 10) -> dict[str, Any]:
    """Where ``comment`` sits in its thread: its parent, siblings (same parent), replies."""
    parent = session.get(Comment, comment.parent_id) if comment.parent_id else None
    siblings: list[Comment] = []
    if comment.parent_id is not None:
        siblings = list(
            session.scalars(
                sa.select(Comment)
                .where(Comment.parent_id == comment.parent_id, Comment.id != comment.id)
                .order_by(Comment.created_at)
                .limit(limit)
            )
        )
    replies = list(
        session.scalars(
            sa.select(Comment)
            .where(Comment.parent_id == comment.id)
            .order_by(Comment.created_at)
            .limit(limit)
        )
    )
    return {"parent": parent, "siblings": siblings, "replies": replies}
