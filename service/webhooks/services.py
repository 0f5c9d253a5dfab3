"""The outbox and its delivery: an event written with each status change, POSTed after commit.

The event row commits with the status change or not at all; its id is sent to the
delivery task only after that commit, and the sweeper re-sends undelivered events whose
message was lost. Deliveries are at least once: the event id is the same on every retry.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import requests
import sqlalchemy as sa

from config import Settings
from service.comments.models import Comment
from service.comments.status import StatusListener
from service.db import Session, utcnow, uuid7
from service.dispatch import DELIVER_WEBHOOK, Dispatcher
from service.moderation.models import AuditEntry
from service.webhooks.models import EventState, WebhookEvent
from service.webhooks.signing import EVENT_HEADER, HEADER, sign

log = logging.getLogger(__name__)

#: Longest wait between two attempts at one event.
RETRY_MAX_S = 600


def status_listeners(settings: Settings, dispatcher: Dispatcher) -> list[StatusListener]:
    """What runs with every status change: the outbox writer when WEBHOOK_URL is set."""
    return [webhook_listener(dispatcher)] if settings.webhook_url else []


def webhook_listener(dispatcher: Dispatcher) -> StatusListener:
    """A status listener that writes a webhook event in the change's transaction."""

    def listener(session: Session, comment_id: uuid.UUID, entry: AuditEntry) -> None:
        comment = session.get(Comment, comment_id)
        event_id = uuid7()
        payload = {
            "id": str(event_id),
            "type": "comment.status_changed",
            "created_at": entry.created_at.isoformat(),
            "comment": {
                "id": str(comment_id),
                "article_id": comment.article.external_id if comment else None,
                "status": entry.to_status,
                "previous_status": entry.from_status,
                "version": comment.version if comment else None,
                "reason_code": entry.reason_code,
                "actor": entry.actor,
            },
        }
        session.add(WebhookEvent(id=event_id, comment_id=comment_id, payload=payload))
        dispatcher.after_commit(session, [event_id], task=DELIVER_WEBHOOK)

    return listener


def pending_webhook_ids(session: Session, grace: timedelta, limit: int) -> list[str]:
    """Undelivered webhook events older than ``grace``, oldest first (for the sweeper)."""
    rows = session.scalars(
        sa.select(WebhookEvent.id)
        .where(
            WebhookEvent.state == EventState.PENDING.value,
            WebhookEvent.created_at < utcnow() - grace,
        )
        .order_by(WebhookEvent.created_at)
        .limit(limit)
    )
    return [str(r) for r in rows]


def resend_lost_events(
    session: Session, dispatcher: Dispatcher, grace: timedelta, limit: int
) -> int:
    """Re-send undelivered events older than ``grace`` with no dispatch mark; how many."""
    events = dispatcher.unmarked(pending_webhook_ids(session, grace, limit))
    if events:
        dispatcher.send(events, DELIVER_WEBHOOK)
        log.warning("sweeper re-sent %d undelivered webhook event(s)", len(events))
    return len(events)


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt came to; ``retry_in_s`` is set when it must be retried."""

    outcome: str  # nothing_to_do, no_url, delivered, failed, retry
    retry_in_s: float | None = None


def deliver(
    session: Session,
    event_id: uuid.UUID,
    settings: Settings,
    *,
    before_send: Callable[[], None],
) -> Attempt:
    """POST one event to the site, signed, and record the attempt on the event.

    ``before_send`` runs just before the network call; the task passes its checkpoint,
    which ends the reading transaction: on SQLite an open transaction holds the only
    write lock, and a slow receiver would stall every POST.
    """
    event = session.get(WebhookEvent, event_id)
    if event is None or event.state != EventState.PENDING:
        return Attempt("nothing_to_do")  # delivered already (a duplicate message), or gone
    if not settings.webhook_url:
        # webhooks were switched off after this event was written: stop, say why
        event.state, event.last_error = EventState.FAILED.value, "WEBHOOK_URL is not set"
        log.warning("webhook event %s dropped: no WEBHOOK_URL is set", event_id)
        return Attempt("no_url")
    body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", EVENT_HEADER: str(event.id)}
    if settings.webhook_secret:
        headers[HEADER] = sign(settings.webhook_secret, body)
    before_send()
    try:
        response = requests.post(
            settings.webhook_url, data=body, headers=headers, timeout=settings.webhook_timeout_s
        )
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    event.attempts += 1
    if error is None:
        event.state, event.delivered_at, event.last_error = (
            EventState.DELIVERED.value,
            utcnow(),
            None,
        )
        return Attempt("delivered")
    event.last_error = error
    if event.attempts >= settings.webhook_max_attempts:
        event.state = EventState.FAILED.value
        log.error(
            "webhook event %s failed for good after %d attempts: %s",
            event_id,
            event.attempts,
            error,
        )
        return Attempt("failed")
    countdown = min(settings.webhook_retry_base_s * 2 ** (event.attempts - 1), RETRY_MAX_S)
    log.warning(
        "webhook event %s attempt %d failed (%s); retrying in %.0fs",
        event_id,
        event.attempts,
        error,
        countdown,
    )
    return Attempt("retry", countdown)
