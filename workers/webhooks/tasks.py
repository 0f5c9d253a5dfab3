"""Delivering webhook events from the outbox, signed, retried with backoff by Celery."""

from __future__ import annotations

import json
import logging
import uuid

import requests
from celery import shared_task

from service.db import utcnow
from service.moderation.models import WebhookEvent
from workers.base import DELIVERY, AppTask
from workers.webhooks.signing import EVENT_HEADER, HEADER, sign

log = logging.getLogger(__name__)


@shared_task(
    name="workers.webhooks.tasks.deliver_webhook",
    **{
        **DELIVERY,
        "retry_backoff": True,
        "retry_backoff_max": 600,
        "max_retries": None,  # the event's own attempt count decides when to stop
        "soft_time_limit": 60,
        "time_limit": 90,
    },
)
def deliver_webhook(self: AppTask, event_id: str) -> str:
    """POST one event to the site; a non-2xx answer or a network error retries later."""
    settings = self.flask_app.config["SETTINGS"]
    event = self.session.get(WebhookEvent, uuid.UUID(event_id))
    if event is None or event.state != "pending":
        return "nothing_to_do"  # delivered already (a duplicate message), or gone
    if not settings.webhook_url:
        # webhooks were switched off after this event was written: stop, say why
        event.state, event.last_error = "failed", "WEBHOOK_URL is not set"
        log.warning("webhook event %s dropped: no WEBHOOK_URL is set", event_id)
        return "no_url"
    body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", EVENT_HEADER: str(event.id)}
    if settings.webhook_secret:
        headers[HEADER] = sign(settings.webhook_secret, body)
    # End the reading transaction before the network call: on SQLite an open
    # transaction holds the only write lock, and a slow receiver would stall every POST.
    self.checkpoint()
    try:
        response = requests.post(
            settings.webhook_url, data=body, headers=headers, timeout=settings.webhook_timeout_s
        )
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    event.attempts += 1
    if error is None:
        event.state, event.delivered_at, event.last_error = "delivered", utcnow(), None
        return "delivered"
    event.last_error = error
    if event.attempts >= settings.webhook_max_attempts:
        event.state = "failed"
        log.error(
            "webhook event %s failed for good after %d attempts: %s",
            event_id,
            event.attempts,
            error,
        )
        return "failed"
    countdown = min(settings.webhook_retry_base_s * 2 ** (event.attempts - 1), 600)
    log.warning(
        "webhook event %s attempt %d failed (%s); retrying in %.0fs",
        event_id,
        event.attempts,
        error,
        countdown,
    )
    # still on its way: keep the sweeper from sending a second copy meanwhile
    self.flask_app.extensions["dispatcher"].mark([event_id])
    # the base task commits the attempt before the retry is scheduled
    raise self.retry(countdown=countdown)
