"""The audit trail of every status change."""

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
