"""Moderators' decisions and readers' reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.comments.models import Comment, Status
from service.comments.status import StatusListener, change_status
from service.db import Session, utcnow
from service.moderation.models import Report, SpamLabel, ToxicityLabel
from service.policy.models import AuthorStanding, Standing

# ----------------------------------------------------------------------
# Moderators' decisions

#: Why a moderator (or a reader) flags a comment: a fixed taxonomy, so reports and
#: decisions can be counted and fed back.
REASON_CODES = (
    "spam",
    "toxic",
    "harassment",
    "hate",
    "off_topic",
    "personal_information",
    "illegal",
    "other",
)
ACTIONS = {"approve": Status.APPROVED.value, "reject": Status.REJECTED.value}
#: Rejections for these reasons teach a toxicity learner "toxic"; others (spam,
#: off_topic, ...) say nothing about toxicity and teach it nothing.
TOXIC_REASONS = frozenset({"toxic", "harassment", "hate"})
#: Languages (``comments.language``) whose decisions become toxicity labels: those with
#: an online learner (workers.toxicity.vi_learning).
TOXICITY_LABEL_LANGUAGES = frozenset({"vi"})


def current_state(comment: Comment) -> dict[str, Any]:
    """What a 409 tells a moderator who acted on a stale copy."""
    return {
        "comment_id": str(comment.id),
        "status": comment.status,
        "version": comment.version,
        "decided_by": comment.decided_by,
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
    }


class StaleVersion(Exception):
    """The comment changed since the moderator loaded it."""

    def __init__(self, comment: Comment) -> None:
        super().__init__(str(comment.id))
        self.comment = comment


def moderate(
    session: Session,
    comment: Comment,
    *,
    action: str,
    version: int,
    actor: str,
    reason: str | None = None,
    note: str | None = None,
    listeners: Iterable[StatusListener] = (),
) -> bool:
    """Approve or reject ``comment`` if it is still at ``version``; True if it changed.

    Any status may be reversed (an approved comment rejected after reports, a
    rejection overturned on appeal). Raises :class:`StaleVersion` when another
    moderator (or the pipeline) changed the comment since ``version``.
    """
    to_status = ACTIONS[action]
    if comment.version != version:
        raise StaleVersion(comment)
    if comment.status == to_status:
        return False  # already so: nothing to change, nothing to audit
    entry = change_status(
        session,
        comment.id,
        to_status=to_status,
        actor=actor,
        from_statuses=[s.value for s in Status],
        expected_version=version,
        reason_code=reason,
        note=note,
        # the readers' reports are answered by this decision
        fields={"report_count": 0, "counted_report_count": 0},
        listeners=listeners,
    )
    if entry is None:  # lost a race between our read and our write
        session.refresh(comment)
        raise StaleVersion(comment)
    _label_for_spam_filter(session, comment, to_status, reason, actor)
    _label_for_toxicity_learner(session, comment, to_status, reason, actor)
    return True


def undo_decision(
    session: Session,
    comment: Comment,
    *,
    version: int,
    actor: str,
    listeners: Iterable[StatusListener] = (),
) -> None:
    """Put a comment ``actor`` just decided back in the queue (held), if nothing changed since.

    ``version`` is the comment's version right after that decision: if anyone (another
    moderator, the pipeline, a ban) changed it since, or the decision was not
    ``actor``'s, raises :class:`StaleVersion` and changes nothing. The labels the
    decision taught stay, as they do when a decision is reversed: the next decision
    adds its own, and learners replay labels in order.
    """
    if comment.version != version or comment.decided_by != actor:
        raise StaleVersion(comment)
    entry = change_status(
        session,
        comment.id,
        to_status=Status.HELD.value,
        actor=actor,
        from_statuses=[Status.APPROVED.value, Status.REJECTED.value],
        expected_version=version,
        reason_code="undo",
        listeners=listeners,
    )
    if entry is None:
        session.refresh(comment)
        raise StaleVersion(comment)


def moderate_many(
    session: Session,
    items: Iterable[Mapping[str, Any]],
    *,
    action: str,
    actor: str,
    reason: str | None = None,
    note: str | None = None,
    listeners: Iterable[StatusListener] = (),
) -> dict[str, Any]:
    """Approve or reject each ``{"comment_id", "version"}`` item; one result per item.

    Each item is decided in its own savepoint, so a stale version or a missing comment
    costs only its own result: ``applied``, ``unchanged`` (already so), ``conflict``
    or ``not_found``. Returns ``{"results": [...], "summary": {result: count}}``.
    """
    items = list(items)
    listeners = list(listeners)
    ids = [item["comment_id"] for item in items]
    found = {c.id: c for c in session.scalars(sa.select(Comment).where(Comment.id.in_(ids)))}
    results: list[dict[str, Any]] = []
    for item in items:
        comment = found.get(item["comment_id"])
        if comment is None:
            results.append({"comment_id": item["comment_id"], "result": "not_found"})
            continue
        try:
            with session.begin_nested():
                changed = moderate(
                    session,
                    comment,
                    action=action,
                    version=item["version"],
                    actor=actor,
                    reason=reason,
                    note=note,
                    listeners=listeners,
                )
            result = "applied" if changed else "unchanged"
        except StaleVersion:
            result = "conflict"
        session.refresh(comment)
        results.append(
            {
                "comment_id": comment.id,
                "result": result,
                "status": comment.status,
                "version": comment.version,
            }
        )
    return {"results": results, "summary": dict(Counter(r["result"] for r in results))}


def _label_for_spam_filter(
    session: Session, comment: Comment, to_status: str, reason: str | None, actor: str
) -> None:
    # Like Akismet's submit-spam / submit-ham: a rejection for spam teaches "spam", an
    # approval teaches "not spam". Labels are only added, never edited: a reversed
    # decision adds the opposite label, and every worker replays them in id order.
    if to_status == Status.REJECTED and reason == "spam":
        session.add(SpamLabel(comment_id=comment.id, body=comment.body, is_spam=True, source=actor))
    elif to_status == Status.APPROVED:
        session.add(
            SpamLabel(comment_id=comment.id, body=comment.body, is_spam=False, source=actor)
        )


def _label_for_toxicity_learner(
    session: Session, comment: Comment, to_status: str, reason: str | None, actor: str
) -> None:
    # The same feedback for toxicity, in languages whose model learns from it: the
    # approval of a comment says "not toxic", a rejection for abuse says "toxic". Added
    # in the decision's transaction, so a label exists exactly when its decision does.
    if comment.language not in TOXICITY_LABEL_LANGUAGES:
        return
    if to_status == Status.REJECTED and reason in TOXIC_REASONS:
        is_toxic = True
    elif to_status == Status.APPROVED:
        is_toxic = False
    else:
        return
    session.add(
        ToxicityLabel(
            comment_id=comment.id,
            language=comment.language,
            text=comment.body,
            is_toxic=is_toxic,
            reason=reason if is_toxic else None,
            source=actor,
        )
    )


# ----------------------------------------------------------------------
# Reader reports


def reporter_has_standing(
    session: Session, reporter_id: str, *, min_age: timedelta, now: datetime | None = None
) -> bool:
    """Whether a reader's report counts toward REPORT_THRESHOLD.

    A reader (``reporter_id`` is the site's reader id, the ``author_id`` of their own
    comments) has standing when moderators have not marked them ``banned`` or
    ``always_review``, and the site has known them for ``min_age``: they have an
    approved comment, or an earlier report, at least that old. Ids made up a moment ago
    have none, so a crowd of them cannot pull a comment. ``min_age`` 0: every reader
    in good standing counts.
    """
    distrusted = sa.exists().where(
        AuthorStanding.author_id == reporter_id,
        AuthorStanding.standing != Standing.NORMAL.value,
    )
    if min_age <= timedelta(0):
        return not session.scalar(sa.select(distrusted))
    cutoff = (now or utcnow()) - min_age
    commented = sa.exists().where(
        Comment.author_id == reporter_id,
        Comment.status == Status.APPROVED.value,
        Comment.created_at <= cutoff,
    )
    reported = sa.exists().where(Report.reporter_id == reporter_id, Report.created_at <= cutoff)
    row = session.execute(sa.select(distrusted, commented, reported)).one()
    return not row[0] and (row[1] or row[2])


def report_comment(
    session: Session,
    comment: Comment,
    *,
    reporter_id: str,
    reason: str,
    note: str | None,
    threshold: int,
    reporter_min_age: timedelta,
    listeners: Iterable[StatusListener] = (),
) -> tuple[Report, bool]:
    """Record one reader's report; an approved comment goes back to review at ``threshold``.

    Every report is stored and counted in ``report_count``; only those from reporters
    with standing (:func:`reporter_has_standing`) count toward ``threshold``, in
    ``counted_report_count``. Both count since the last moderator decision, and the
    unique (comment, reporter) pair makes them counts of different readers.
    Returns (report, created): a reader's second report of a comment returns the first.
    """
    existing = session.scalars(
        sa.select(Report).where(Report.comment_id == comment.id, Report.reporter_id == reporter_id)
    ).first()
    if existing is not None:
        return existing, False
    counted = reporter_has_standing(session, reporter_id, min_age=reporter_min_age)
    report = Report(
        comment_id=comment.id, reporter_id=reporter_id, reason=reason, note=note, counted=counted
    )
    try:
        with session.begin_nested():
            session.add(report)
    except sa.exc.IntegrityError:
        # the same reader, twice at once: the other request stored it
        existing = session.scalars(
            sa.select(Report).where(
                Report.comment_id == comment.id, Report.reporter_id == reporter_id
            )
        ).one()
        return existing, False
    count = session.execute(
        sa.update(Comment)
        .where(Comment.id == comment.id)
        .values(
            report_count=Comment.report_count + 1,
            counted_report_count=Comment.counted_report_count + int(counted),
        )
        .returning(Comment.counted_report_count)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if count >= threshold:
        change_status(
            session,
            comment.id,
            to_status=Status.HELD.value,
            actor="system:reports",
            from_statuses=[Status.APPROVED.value],
            reason_code="reported",
            reasons=[
                {
                    "rule": "reported",
                    "effect": Status.HELD.value,
                    "reports": count,
                    "threshold": threshold,
                }
            ],
            listeners=listeners,
        )
    session.expire(comment)
    return report, True
