"""Status changes: each checked against the state it expects, audited in the same transaction.

The pipeline, moderators' decisions, reader reports and author bans all move a comment
through :func:`change_status`; listeners (the webhook outbox) join its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from service.comments.models import Comment, Status
from service.db import Session, utcnow
from service.moderation.models import AuditEntry

PIPELINE_ACTOR = "system:pipeline"

#: Hooks run with (session, comment_id, audit entry) after every status change, e.g. the
#: webhook sender (registered by the app, which knows whether webhooks are configured).
StatusListener = Callable[[Session, uuid.UUID, AuditEntry], None]


def change_status(
    session: Session,
    comment_id: uuid.UUID,
    *,
    to_status: str,
    actor: str,
    from_statuses: Iterable[str] = (Status.PENDING,),
    expected_version: int | None = None,
    reason_code: str | None = None,
    note: str | None = None,
    reasons: list[dict[str, Any]] | None = None,
    fields: dict[str, Any] | None = None,
    listeners: Iterable[StatusListener] = (),
) -> AuditEntry | None:
    """Move a comment to ``to_status`` if it is still in one of ``from_statuses``.

    One conditional UPDATE does the check and the change, so of two workers (or two
    moderators) racing for the same comment exactly one wins, on PostgreSQL and
    SQLite alike. Returns the audit entry, or None when the comment was not in an
    expected state (someone else decided first) or did not match ``expected_version``.
    """
    from_statuses = [str(s) for s in from_statuses]
    table = Comment.__table__
    guard: list[sa.ColumnElement[bool]] = [table.c.id == comment_id]
    if len(from_statuses) == 1 and expected_version is None:
        # the pipeline's case (one comment after another in a batch): the UPDATE's own
        # condition is the whole check, one round trip instead of two
        from_status = from_statuses[0]
        guard.append(table.c.status == from_status)
    else:
        current = session.execute(
            sa.select(Comment.status, Comment.version).where(Comment.id == comment_id)
        ).first()
        if current is None or current.status not in from_statuses:
            return None
        if expected_version is not None and current.version != expected_version:
            return None
        from_status = current.status
        guard += [table.c.status == current.status, table.c.version == current.version]
    now = utcnow()
    values: dict[str, Any] = {
        "status": to_status,
        "version": table.c.version + 1,
        "updated_at": now,
        "decided_at": now,
        "decided_by": actor,
        **(fields or {}),
    }
    if reasons is not None:
        values["reasons"] = reasons
    # A Core UPDATE of the table (the ORM's bulk-update layer costs more than the round
    # trip), and no autoflush: audit rows already added wait for the commit, so a
    # batch's go in one INSERT rather than one before each UPDATE.
    with session.no_autoflush:
        result = session.execute(sa.update(table).where(*guard).values(**values))
    if result.rowcount != 1:
        return None
    entry = AuditEntry(
        comment_id=comment_id,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        reason_code=reason_code,
        note=note,
        details={"reasons": reasons} if reasons is not None else None,
        created_at=now,
    )
    # written with the transaction's next flush: a batch's audit rows go in one INSERT
    session.add(entry)
    # the identity map may hold the comment: make the next read see the change
    cached = session.identity_map.get(session.identity_key(Comment, comment_id))
    if cached is not None:
        session.expire(cached)
    for listener in listeners:
        listener(session, comment_id, entry)
    return entry


def update_pending(session: Session, comment_id: uuid.UUID, **fields: Any) -> bool:
    """Store stage results on a comment that is still pending; False if it is not."""
    result = session.execute(
        sa.update(Comment)
        .where(Comment.id == comment_id, Comment.status == Status.PENDING.value)
        .values(updated_at=utcnow(), **fields)
        .execution_options(synchronize_session=False)
    )
    cached = session.identity_map.get(session.identity_key(Comment, comment_id))
    if cached is not None:
        session.expire(cached)
    return result.rowcount == 1
