"""What worker processes report about themselves, kept where a Redis restart cannot lose it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, utcnow


class ScorerReport(Base):
    """The last scorer state one toxicity worker process reported (``/statusz``)."""

    __tablename__ = "scorer_reports"

    #: ``host:pid`` of the reporting process
    process: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    report: Mapped[dict[str, Any]] = mapped_column()
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
