"""Claims on comments waiting for the model (service/comments/claims.py), both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from service.comments.claims import claim_for_scoring, release, release_expired, renew
from service.comments.models import Comment, Status
from service.db import Database, Session, utcnow
from tests.factories import make_article, make_comment

LEASE = timedelta(seconds=60)


def waiting(session: Session, n: int, article: object = None) -> list[Comment]:
    """``n`` pending comments handed to the model, oldest first."""
    article = article or make_article(session)
    start = utcnow() - timedelta(minutes=10)
    comments = [
        make_comment(
            session,
            article,
            status=Status.PENDING,
            body=f"comment {i}",
            toxicity_queued_at=start + timedelta(seconds=i),
        )
        for i in range(n)
    ]
    session.commit()
    return comments


def ids(comments: list[Comment]) -> list[uuid.UUID]:
    return [c.id for c in comments]


def test_a_claim_takes_its_comment_and_the_oldest_waiting(session: Session) -> None:
    comments = waiting(session, 6)
    claim = claim_for_scoring(session, comments[4].id, "task-a", limit=3, lease=LEASE)
    session.commit()
    # its own comment, then the oldest others, in the order they were queued
    assert ids(claim.comments) == [comments[0].id, comments[1].id, comments[4].id]
    assert claim.released == []
    for c in claim.comments:
        assert (c.claimed_by, c.toxicity_attempts) == ("task-a", 1)
        assert c.claimed_until > utcnow() + LEASE - timedelta(seconds=5)


def test_claimed_comments_are_left_alone_by_other_tasks(session: Session) -> None:
    comments = waiting(session, 5)
    first = claim_for_scoring(session, comments[0].id, "task-a", limit=2, lease=LEASE)
    session.commit()
    # the message of a comment in task-a's batch takes what else waits, never task-a's
    second = claim_for_scoring(session, comments[1].id, "task-b", limit=2, lease=LEASE)
    session.commit()
    assert ids(first.comments) == ids(comments[:2])
    assert ids(second.comments) == ids(comments[2:4])
    # a comment still free comes first, then the oldest of the rest
    third = claim_for_scoring(session, comments[4].id, "task-c", limit=10, lease=LEASE)
    assert ids(third.comments) == [comments[4].id]
    # and once everything is claimed, a message finds nothing to do
    assert (
        claim_for_scoring(session, comments[0].id, "task-d", limit=10, lease=LEASE).comments == []
    )


def test_decided_and_not_yet_queued_comments_are_never_claimed(session: Session) -> None:
    article = make_article(session)
    decided = make_comment(session, article, status=Status.APPROVED, toxicity_queued_at=utcnow())
    cheap_stages_running = make_comment(session, article, status=Status.PENDING)
    session.commit()
    for comment in (decided, cheap_stages_running):
        claim = claim_for_scoring(session, comment.id, "task-a", limit=10, lease=LEASE)
        assert claim.comments == []
    assert claim_for_scoring(session, uuid.uuid4(), "task-a", limit=10, lease=LEASE).comments == []


def test_a_comment_claimed_before_is_retried_alone(session: Session) -> None:
    comments = waiting(session, 4)
    claim_for_scoring(session, comments[0].id, "task-a", limit=2, lease=LEASE)
    session.commit()
    assert sorted(release(session, "task-a")) == sorted(str(c.id) for c in comments[:2])
    session.commit()
    # ...handed back after a failure: both are free again, with one attempt each
    retried = claim_for_scoring(session, comments[1].id, "task-b", limit=10, lease=LEASE)
    session.commit()
    assert ids(retried.comments) == [comments[1].id]
    assert retried.comments[0].toxicity_attempts == 2
    # and a fresh batch does not take the other retried one along
    fresh = claim_for_scoring(session, comments[2].id, "task-c", limit=10, lease=LEASE)
    assert ids(fresh.comments) == ids(comments[2:])


def test_release_hands_back_only_what_is_still_waiting(session: Session) -> None:
    comments = waiting(session, 3)
    claim_for_scoring(session, comments[0].id, "task-a", limit=3, lease=LEASE)
    session.execute(
        sa.update(Comment).where(Comment.id == comments[0].id).values(status=Status.APPROVED)
    )
    session.commit()
    assert sorted(release(session, "task-a")) == sorted(str(c.id) for c in comments[1:])
    session.commit()
    assert release(session, "task-a") == []


def test_the_same_task_run_again_takes_its_comment_back_and_frees_the_rest(
    session: Session,
) -> None:
    comments = waiting(session, 3)
    claim_for_scoring(session, comments[0].id, "task-a", limit=3, lease=LEASE)
    session.commit()
    # the process died; the broker delivers task-a's message again
    again = claim_for_scoring(session, comments[0].id, "task-a", limit=3, lease=LEASE)
    session.commit()
    assert ids(again.comments) == [comments[0].id]
    assert again.comments[0].toxicity_attempts == 2
    assert sorted(again.released) == sorted(str(c.id) for c in comments[1:])
    session.expire_all()
    assert all(session.get(Comment, c.id).claimed_by is None for c in comments[1:])


def test_an_expired_lease_frees_its_comments(session: Session) -> None:
    comments = waiting(session, 2)
    claim_for_scoring(session, comments[0].id, "task-a", limit=2, lease=-LEASE)
    session.commit()
    assert sorted(release_expired(session, 10)) == sorted(str(c.id) for c in comments)
    session.commit()
    assert release_expired(session, 10) == []
    again = claim_for_scoring(session, comments[1].id, "task-b", limit=2, lease=LEASE)
    assert ids(again.comments) == [comments[1].id]  # claimed before: alone


def test_renewing_extends_only_what_the_task_still_holds(session: Session) -> None:
    comments = waiting(session, 4)
    short = timedelta(seconds=5)
    claim_for_scoring(session, comments[0].id, "task-a", limit=3, lease=short)
    claim_for_scoring(session, comments[3].id, "task-b", limit=1, lease=short)
    session.commit()
    decided = session.get(Comment, comments[1].id)
    decided.status = Status.APPROVED.value  # decided in the batch: no longer waiting
    session.commit()

    renew(session, "task-a", LEASE)
    session.commit()
    session.expire_all()
    until = {c.id: session.get(Comment, c.id).claimed_until for c in comments}
    later = utcnow() + LEASE - timedelta(seconds=5)
    assert until[comments[0].id] > later and until[comments[2].id] > later
    assert until[comments[1].id] < later  # decided: left as it was
    assert until[comments[3].id] < later  # another task's claim: untouched


@pytest.fixture
def pg(postgresql_url: str) -> Iterator[Database]:
    db = Database(postgresql_url)
    yield db
    with db.session() as s:
        s.execute(sa.delete(Comment).where(Comment.body.like("race %")))
        s.commit()
    db.dispose()


def test_concurrent_claims_on_postgresql_never_overlap(pg: Database) -> None:
    with pg.session() as s:
        article = make_article(s)
        comments = [
            make_comment(
                s,
                article,
                status=Status.PENDING,
                body=f"race {i}",
                toxicity_queued_at=utcnow() - timedelta(seconds=100 - i),
            )
            for i in range(10)
        ]
        s.commit()
        everyone = [c.id for c in comments]
    with pg.session() as a, pg.session() as b:
        # a holds its rows (not committed yet) while b claims: b skips them, not waits
        first = claim_for_scoring(a, everyone[0], "task-a", limit=6, lease=LEASE)
        second = claim_for_scoring(b, everyone[9], "task-b", limit=6, lease=LEASE)
        b.commit()
        a.commit()
    taken_a, taken_b = set(ids(first.comments)), set(ids(second.comments))
    assert taken_a == set(everyone[:6])
    assert taken_b == set(everyone[6:])
