"""The article table."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, utcnow


class ModerationMode(enum.StrEnum):
    #: comments are decided by the machine, humans see only what it is unsure of
    POST = "post"
    #: every comment waits for a human (sensitive stories)
    PRE = "pre"


class Article(Base):
    """A page of the site. ``external_id`` is the site's own id for it."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(sa.String(200), unique=True)
    title: Mapped[str | None] = mapped_column(sa.String(500))
    url: Mapped[str | None] = mapped_column(sa.String(2000))
    section: Mapped[str | None] = mapped_column(sa.String(200))
    language: Mapped[str | None] = mapped_column(sa.String(16))
    moderation_mode: Mapped[str] = mapped_column(
        sa.String(8), default=ModerationMode.POST.value, server_default=ModerationMode.POST.value
    )
    comments_open: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.CheckConstraint("moderation_mode IN ('pre', 'post')", name="moderation_mode"),
    )
