"""Webhooks: an outbox row in the status change's transaction, signed, retried until 2xx."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from celery.exceptions import Retry
from flask import Flask

import workers.webhooks.tasks  # noqa: F401 - registers the task
from config import SettingsError
from config.celery import DEFAULT_QUEUE, WEBHOOKS_QUEUE
from service import create_app
from service.articles.models import Article
from service.comments.models import Comment, Status
from service.comments.status import PIPELINE_ACTOR, change_status
from service.db import Session, utcnow, uuid7
from service.dispatch import DELIVER_WEBHOOK, PROCESS_COMMENT, QUEUE_OF, SCORE_TOXICITY
from service.moderation.models import AuditEntry
from service.webhooks import services
from service.webhooks.models import EventState, WebhookEvent
from service.webhooks.services import resend_lost_events
from service.webhooks.signing import sign, verify
from service.webhooks.targets import refusal, url_problem
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
def hooked(db_url: str, redis_url: str) -> Iterator[Callable[..., Flask]]:
    """Builds apps that send webhooks to a URL; the local receivers need ALLOW_PRIVATE."""
    apps: list[Flask] = []
    started = utcnow()

    def make(url: str, **overrides: Any) -> Flask:
        values = {
            "webhook_url": url,
            "webhook_secret": SECRET,
            "webhook_retry_base_s": 1,
            "webhook_allow_private": True,
            **overrides,
        }
        app = create_app(make_settings(db_url, redis_url, **values))
        apps.append(app)
        return app

    yield make
    if not apps:
        return
    # these tests commit through their own engine, outside the rolled-back test
    # transaction: remove what they wrote, or later test files count it
    db = apps[0].extensions["db"]
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
    for app in apps:
        app.extensions["db"].dispose()


@pytest.fixture
def hooked_app(hooked: Callable[..., Flask], receiver: WebhookReceiver) -> Flask:
    return hooked(receiver.url)


def reject_with_event(app: Flask) -> str:
    """A held comment rejected by a moderator, committed: the id of its webhook event."""
    db = app.extensions["db"]
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
            listeners=app.extensions["status_listeners"],
        )
    with db.session() as s:
        return str(
            s.scalars(sa.select(WebhookEvent.id).where(WebhookEvent.comment_id == comment.id)).one()
        )


def stored_event(app: Flask, event_id: str) -> WebhookEvent:
    with app.extensions["db"].session() as s:
        event = s.get(WebhookEvent, uuid.UUID(event_id))
        s.expunge(event)
    return event


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
        assert queued(redis_db, "webhooks") == []  # not before the commit
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
    # on the webhooks queue: never on `default`, where a slow site would hold up decisions
    [task] = queued(redis_db, "webhooks")
    assert (task.name, task.args) == ("workers.webhooks.tasks.deliver_webhook", [str(event.id)])
    assert queued(redis_db, "default") == []


def test_delivery_is_signed_and_retried_after_a_500(
    hooked_app: Flask, receiver: WebhookReceiver
) -> None:
    event_id = reject_with_event(hooked_app)
    deliver = hooked_app.extensions["celery"].tasks[DELIVER_WEBHOOK]
    with pytest.raises(Retry):
        deliver(event_id)  # the site answers 500
    event = stored_event(hooked_app, event_id)
    assert (event.state, event.attempts, event.last_error) == (EventState.PENDING, 1, "HTTP 500")
    assert deliver(event_id) == "delivered"
    assert deliver(event_id) == "nothing_to_do"  # a duplicate message is harmless

    deliveries = receiver.for_event(event_id)
    assert [d["status"] for d in deliveries] == [500, 200]
    for d in deliveries:
        assert verify(SECRET, d["body"], d["headers"]["X-Moderation-Signature"])
        assert json.loads(d["body"])["comment"]["status"] == "rejected"
    event = stored_event(hooked_app, event_id)
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
    assert queued(redis_db, "webhooks") == [QueuedTask(DELIVER_WEBHOOK, [lost])]
    assert queued(redis_db, "default") == []


# --- their own queue ----------------------------------------------------------------


def test_deliveries_are_routed_to_their_own_queue(app: Flask) -> None:
    # by the dispatcher (QUEUE_OF) and by Celery's own router (a retry, any other sender)
    router = app.extensions["celery"].amqp.router
    assert QUEUE_OF[DELIVER_WEBHOOK] == WEBHOOKS_QUEUE
    assert router.route({}, DELIVER_WEBHOOK)["queue"].name == WEBHOOKS_QUEUE
    # and nothing else moved: the pipeline stays where its workers are
    assert router.route({}, PROCESS_COMMENT)["queue"].name == DEFAULT_QUEUE
    assert router.route({}, SCORE_TOXICITY)["queue"].name == QUEUE_OF[SCORE_TOXICITY]


# --- redirects ----------------------------------------------------------------------


@pytest.mark.parametrize("code", [302, 307, 308])
def test_a_redirect_is_a_failed_attempt_never_followed(
    hooked: Callable[..., Flask], code: int
) -> None:
    elsewhere = WebhookReceiver(answer=lambda request: (200, {}))
    redirecting = WebhookReceiver(answer=lambda request: (code, {"Location": elsewhere.url}))
    try:
        app = hooked(redirecting.url, webhook_max_attempts=2)
        event_id = reject_with_event(app)
        deliver = app.extensions["celery"].tasks[DELIVER_WEBHOOK]
        with pytest.raises(Retry):
            deliver(event_id)
        event = stored_event(app, event_id)
        assert (event.state, event.attempts) == (EventState.PENDING, 1)
        assert event.last_error == (
            f"HTTP {code}: redirects are not followed (Location: {elsewhere.url!r})"
        )
        assert deliver(event_id) == "failed"  # the last attempt: given up, never delivered
        assert stored_event(app, event_id).state == EventState.FAILED
        assert [r["status"] for r in redirecting.for_event(event_id)] == [code, code]
        assert elsewhere.requests == []  # the signed body went nowhere else
    finally:
        elsewhere.close()
        redirecting.close()


# --- where a webhook may go ---------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),  # unique local (fc00::/7)
        ("fd12:3456::1", "private"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff0e::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("fec0::1", "site-local"),
        ("100.64.0.1", "not global"),  # shared address space (CGNAT)
        ("192.0.0.8", "not global"),
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),  # NAT64 of a public address
    ],
)
def test_which_addresses_are_refused(address: str, kind: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:8198/latest/meta-data/iam", "points at 127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "(link-local)"),
        ("http://[::1]:8000/hooks", "(loopback)"),
        ("http://127.1/hooks", "points at 127.0.0.1"),  # as the resolver reads it
        ("http://2130706433/hooks", "points at 127.0.0.1"),
        ("http://10.0.0.5/hooks", "(private)"),
        ("http://localhost:8000/hooks", "localhost"),
        ("http://hooks.localhost/", "localhost"),
    ],
)
def test_a_url_on_a_non_public_address_is_refused_unless_allowed(url: str, problem: str) -> None:
    assert problem in (url_problem(url, allow_private=False) or "")
    assert url_problem(url, allow_private=True) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://news.example/hooks", "must start with http:// or https://"),
        ("news.example/hooks", "must start with http:// or https://"),
        ("https:///hooks", "has no host"),
        ("https://news.example:port/hooks", "not a valid URL"),
    ],
)
def test_a_malformed_url_is_refused_even_when_private_is_allowed(url: str, problem: str) -> None:
    for allow_private in (False, True):
        assert problem in (url_problem(url, allow_private) or "")


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example/hooks",  # a name: checked at each delivery, not at start-up
        "https://93.184.216.34/hooks",
        "http://[2606:4700:4700::1111]:8080/hooks",
    ],
)
def test_a_public_url_passes_the_start_up_check(url: str) -> None:
    assert url_problem(url, allow_private=False) is None


def test_a_private_receiver_is_refused_at_start_up(
    db_url: str, redis_url: str, receiver: WebhookReceiver
) -> None:
    with pytest.raises(SettingsError) as refused:
        create_app(make_settings(db_url, redis_url, webhook_url=receiver.url))
    assert str(refused.value) == (
        f"WEBHOOK_URL {receiver.url!r} points at 127.0.0.1, which is not public (loopback); "
        "set WEBHOOK_ALLOW_PRIVATE=true if the site really is on a private network"
    )
    assert receiver.requests == []


def test_each_delivery_checks_every_address_the_name_resolves_to(
    hooked_app: Flask, receiver: WebhookReceiver
) -> None:
    # A name passes the start-up check (no DNS there); at delivery it resolves to the
    # receiver's loopback address, and with ALLOW_PRIVATE off nothing is sent.
    port = receiver.url.split(":")[2].split("/")[0]
    settings = dataclasses.replace(
        hooked_app.config["SETTINGS"],
        webhook_url=f"http://localhost:{port}/hooks/moderation",
        webhook_allow_private=False,
    )
    event_id = reject_with_event(hooked_app)
    with hooked_app.extensions["db"].session() as s:
        attempt = services.deliver(s, uuid.UUID(event_id), settings, before_send=s.commit)
        s.commit()
    assert attempt.outcome == "retry"
    event = stored_event(hooked_app, event_id)
    assert (event.state, event.attempts) == (EventState.PENDING, 1)
    assert event.last_error.startswith("refused: localhost resolves to ")
    assert "which is not public (loopback)" in event.last_error
    assert receiver.requests == []


def test_a_name_that_changes_after_the_check_is_refused_as_it_connects(
    hooked_app: Flask, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the name looked public when it was checked and resolves to
    # loopback by the time the connection is made. The connection goes only to an
    # address checked as it connects, so the receiver still gets nothing.
    monkeypatch.setattr(services, "resolution_problem", lambda url: None)
    settings = dataclasses.replace(hooked_app.config["SETTINGS"], webhook_allow_private=False)
    assert services.post(settings, b"{}", {}) == (
        "refused: connecting to 127.0.0.1, which is not public; "
        "set WEBHOOK_ALLOW_PRIVATE=true if the site really is on a private network"
    )
    assert receiver.requests == []
