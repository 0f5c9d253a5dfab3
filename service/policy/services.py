"""Reading and changing word lists and author standings (a ban rejects waiting comments)."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable

import sqlalchemy as sa

from service.comments.models import Comment, Status
from service.comments.status import StatusListener, change_status
from service.db import Session
from service.errors import Conflict, Invalid
from service.policy import lexicon as lexicons
from service.policy.lexicon import Lexicon, merged_rules
from service.policy.models import AuthorStanding, Standing, WordKind, WordRule
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
    ``lexicon``: the default list merged under the site's rules (None: the site's only).
    """

    def __init__(self, check_every_s: float = 5.0, lexicon: Lexicon | None = None) -> None:
        self.check_every_s = check_every_s
        self.lexicon = lexicon
        self._matcher = WordMatcher(merged_rules((), lexicon))
        self._stamp: tuple[int, int | None] | None = None
        self._checked_at = float("-inf")

    def matcher(self, session: Session) -> WordMatcher:
        now = time.monotonic()
        if now - self._checked_at >= self.check_every_s:
            stamp = tuple(
                session.execute(sa.select(sa.func.count(), sa.func.max(WordRule.id))).one()
            )
            if stamp != self._stamp:
                self._matcher = WordMatcher(merged_rules(word_rules(session), self.lexicon))
                self._stamp = stamp  # type: ignore[assignment]
            self._checked_at = now
        return self._matcher


def set_author_standing(
    session: Session,
    author_id: str,
    *,
    standing: str,
    reason: str | None,
    actor: str,
    listeners: Iterable[StatusListener] = (),
) -> int:
    """Set an author's standing; a ban rejects their comments still waiting. Returns how many."""
    row = session.get(AuthorStanding, author_id)
    if row is None:
        row = AuthorStanding(author_id=author_id, standing=standing)
        session.add(row)
    row.standing, row.reason, row.updated_by = standing, reason, actor
    session.flush()
    if standing != Standing.BANNED:
        return 0
    waiting = session.scalars(
        sa.select(Comment.id).where(
            Comment.author_id == author_id,
            Comment.status.in_([Status.PENDING.value, Status.HELD.value]),
        )
    ).all()
    rejected = 0
    for comment_id in waiting:
        entry = change_status(
            session,
            comment_id,
            to_status=Status.REJECTED.value,
            actor=actor,
            from_statuses=[Status.PENDING.value, Status.HELD.value],
            reason_code="author_banned",
            note=reason,
            reasons=[{"rule": "author_banned", "effect": Status.REJECTED.value}],
            listeners=listeners,
        )
        rejected += entry is not None
    return rejected


def add_word_rule(
    session: Session, phrase: str, kind: str, note: str | None, actor: str
) -> WordRule:
    """Put a phrase (normalised) on the ``kind`` list; 409 if it is on a list already.

    ``allow`` switches off the default lexicon's entry for the phrase, so it must name
    one (422 otherwise: an allow rule matches nothing by itself).
    """
    phrase = normalize_phrase(phrase)
    if kind == WordKind.ALLOW and lexicons.vietnamese().active(phrase) is None:
        raise Invalid(
            f"{phrase!r} is not an entry of the default word list, so there is nothing to "
            "allow; GET /v1/moderation/words/defaults lists the entries.",
            code="not_a_default_word",
        )
    if session.scalars(sa.select(WordRule).where(WordRule.phrase == phrase)).first():
        raise Conflict(
            f"{phrase!r} is already on a word list; delete it first to change its kind.",
            code="word_exists",
        )
    rule = WordRule(phrase=phrase, kind=kind, note=note, created_by=actor)
    session.add(rule)
    session.flush()
    return rule


def delete_word_rule(session: Session, rule_id: int) -> bool:
    """Remove a rule; False if there is no such rule."""
    rule = session.get(WordRule, rule_id)
    if rule is None:
        return False
    session.delete(rule)
    session.flush()
    return True
