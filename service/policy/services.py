"""Reading and changing word lists and author standings."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable

import sqlalchemy as sa

from service.db import Session
from service.policy.models import AuthorStanding, Standing, WordRule
from service.policy.words import WordMatcher


def author_standing(session: Session, author_id: str) -> str:
    return author_standings(session, [author_id])[author_id]


def author_standings(session: Session, author_ids: Iterable[str]) -> dict[str, str]:
    """Each author's standing, in one query (most authors have no row: ``normal``)."""
    wanted = set(author_ids)
    rows = session.execute(
        sa.select(AuthorStanding.author_id, AuthorStanding.standing).where(
            AuthorStanding.author_id.in_(wanted)
        )
    ).all()
    return {**dict.fromkeys(wanted, Standing.NORMAL.value), **dict(rows)}


def normalize_phrase(phrase: str) -> str:
    return " ".join(unicodedata.normalize("NFC", phrase).lower().split())


def word_rules(session: Session) -> list[tuple[str, str]]:
    return [(r.phrase, r.kind) for r in session.scalars(sa.select(WordRule).order_by(WordRule.id))]


class WordListCache:
    """A process's copy of the word lists, rebuilt when they change (checked every few seconds).

    The check is one cheap aggregate query; rebuilding happens only when a rule was
    added or removed, so the pipeline does not read the whole list for every comment.
    """

    def __init__(self, check_every_s: float = 5.0) -> None:
        self.check_every_s = check_every_s
        self._matcher = WordMatcher(())
        self._stamp: tuple[int, int | None] | None = None
        self._checked_at = float("-inf")

    def matcher(self, session: Session) -> WordMatcher:
        now = time.monotonic()
        if now - self._checked_at >= self.check_every_s:
            stamp = tuple(
                session.execute(sa.select(sa.func.count(), sa.func.max(WordRule.id))).one()
            )
            if stamp != self._stamp:
                self._matcher = WordMatcher(word_rules(session))
                self._stamp = stamp  # type: ignore[assignment]
            self._checked_at = now
        return self._matcher
