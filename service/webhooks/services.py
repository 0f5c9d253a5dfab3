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
import requests_hardened
import sqlalchemy as sa
from requests_hardened.ip_filter import InvalidIPAddress

from config import Settings, SettingsError
from service.comments.models import Comment
from service.comments.status import StatusListener
from service.db import Session, utcnow, uuid7
from service.dispatch import DELIVER_WEBHOOK, Dispatcher
from service.moderation.models import AuditEntry
from service.webhooks.models import EventState, WebhookEvent
from service.webhooks.signing import EVENT_HEADER, HEADER, sign
from service.webhooks.targets import ALLOW_HINT, resolution_problem, url_problem

log = logging.getLogger(__name__)

#: Longest wait between two attempts at one event.
RETRY_MAX_S = 600


def status_listeners(settings: Settings, dispatcher: Dispatcher) -> list[StatusListener]:
    """What runs with every status change: the outbox writer when WEBHOOK_URL is set."""
    if not settings.webhook_url:
        return []
    check_webhook_url(settings)
    return [webhook_listener(dispatcher)]


def check_webhook_url(settings: Settings) -> None:
    """Refuse, at start-up, a WEBHOOK_URL that is not http(s) or names a non-public address."""
    problem = url_problem(settings.webhook_url, settings.webhook_allow_private)
    if problem:
        hint = "" if settings.webhook_allow_private else f"; {ALLOW_HINT}"
        raise SettingsError(f"WEBHOOK_URL {settings.webhook_url!r} {problem}{hint}")


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
    error = post(settings, body, headers)
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


def post(settings: Settings, body: bytes, headers: dict[str, str]) -> str | None:
    """POST ``body`` to WEBHOOK_URL once; None when the site answered 2xx, else why not.

    Redirects are never followed: a 3xx is a failed attempt (following one would send
    the signed body wherever the receiver points, and call it delivered). Unless
    WEBHOOK_ALLOW_PRIVATE is on, every address the host resolves to must be public, and
    the connection goes to an address checked as it connects (targets.py: DNS rebinding).
    """
    url = settings.webhook_url
    if not settings.webhook_allow_private:
        problem = resolution_problem(url)
        if problem:
            return f"{problem}; {ALLOW_HINT}"[:500]
    timeout = settings.webhook_timeout_s
    client = requests_hardened.Manager(
        requests_hardened.Config(
            ip_filter_enable=not settings.webhook_allow_private,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            default_timeout=(timeout, timeout),
        )
    )
    try:
        with (
            client.get_session() as session,
            # stream: the status line and headers are all we read, never a body
            session.post(
                url, data=body, headers=headers, allow_redirects=False, stream=True
            ) as response,
        ):
            status = response.status_code
            location = response.headers.get("Location", "")
    except InvalidIPAddress as exc:
        # the name resolved elsewhere between our check and the connection
        return f"refused: connecting to {exc}, which is not public; {ALLOW_HINT}"[:500]
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed (Location: {location!r})"[:500]
    return f"HTTP {status}"
