"""What the Perspective-compatible endpoints keep: analysed texts and clients' corrections."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, utcnow, uuid7


class AnalyzeRequest(Base):
    """One ``comments:analyze`` text (not a comment: nothing is moderated), unless the
    client said ``doNotStore``; or one ``comments:suggestscore`` correction.

    A correction is stored on the latest analysed row of the same key and text, or as a
    row of its own when there is none (Coral Talk analyses with ``doNotStore`` and then
    sends its moderators' decisions): a label, like a moderator's, for later training.
    """

    __tablename__ = "analyze_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    token_id: Mapped[int] = mapped_column(sa.ForeignKey("api_tokens.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    #: finds the analysed row a correction is about
    text_sha256: Mapped[str] = mapped_column(sa.String(64))
    languages: Mapped[list[Any]] = mapped_column()
    #: our labels' scores (None for a correction of a text never analysed here)
    scores: Mapped[dict[str, Any] | None] = mapped_column()
    #: "name@version" of the model that scored it
    model: Mapped[str | None] = mapped_column(sa.String(200))
    client_token: Mapped[str | None] = mapped_column(sa.String(500))
    session_id: Mapped[str | None] = mapped_column(sa.String(500))
    community_id: Mapped[str | None] = mapped_column(sa.String(500))
    #: the client's correction: Perspective attribute -> the score it should have had
    suggested: Mapped[dict[str, Any] | None] = mapped_column()
    suggested_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.Index("ix_analyze_requests_token_id_text_sha256", "token_id", "text_sha256"),
    )
