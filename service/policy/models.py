"""Word rules and author standings."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, utcnow


class WordKind(enum.StrEnum):
    BANNED = "banned"  # reject
    SUSPECT = "suspect"  # hold for review
    ALLOW = "allow"  # switch off the default lexicon's entry for the same phrase


class Standing(enum.StrEnum):
    NORMAL = "normal"
    BANNED = "banned"  # reject their pending and new comments
    ALWAYS_REVIEW = "always_review"  # hold everything they post


class WordRule(Base):
    """A word or phrase of the site-wide lists, stored lower-case NFC."""

    __tablename__ = "word_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    phrase: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str | None] = mapped_column(sa.String(500))
    created_by: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint("kind IN ('banned', 'suspect', 'allow')", name="kind"),)


class AuthorStanding(Base):
    """An author's standing on the site; no row means ``normal``."""

    __tablename__ = "author_standings"

    author_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    standing: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    updated_by: Mapped[str | None] = mapped_column(sa.String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.CheckConstraint("standing IN ('normal', 'banned', 'always_review')", name="standing"),
    )
