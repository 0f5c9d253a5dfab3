"""Enqueue after commit, and nothing lost when the broker is down: the sweeper catches up."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from kombu.exceptions import OperationalError as KombuOperationalError

import workers.pipeline.tasks  # noqa: F401 - registers the tasks on every Celery app
from service import create_app
from service.articles.models import Article
from service.comments import services
from service.comments.models import Comment, Status
from service.db import Session, utcnow
from service.dispatch import PROCESS_COMMENT, QUEUE_OF, Dispatcher
from tests.conftest import make_settings
from tests.factories import make_article, make_comment
from tests.helpers import PrivateRedis, queued, wait_for

GOOD = {"author_id": "u1", "author_name": "Lan", "body": "Hello there"}


def test_id_is_sent_only_after_commit(app: Flask, session: Session, redis_db: redis.Redis) -> None:
    dispatcher = app.extensions["dispatcher"]
    submission = services.submit_comment(session, dispatcher, "a1", dict(GOOD))
    session.flush()
    assert queued(redis_db, "default") == []  # stored, not yet committed: nothing sent
    session.commit()
    [task] = queued(redis_db, "default")
    assert task.name == PROCESS_COMMENT
    assert task.args == [str(submission.comment.id)]  # the id only, never the object
    assert redis_db.exists(Dispatcher.MARK_PREFIX + str(submission.comment.id))


def test_nothing_is_sent_when_the_transaction_rolls_back(
    app: Flask, session: Session, redis_db: redis.Redis
) -> None:
    services.submit_comment(session, app.extensions["dispatcher"], "a1", dict(GOOD))
    session.flush()
    session.rollback()
    session.commit()
    assert queued(redis_db, "default") == []


def test_post_sends_exactly_one_message(client: FlaskClient, redis_db: redis.Redis) -> None:
    comment_id = client.post("/v1/articles/a1/comments", json=GOOD).get_json()["id"]
    # a retried POST (same Idempotency-Key) does not send the comment again
    client.post("/v1/articles/a2/comments", json=GOOD, headers={"Idempotency-Key": "k"})
    client.post("/v1/articles/a2/comments", json=GOOD, headers={"Idempotency-Key": "k"})
    tasks = queued(redis_db, "default")
    assert len(tasks) == 2
    assert tasks[0].args == [comment_id]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    yield server
    server.stop()


def _app_on(db_url: str, broker: PrivateRedis, **overrides: object) -> Flask:
    settings = make_settings(
        db_url, broker.url, enqueue_timeout_s=0.5, sweeper_grace_s=0, **overrides
    )
    return create_app(settings)


def test_broker_down_then_sweeper_enqueues(db_url: str, private_redis: PrivateRedis) -> None:
    """Redis is not running when the comment arrives; it is sent once Redis is back."""
    api = _app_on(db_url, private_redis)  # Redis not started: the broker is down
    client = api.test_client()
    response = client.post("/v1/articles/outage/comments", json=GOOD)
    assert response.status_code == 202
    comment_id = response.get_json()["id"]
    assert response.get_json()["status"] == "pending"
    # while the breaker is open, later comments skip the broker at once and are kept too
    assert client.post("/v1/articles/outage/comments", json=GOOD).status_code == 202

    db = api.extensions["db"]
    with db.session() as s:
        stored = s.get(Comment, uuid.UUID(comment_id))
        assert stored is not None and stored.status == Status.PENDING

    private_redis.start()  # Redis is back, empty
    # the sweeper runs in another process (a worker on beat): a separate app
    worker = _app_on(db_url, private_redis)
    sweep = worker.extensions["celery"].tasks["workers.pipeline.tasks.sweep_pending"]
    try:
        assert sweep() >= 2
        tasks = queued(private_redis.client(), "default")
        sent = {t.args[0] for t in tasks if t.name == PROCESS_COMMENT}
        assert comment_id in sent
        # marked now: the next sweep does not send it again
        assert sweep() == 0
        assert len(queued(private_redis.client(), "default")) == len(tasks)
    finally:
        with db.session() as s:
            s.execute(sa.delete(Comment).where(Comment.article.has(external_id="outage")))
            s.execute(sa.delete(Article).where(Article.external_id == "outage"))
        api.extensions["db"].dispose()
        worker.extensions["db"].dispose()


def test_sweeper_leaves_recent_and_marked_comments_alone(
    app: Flask, session: Session, redis_db: redis.Redis
) -> None:
    article = make_article(session)
    old = make_comment(
        session, article, status=Status.PENDING, created_at=utcnow() - timedelta(hours=1)
    )
    old_marked = make_comment(
        session, article, status=Status.PENDING, created_at=utcnow() - timedelta(hours=1)
    )
    make_comment(session, article, status=Status.PENDING)  # recent: within the grace period
    make_comment(session, article, status=Status.HELD, created_at=utcnow() - timedelta(hours=1))
    # waiting for the model, unmarked: the model's stage sees it through (claims), the
    # cheap stages are not run again
    make_comment(
        session,
        article,
        status=Status.PENDING,
        created_at=utcnow() - timedelta(hours=1),
        toxicity_queued_at=utcnow() - timedelta(minutes=59),
    )
    session.commit()
    dispatcher = app.extensions["dispatcher"]
    dispatcher.mark([str(old_marked.id)])

    sweep = app.extensions["celery"].tasks["workers.pipeline.tasks.sweep_pending"]
    assert sweep() == 1
    assert [t.args for t in queued(redis_db, "default")] == [[str(old.id)]]


def test_a_message_lost_in_transit_is_resent_at_the_next_sweep(
    app: Flask, session: Session, redis_db: redis.Redis, redis_url: str
) -> None:
    """A consumer that died with a BRPOP pending (its socket not yet closed by the
    kernel) swallows the next message: the sweeper re-sends it once the queue is empty,
    not after the queued mark's 16 minutes; a message still queued is left alone."""
    article = make_article(session)
    old = timedelta(hours=1)
    lost, waiting = (
        make_comment(session, article, status=Status.PENDING, created_at=utcnow() - old)
        for _ in range(2)
    )
    session.commit()
    dispatcher = app.extensions["dispatcher"]
    sweep = app.extensions["celery"].tasks["workers.pipeline.tasks.sweep_pending"]

    # a dead consumer: a connection blocked in BRPOP on the queue that never reads
    zombie = redis.Connection(**redis.Redis.from_url(redis_url).get_connection_kwargs())
    zombie.connect()
    try:
        zombie.send_command("BRPOP", "default", 0)
        wait_for(
            lambda: any(c.get("cmd") == "brpop" for c in redis_db.client_list()),
            10,
            what="the zombie BRPOP",
        )
        assert dispatcher.send([str(lost.id)]) == [str(lost.id)]
        assert queued(redis_db, "default") == []  # Redis handed it to the dead consumer
    finally:
        zombie.disconnect()
    assert redis_db.get(Dispatcher.MARK_PREFIX + str(lost.id)) == b"default"

    dispatcher.send([str(waiting.id)])  # queued behind a backlog: its mark holds
    assert sweep() == 0
    redis_db.delete("default")  # the backlog drains and that message is lost too
    assert sweep() == 2
    assert sorted(t.args[0] for t in queued(redis_db, "default")) == sorted(
        [str(lost.id), str(waiting.id)]
    )
    assert sweep() == 0  # queued again: left alone


