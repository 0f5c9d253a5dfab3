"""Claims on comments waiting for the model: who scores what, and for how long.

A comment the cheap stages hand to the model gets ``toxicity_queued_at``, and a
``score_toxicity`` message unless one is already on its way (``Dispatcher.ring``).
The task that runs a message does not score that comment alone: it *claims* it
together with the oldest other comments waiting (a batch, which is what a model
wants), marking them with its task id and a lease. Any other message that finds its
comment claimed or decided takes what else waits, or does nothing.

Rules, in one place:

- a claim takes only comments that are pending, waiting for the model, and free (no
  claim, an expired lease, or a claim by the same task id: that task's earlier run died
  and its message was delivered again);
- every claim counts one attempt on each comment it takes (``toxicity_attempts``);
- a comment that was claimed before (its batch failed, or its process died) is claimed
  again only on its own: one comment that crashes the scorer cannot take others down
  with it again, and the others are released to be retried alone too;
- two tasks never claim the same comment: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and
  SQLite runs one writing transaction at a time;
- a lease is short (TOXICITY_LEASE_S) and renewed with every model call of its batch:
  the comments of a batch whose process died are free again soon after, and the
  sweeper re-sends them (:func:`release_expired`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa

from service.comments.models import Comment, Status
from service.db import Session, utcnow

_WAITING = sa.and_(Comment.status == Status.PENDING.value, Comment.toxicity_queued_at.is_not(None))


@dataclass
class Claim:
    """What one task run holds: the comments to score, and the ones it must hand back."""

    comments: list[Comment] = field(default_factory=list)
    #: comments of this task's earlier, interrupted run: released, to be re-sent alone
    released: list[str] = field(default_factory=list)


def _free(token: str, now: object) -> sa.ColumnElement[bool]:
    return sa.or_(
        Comment.claimed_until.is_(None),
        Comment.claimed_until < now,
        Comment.claimed_by == token,
    )


def claim_for_scoring(
    session: Session, comment_id: uuid.UUID, token: str, *, limit: int, lease: timedelta
) -> Claim:
    """Claim what waits for the model, for the task ``token`` sent for ``comment_id``.

    ``comment_id`` comes first if it is free; the rest are the oldest free comments
    waiting, up to ``limit`` in all, even when ``comment_id`` itself was decided or
    taken by another batch meanwhile: the comments that arrived while this task's
    message was queued count on it (``Dispatcher.ring``). A comment claimed before is
    claimed alone. The caller commits, so other tasks see the claim.
    """
    now = utcnow()
    claim = Claim()
    row = session.execute(
        sa.select(Comment.toxicity_attempts, Comment.claimed_by).where(
            Comment.id == comment_id, _WAITING, _free(token, now)
        )
    ).first()
    if row is not None and row.claimed_by == token:
        # This task ran before and died mid-batch (its message came back): the other
        # comments of that batch are released, each to be retried on its own.
        claim.released = [
            str(i)
            for i in session.scalars(
                sa.update(Comment)
                .where(Comment.claimed_by == token, Comment.id != comment_id, _WAITING)
                .values(claimed_by=None, claimed_until=None)
                .returning(Comment.id)
                .execution_options(synchronize_session=False)
            )
        ]
    ids = [comment_id] if row is not None else []
    if (row is None or row.toxicity_attempts == 0) and limit > len(ids):
        others = (
            sa.select(Comment.id)
            .where(
                _WAITING,
                Comment.id != comment_id,
                Comment.toxicity_attempts == 0,
                Comment.claimed_until.is_(None),
            )
            .order_by(Comment.toxicity_queued_at, Comment.id)
            .limit(limit - len(ids))
        )
        if session.get_bind().dialect.name == "postgresql":
            others = others.with_for_update(skip_locked=True)
        ids += list(session.scalars(others))
    if not ids:
        return claim
    claimed = set(
        session.scalars(
            sa.update(Comment)
            .where(Comment.id.in_(ids), _WAITING, _free(token, now))
            .values(
                claimed_by=token,
                claimed_until=now + lease,
                toxicity_attempts=Comment.toxicity_attempts + 1,
            )
            .returning(Comment.id)
            .execution_options(synchronize_session=False)
        )
    )
    if claimed:
        comments = session.scalars(
            sa.select(Comment)
            .where(Comment.id.in_(claimed))
            .execution_options(populate_existing=True)
        )
        claim.comments = sorted(comments, key=lambda c: (c.toxicity_queued_at, c.id))
    return claim


def oldest_unclaimed(session: Session, grace: timedelta) -> str | None:
    """The oldest comment waiting for the model longer than ``grace`` with no claim."""
    found = session.scalar(
        sa.select(Comment.id)
        .where(
            _WAITING,
            Comment.claimed_until.is_(None),
            Comment.toxicity_queued_at < utcnow() - grace,
        )
        .order_by(Comment.toxicity_queued_at, Comment.id)
        .limit(1)
    )
    return str(found) if found is not None else None


def renew(session: Session, token: str, lease: timedelta) -> None:
    """Extend the lease on what ``token`` still holds (its batch is alive and scoring)."""
    session.execute(
        sa.update(Comment)
        .where(Comment.claimed_by == token, _WAITING)
        .values(claimed_until=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, token: str) -> list[str]:
    """Hand back what ``token`` still holds undecided (its batch failed); returns the ids."""
    return [
        str(i)
        for i in session.scalars(
            sa.update(Comment)
            .where(Comment.claimed_by == token, _WAITING)
            .values(claimed_by=None, claimed_until=None)
            .returning(Comment.id)
            .execution_options(synchronize_session=False)
        )
    ]


def release_expired(session: Session, limit: int) -> list[str]:
    """Release claims whose lease ran out (their task died and its message is gone)."""
    expired = sa.select(Comment.id).where(_WAITING, Comment.claimed_until < utcnow()).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        expired = expired.with_for_update(skip_locked=True)
    ids: Sequence[uuid.UUID] = list(session.scalars(expired))
    if not ids:
        return []
    session.execute(
        sa.update(Comment)
        .where(Comment.id.in_(ids), _WAITING)
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return [str(i) for i in ids]
