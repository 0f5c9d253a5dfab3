"""The webhook outbox: one event row per status change."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, utcnow


class EventState(enum.StrEnum):
    PENDING = "pending"  # not yet answered 2xx; retried
    DELIVERED = "delivered"
    FAILED = "failed"  # given up after the last attempt, or webhooks were switched off


class WebhookEvent(Base):
    """The outbox: one event per status change, written in the change's transaction."""

    __tablename__ = "webhook_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    comment_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column()
    #: pending until the site answers 2xx; failed after the last retry
    state: Mapped[str] = mapped_column(sa.String(16), default=EventState.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state"),
        sa.Index("ix_webhook_events_state_created", "state", "created_at"),
    )