def test_held_and_unnamed_marks_hold_while_the_queue_is_empty(
    app: Flask, session: Session, redis_db: redis.Redis
) -> None:
    article = make_article(session)
    held, unnamed = (
        make_comment(
            session, article, status=Status.PENDING, created_at=utcnow() - timedelta(hours=1)
        )
        for _ in range(2)
    )
    session.commit()
    dispatcher = app.extensions["dispatcher"]
    dispatcher.hold([str(held.id)])  # a live worker has its message
    dispatcher.mark([str(unnamed.id)])  # queued where the sender did not say
    assert queued(redis_db, "default") == []
    assert dispatcher.unmarked([str(held.id), str(unnamed.id)]) == []


def test_the_doorbell_sends_one_toxicity_message_until_a_task_answers(
    app: Flask, redis_db: redis.Redis
) -> None:
    dispatcher = app.extensions["dispatcher"]
    first, second, third = (str(uuid.uuid4()) for _ in range(3))
    dispatcher.ring(first)
    dispatcher.ring(second)  # a message is on its way: it will claim this one too
    assert [t.args for t in queued(redis_db, "toxicity")] == [[first]]
    assert redis_db.exists(Dispatcher.MARK_PREFIX + second)  # the sweeper leaves it be
    dispatcher.answer()  # that task starts, before it claims
    dispatcher.ring(third)
    assert [t.args for t in queued(redis_db, "toxicity")] == [[first], [third]]
    assert redis_db.ttl(Dispatcher.DOORBELL) <= Dispatcher.DOORBELL_TTL_S


