"""Akismet's questions answered by our spam stages, and its submissions kept as our labels.

``comment-check`` runs what the pipeline runs on a comment (workers/spam: the text
signals, the duplicate and velocity windows in Redis, the classifier that learns from
moderators) and reads the combined probability against ``SPAM_BAND`` (:func:`verdict_for`).
``submit-spam`` / ``submit-ham`` add a row to ``spam_labels``, the table moderators'
decisions feed: every worker's classifier (and this API's) learns it within
``SPAM_LABELS_REFRESH_S``.

Windows are kept per key: the author and IP counters of one site never count another
site's readers. The duplicate windows are shared, as in the pipeline: the same spam sent
through two sites (or a site and our own intake) is the same spam.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import redis

from service.comments.text import normalize_text
from service.db import Session
from service.moderation.models import ApiToken, SpamLabel

if TYPE_CHECKING:
    # Imported where used: ``service`` imports this module with the app, and the spam
    # stages import ``service`` (a module-level import here would be circular).
    from workers.pipeline.stages import Pipeline
    from workers.spam.signals import SpamVerdict

log = logging.getLogger(__name__)

#: Akismet's documented test values (akismet.com/developers, "Testing your data"): a
#: client's own test suite relies on them to see each answer.
GUARANTEED_SPAM_AUTHOR = "akismet-guaranteed-spam"
GUARANTEED_SPAM_EMAIL = "akismet-guaranteed-spam@example.com"
ADMINISTRATOR_ROLE = "administrator"


class CheckResult(enum.Enum):
    """Akismet's three answers: ``false``, ``true``, ``true`` with the discard pro-tip."""

    HAM = "ham"
    SPAM = "spam"
    DISCARD = "discard"


@dataclass(frozen=True)
class Submission:
    """The Akismet parameters we read; the rest of a request is accepted and ignored."""

    blog: str = ""
    user_ip: str = ""
    user_agent: str = ""
    referrer: str = ""
    permalink: str = ""
    comment_type: str = ""
    comment_author: str = ""
    comment_author_email: str = ""
    comment_author_url: str = ""
    comment_content: str = ""
    comment_date_gmt: str = ""
    blog_lang: str = ""
    user_role: str = ""
    is_test: bool = False

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> Submission:
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = form.get(f.name)
            if raw is None:
                continue
            if f.name == "is_test":
                # Akismet clients send 1/true (PHP and Python alike); anything else is off
                values[f.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
            else:
                values[f.name] = raw.strip()
        return cls(**values)  # type: ignore[arg-type]

    @property
    def text(self) -> str:
        """What the spam stages read, normalised as intake normalises a comment."""
        return normalize_text(self.comment_content)

    def author_key(self) -> str:
        """Who wrote it, as well as the request tells: e-mail, else name, else address."""
        return (
            self.comment_author_email.lower() or self.comment_author or self.user_ip or "anonymous"
        )


def verdict_for(probability: float, band: tuple[float, float]) -> CheckResult:
    """Akismet's answer for a spam probability and the ``SPAM_BAND`` (low, high).

    At or above ``high`` the pipeline rejects a comment as spam: certain spam, which
    Akismet marks with ``X-akismet-pro-tip: discard``. From ``low`` the pipeline holds
    it for a moderator: Akismet's plain ``true`` (a WordPress site puts it in the spam
    folder, for a person to look at). Below ``low``: ``false``.
    """
    low, high = band
    if probability >= high:
        return CheckResult.DISCARD
    if probability >= low:
        return CheckResult.SPAM
    return CheckResult.HAM


def _check_id(key: ApiToken, submission: Submission) -> str:
    # The windows count each comment once, by this id: a re-check of the same comment
    # (Akismet clients re-check their queue) is not a second copy of it.
    parts = (
        str(key.id),
        submission.blog,
        submission.user_ip,
        submission.author_key(),
        submission.permalink,
        submission.comment_date_gmt,
        submission.comment_content,
    )
    return "akismet:" + hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Check:
    result: CheckResult
    #: None for Akismet's test values, which are answered without the spam stages
    verdict: SpamVerdict | None


def check(session: Session, pipeline: Pipeline, key: ApiToken, submission: Submission) -> Check:
    """Akismet's ``comment-check``: our spam stages' verdict on one submission.

    ``is_test`` requests are scored but leave no trace in the windows, as Akismet
    promises its test requests do not affect later answers.
    """
    if (
        submission.comment_author.lower() == GUARANTEED_SPAM_AUTHOR
        or submission.comment_author_email.lower() == GUARANTEED_SPAM_EMAIL
    ):
        return Check(CheckResult.SPAM, None)
    if submission.user_role.lower() == ADMINISTRATOR_ROLE:
        return Check(CheckResult.HAM, None)
    from workers.spam.signals import CommentFacts, combine, text_signals

    text = submission.text
    config = pipeline.spam_config
    behaviour: dict[str, Any] = {}
    if not submission.is_test:
        facts = CommentFacts(
            comment_id=_check_id(key, submission),
            body=text,
            author_id=f"akismet:{key.id}:{submission.author_key()}",
            client_ip=f"akismet:{key.id}:{submission.user_ip}" if submission.user_ip else None,
            created_at=time.time(),
        )
        try:
            behaviour = pipeline.windows.observe(facts)
        except redis.RedisError as exc:
            # Redis is only counters (DESIGN.md): the text and the classifier still answer
            log.warning("akismet check without the spam windows, Redis unavailable: %s", exc)
    classifier = pipeline.spam_model.current(session)
    verdict = combine(
        classifier.probability(text),
        text_signals(text, config),
        behaviour,
        # Akismet requests say nothing of an author's history with the site
        new_author=False,
        config=config,
    )
    return Check(verdict_for(verdict.probability, pipeline.policy.spam_band), verdict)


def learn(session: Session, key: ApiToken, submission: Submission, *, is_spam: bool) -> bool:
    """Akismet's ``submit-spam`` / ``submit-ham``: a label, as a moderator's decision adds.

    Nothing is kept for an ``is_test`` submission or one with no text (nothing to learn
    from). Returns whether a label was added.
    """
    text = submission.text
    if submission.is_test or not text:
        return False
    session.add(SpamLabel(body=text, is_spam=is_spam, source=f"akismet:{key.name}"))
    session.flush()
    return True


def record_blog(session: Session, key: ApiToken, blog: str) -> None:
    """Remember the site a key is used for (the last one named), for whoever manages keys."""
    if blog and key.blog != blog:
        key.blog = blog[:500]
        session.flush()
