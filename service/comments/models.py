"""The comment table and its status vocabulary."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.articles.models import Article
from service.db import Base, utcnow, uuid7

#: Detoxify's label names across its models; each has a column for the moderation queue
#: (filter and sort by score without reading JSON). ``scores`` keeps the full record.
LABELS = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
)


class Status(enum.StrEnum):
    PENDING = "pending"  # stored, waiting for the pipeline
    APPROVED = "approved"  # visible on the site
    HELD = "held"  # waiting for a moderator
    REJECTED = "rejected"  # not shown


class Comment(Base):
    """A reader's comment and everything the pipeline and moderators decided about it."""

    __tablename__ = "comments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("articles.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("comments.id"))
    #: the top-level comment of the thread (its own id for a top-level comment)
    root_id: Mapped[uuid.UUID | None] = mapped_column()
    author_id: Mapped[str] = mapped_column(sa.String(200))
    author_name: Mapped[str] = mapped_column(sa.String(100))
    client_ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(512))
    body: Mapped[str] = mapped_column(sa.Text)

    status: Mapped[str] = mapped_column(sa.String(16), default=Status.PENDING.value)
    language: Mapped[str | None] = mapped_column(sa.String(16))
    #: per-label toxicity scores, e.g. {"toxicity": 0.02, "insult": 0.01}
    scores: Mapped[dict[str, Any] | None] = mapped_column()
    #: the model that produced ``scores``: {"name": ..., "version": ...}
    scored_by: Mapped[dict[str, Any] | None] = mapped_column()
    spam_score: Mapped[float | None] = mapped_column()
    score_toxicity: Mapped[float | None] = mapped_column()
    score_severe_toxicity: Mapped[float | None] = mapped_column()
    score_obscene: Mapped[float | None] = mapped_column()
    score_threat: Mapped[float | None] = mapped_column()
    score_insult: Mapped[float | None] = mapped_column()
    score_identity_attack: Mapped[float | None] = mapped_column()
    score_sexual_explicit: Mapped[float | None] = mapped_column()
    #: every pipeline signal with its value (links, velocity, language, ...)
    signals: Mapped[dict[str, Any] | None] = mapped_column()
    #: machine-readable reasons of the last decision
    reasons: Mapped[list[Any] | None] = mapped_column()

    #: set when the cheap stages hand the comment to the model; the order batches are claimed in
    toxicity_queued_at: Mapped[datetime | None] = mapped_column()
    #: claims by a toxicity task: the one count of scoring attempts (workers/toxicity/tasks.py)
    toxicity_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    #: the task id holding the comment for scoring, and until when (its lease)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_until: Mapped[datetime | None] = mapped_column()

    #: reader reports since the last moderator decision (all of them, shown to moderators)
    report_count: Mapped[int] = mapped_column(default=0, server_default="0")
    #: of those, the reports REPORT_THRESHOLD counts: from reporters with standing
    #: (service/moderation/services.py, ``reporter_has_standing``)
    counted_report_count: Mapped[int] = mapped_column(default=0, server_default="0")
    #: whose key ``idempotency_key`` is: ``token:<name>`` for a caller with a site token,
    #: else ``article:<external id>``. Keys are unique per scope, never across callers.
    idempotency_scope: Mapped[str | None] = mapped_column(sa.String(220))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200))
    #: hash of the request an idempotency key was first used with
    request_hash: Mapped[str | None] = mapped_column(sa.String(64))

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(sa.String(200))
    #: optimistic concurrency: every UPDATE checks and bumps it
    version: Mapped[int] = mapped_column(default=1)

    article: Mapped[Article] = relationship(lazy="joined", innerjoin=True)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'approved', 'held', 'rejected')", name="status"),
        sa.UniqueConstraint("idempotency_scope", "idempotency_key"),
        # the article's public list: approved top-level comments, oldest first
        sa.Index("ix_comments_article_status_created", "article_id", "status", "created_at", "id"),
        sa.Index("ix_comments_root_status_created", "root_id", "status", "created_at"),
        # the moderation queue and the sweeper walk comments of one status by age
        sa.Index("ix_comments_status_created", "status", "created_at", "id"),
        sa.Index("ix_comments_author_created", "author_id", "created_at"),
        # the queue sorted by toxicity (the console's "most toxic first"), in the order
        # review_queue sorts it: on 100,000 comments a 0.2 ms index scan, not a 28 ms
        # top-N sort of every held comment
        sa.Index(
            "ix_comments_status_toxicity",
            "status",
            sa.text("coalesce(score_toxicity, -1.0) DESC"),
            "id",
        ),
        # comments waiting for the model, in the order toxicity tasks claim them
        sa.Index(
            "ix_comments_awaiting_toxicity",
            "toxicity_queued_at",
            "id",
            postgresql_where=sa.text("status = 'pending' AND toxicity_queued_at IS NOT NULL"),
            sqlite_where=sa.text("status = 'pending' AND toxicity_queued_at IS NOT NULL"),
        ),
        # reported comments, the queue's other entry point
        sa.Index(
            "ix_comments_reported",
            "status",
            "created_at",
            postgresql_where=sa.text("report_count > 0"),
            sqlite_where=sa.text("report_count > 0"),
        ),
    )


def label_column(label: str) -> sa.orm.InstrumentedAttribute[float | None]:
    """The column holding ``label``'s score (``spam`` is the combined spam probability)."""
    if label == "spam":
        return Comment.spam_score
    if label not in LABELS:
        raise KeyError(label)
    return getattr(Comment, f"score_{label}")  # type: ignore[no-any-return]
