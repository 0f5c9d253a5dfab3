"""Moderation records: the audit trail, reader reports, spam and toxicity labels, API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, BigIntPK, utcnow


class AuditEntry(Base):
    """One status change of one comment: who or what, from, to, why, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    comment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    #: "system:pipeline", "moderator:<name>", "site", ...
    actor: Mapped[str] = mapped_column(sa.String(200))
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    reason_code: Mapped[str | None] = mapped_column(sa.String(64))
    note: Mapped[str | None] = mapped_column(sa.Text)
    #: machine reasons or other structured detail of the change
    details: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(Base):
    """A reader's report of a comment; one per reader per comment."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    comment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    reporter_id: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str] = mapped_column(sa.String(32))
    note: Mapped[str | None] = mapped_column(sa.String(1000))
    #: whether the reporter had standing when they reported, so the report counts
    #: toward REPORT_THRESHOLD; every report is kept and shown to moderators either way
    counted: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("comment_id", "reporter_id"),
        # a reporter's earliest report: part of their standing
        sa.Index("ix_reports_reporter_id_created_at", "reporter_id", "created_at"),
    )


class SpamLabel(Base):
    """A moderator's verdict on a text, for the spam classifier to learn from.

    Rows are only ever added, never edited or deleted, so every worker that replays
    them in id order reaches the same model (each label is one SGD step, applied in
    that order). A reversed decision adds a row with the opposite label; the earlier
    row stays and still counts. ``weight`` must be positive (``SpamClassifier.learn`` refuses
    anything else); the service always writes 1.0.
    """

    __tablename__ = "spam_labels"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    comment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("comments.id", ondelete="SET NULL"), index=True
    )
    body: Mapped[str] = mapped_column(sa.Text)
    is_spam: Mapped[bool] = mapped_column()
    weight: Mapped[float] = mapped_column(default=1.0)
    source: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ToxicityLabel(Base):
    """A moderator's verdict on a comment in a language with an online toxicity learner.

    Written with the decision, in its transaction (``service.moderation.services``): an
    approval is ``is_toxic=False``, a rejection for ``toxic``, ``harassment`` or
    ``hate`` is ``is_toxic=True``. Like :class:`SpamLabel`, rows are only ever added and
    every worker replays them in id order (one SGD step each); a reversed decision adds
    a row with the opposite label, and being the later step it moves the model last.
    ``text`` is the comment's body as decided, kept when the comment is deleted.
    """

    __tablename__ = "toxicity_labels"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    comment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("comments.id", ondelete="SET NULL"), index=True
    )
    language: Mapped[str] = mapped_column(sa.String(16))
    text: Mapped[str] = mapped_column(sa.Text)
    is_toxic: Mapped[bool] = mapped_column()
    #: the rejection's reason code; null for an approval
    reason: Mapped[str | None] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # each worker reads one language's rows after the last id it applied
    __table_args__ = (sa.Index("ix_toxicity_labels_language_id", "language", "id"),)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored (tokens are 256-bit random)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    #: an ``analyze`` key's site as Akismet clients name it (their ``blog``), last seen
    blog: Mapped[str | None] = mapped_column(sa.String(500))

    __table_args__ = (
        sa.CheckConstraint("role IN ('moderator', 'admin', 'site', 'ops', 'analyze')", name="role"),
    )