def test_a_doorbell_that_cannot_be_read_still_sends(app: Flask, redis_db: redis.Redis) -> None:
    dispatcher = app.extensions["dispatcher"]
    real = dispatcher.redis

    class Broken:
        def set(self, *_: object, **__: object) -> None:
            raise redis.ConnectionError("doorbell down")

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    dispatcher.redis = Broken()
    try:
        dispatcher.ring("c1")
        dispatcher.ring("c2")
    finally:
        dispatcher.redis = real
    assert [t.args for t in queued(redis_db, "toxicity")] == [["c1"], ["c2"]]


def test_sweeper_sends_a_task_for_comments_waiting_with_none_coming(
    app: Flask, session: Session, redis_db: redis.Redis
) -> None:
    article = make_article(session)
    long_ago = utcnow() - timedelta(hours=1)
    oldest = make_comment(
        session, article, status=Status.PENDING, created_at=long_ago, toxicity_queued_at=long_ago
    )
    make_comment(
        session, article, status=Status.PENDING, created_at=long_ago, toxicity_queued_at=utcnow()
    )
    session.commit()
    app.extensions["dispatcher"].mark([str(c) for c in session.scalars(sa.select(Comment.id))])
    sweep = app.extensions["celery"].tasks["workers.pipeline.tasks.sweep_pending"]
    sweep()
    # one message: its task claims the oldest and whatever else waits
    assert [t.args for t in queued(redis_db, "toxicity")] == [[str(oldest.id)]]


def test_every_dispatched_task_name_exists_in_the_worker(app: Flask) -> None:
    celery = app.extensions["celery"]
    celery.loader.import_default_modules()  # the task modules a worker imports (conf.imports)
    registered = celery.tasks
    for name in QUEUE_OF:
        assert name in registered, name


def test_the_mark_is_written_before_the_message_leaves_and_dropped_if_it_does_not(
    app: Flask, redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = app.extensions["dispatcher"]
    marked_when_sent: list[bool] = []

    def send_task(name: str, args: list[str], **_: object) -> None:
        if args[0] == "lost":
            raise KombuOperationalError("broker went away")
        marked_when_sent.append(bool(redis_db.exists(Dispatcher.MARK_PREFIX + args[0])))

    monkeypatch.setattr(dispatcher.celery, "send_task", send_task)
    try:
        assert dispatcher.send(["sent", "lost"]) == ["sent"]
    finally:
        dispatcher._broken_until = 0.0  # the app outlives this test
    # a worker may receive a message at once: its mark must already be there
    assert marked_when_sent == [True]
    assert redis_db.ttl(Dispatcher.MARK_PREFIX + "sent") > dispatcher.hold_ttl_s
    assert not redis_db.exists(Dispatcher.MARK_PREFIX + "lost")  # the sweeper may take it


def test_a_received_message_has_a_short_mark_and_renewing_never_shortens_one(
    app: Flask, redis_db: redis.Redis
) -> None:
    dispatcher = app.extensions["dispatcher"]

    def key(comment_id: str) -> str:
        return Dispatcher.MARK_PREFIX + comment_id

    dispatcher.mark(["held", "queued"])  # both sent: the long, queued-message mark
    dispatcher.hold(["held"])  # a worker received "held"
    assert 0 < redis_db.ttl(key("held")) <= dispatcher.hold_ttl_s
    assert redis_db.ttl(key("queued")) > dispatcher.hold_ttl_s

    redis_db.pexpire(key("held"), 500)  # about to run out: renewed in time
    dispatcher.renew(["held", "queued", "gone"])
    assert dispatcher.hold_ttl_s - 2 < redis_db.ttl(key("held")) <= dispatcher.hold_ttl_s
    # a longer mark is a queued message's (the next one for the same id): left as it is
    assert redis_db.ttl(key("queued")) > dispatcher.hold_ttl_s
    # a mark Redis lost while the worker still holds the message comes back
    assert 0 < redis_db.ttl(key("gone")) <= dispatcher.hold_ttl_s
