"""Webhooks: an outbox row in the status change's transaction, signed, retried until 2xx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis
import sqlalchemy as sa
from celery.exceptions import Retry
from flask import Flask

import workers.webhooks.tasks  # noqa: F401 - registers the task
from service import create_app
from service.articles.models import Article
from service.comments.models import Comment, Status
from service.comments.status import PIPELINE_ACTOR, change_status
from service.db import Session, utcnow, uuid7
from service.moderation.models import AuditEntry
from service.webhooks.models import EventState, WebhookEvent
from service.webhooks.services import resend_lost_events
from service.webhooks.signing import sign, verify
from tests.conftest import make_settings
from tests.factories import make_article, make_comment
from tests.helpers import QueuedTask, WebhookReceiver, queued

SECRET = "whsec-test"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def hooked_app(db_url: str, redis_url: str, receiver: WebhookReceiver) -> Iterator[Flask]:
    app = create_app(
        make_settings(
            db_url,
            redis_url,
            webhook_url=receiver.url,
            webhook_secret=SECRET,
            webhook_retry_base_s=1,
        )
    )
    started = utcnow()
    yield app
    # these tests commit through their own engine, outside the rolled-back test
    # transaction: remove what they wrote, or later test files count it
    db = app.extensions["db"]
    with db.session() as s:
        made = s.execute(
            sa.select(Comment.id, Comment.article_id).where(Comment.created_at >= started)
        ).all()
        ids = [comment_id for comment_id, _ in made]
        s.execute(sa.delete(WebhookEvent).where(WebhookEvent.comment_id.in_(ids)))
        s.execute(sa.delete(AuditEntry).where(AuditEntry.comment_id.in_(ids)))
        s.execute(sa.delete(Comment).where(Comment.id.in_(ids)))
        s.execute(sa.delete(Article).where(Article.id.in_({a for _, a in made})))
        s.commit()
    db.dispose()


def test_signature_round_trip() -> None:
    body = b'{"a":1}'
    header = sign(SECRET, body)
    assert verify(SECRET, body, header)
    assert not verify(SECRET, b'{"a":2}', header)
    assert not verify("other", body, header)
    assert not verify(SECRET, body, sign(SECRET, body, int(time.time()) - 3600))  # replayed
    assert not verify(SECRET, body, "garbage")


def test_status_change_writes_an_event_and_sends_it_after_commit(
    hooked_app: Flask, redis_db
) -> None:
    db = hooked_app.extensions["db"]
    with db.session() as s:
        comment = make_comment(s, make_article(s), status=Status.PENDING)
        article_id = comment.article.external_id
    with db.session() as s:
        change_status(
            s,
            comment.id,
            to_status=Status.APPROVED,
            actor=PIPELINE_ACTOR,
            reason_code="below_thresholds",
            listeners=hooked_app.extensions["status_listeners"],
        )
        s.flush()
        assert queued(redis_db, "default") == []  # not before the commit
    with db.session() as s:
        event = s.scalars(
            sa.select(WebhookEvent).where(WebhookEvent.comment_id == comment.id)
        ).one()
        assert event.payload["comment"] == {
            "id": str(comment.id),
            "article_id": article_id,
            "status": "approved",
            "previous_status": "pending",
            "version": 2,
            "reason_code": "below_thresholds",
            "actor": "system:pipeline",
        }
        assert event.payload["type"] == "comment.status_changed"
    [task] = queued(redis_db, "default")
    assert (task.name, task.args) == ("workers.webhooks.tasks.deliver_webhook", [str(event.id)])


def test_delivery_is_signed_and_retried_after_a_500(
    hooked_app: Flask, receiver: WebhookReceiver
) -> None:
    db = hooked_app.extensions["db"]
    with db.session() as s:
        comment = make_comment(s, make_article(s), status=Status.HELD)
    with db.session() as s:
        change_status(
            s,
            comment.id,
            to_status=Status.REJECTED,
            actor="moderator:alice",
            from_statuses=[Status.HELD],
            reason_code="spam",
            listeners=hooked_app.extensions["status_listeners"],
        )
    with db.session() as s:
        event_id = str(
            s.scalars(sa.select(WebhookEvent.id).where(WebhookEvent.comment_id == comment.id)).one()
        )

    deliver = hooked_app.extensions["celery"].tasks["workers.webhooks.tasks.deliver_webhook"]
    with pytest.raises(Retry):
        deliver(event_id)  # the site answers 500
    with db.session() as s:
        event = s.get(WebhookEvent, __import__("uuid").UUID(event_id))
        assert (event.state, event.attempts, event.last_error) == (
            EventState.PENDING,
            1,
            "HTTP 500",
        )
    assert deliver(event_id) == "delivered"
    assert deliver(event_id) == "nothing_to_do"  # a duplicate message is harmless

    deliveries = receiver.for_event(event_id)
    assert [d["status"] for d in deliveries] == [500, 200]
    for d in deliveries:
        assert verify(SECRET, d["body"], d["headers"]["X-Moderation-Signature"])
        assert json.loads(d["body"])["comment"]["status"] == "rejected"
    with db.session() as s:
        event = s.get(WebhookEvent, __import__("uuid").UUID(event_id))
        assert (event.state, event.attempts) == (EventState.DELIVERED, 2)
        assert event.delivered_at is not None


def test_sweeper_resends_only_old_unmarked_pending_events(
    app: Flask, session: Session, redis_db: redis.Redis
) -> None:
    comment = make_comment(session, make_article(session), status=Status.APPROVED)
    old = utcnow() - timedelta(hours=1)

    def event(state: EventState, created_at: datetime) -> str:
        row = WebhookEvent(
            id=uuid7(), comment_id=comment.id, payload={}, state=state, created_at=created_at
        )
        session.add(row)
        return str(row.id)

    lost = event(EventState.PENDING, old)
    marked = event(EventState.PENDING, old)  # its message is still on its way
    event(EventState.PENDING, utcnow())  # recent: within the grace period
    event(EventState.DELIVERED, old)
    event(EventState.FAILED, old)
    session.commit()
    dispatcher = app.extensions["dispatcher"]
    dispatcher.mark([marked])

    assert resend_lost_events(session, dispatcher, timedelta(minutes=1), 100) == 1
    assert queued(redis_db, "default") == [
        QueuedTask("workers.webhooks.tasks.deliver_webhook", [lost])
    ]
