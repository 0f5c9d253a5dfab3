"""The webhook delivery task: a thin wrapper; Celery owns the retries and their backoff.

It runs on the ``webhooks`` queue (config/celery.py routes ``workers.webhooks.*``), on a
worker of its own: a delivery waits on the site's server, never on a pipeline worker.
"""

from __future__ import annotations

import uuid

from celery import shared_task

from config.celery import WEBHOOKS_QUEUE
from service.webhooks import services
from workers.base import DELIVERY, AppTask


@shared_task(
    name="workers.webhooks.tasks.deliver_webhook",
    **{
        **DELIVERY,
        "retry_backoff": True,
        "retry_backoff_max": services.RETRY_MAX_S,
        "max_retries": None,  # the event's own attempt count decides when to stop
        "soft_time_limit": 60,
        "time_limit": 90,
    },
)
def deliver_webhook(self: AppTask, event_id: str) -> str:
    """POST one event to the site; a non-2xx answer or a network error retries later."""
    attempt = services.deliver(
        self.session,
        uuid.UUID(event_id),
        self.flask_app.config["SETTINGS"],
        before_send=self.checkpoint,
    )
    if attempt.retry_in_s is None:
        return attempt.outcome
    # still on its way: keep the sweeper from sending a second copy meanwhile
    self.flask_app.extensions["dispatcher"].mark([event_id], WEBHOOKS_QUEUE)
    # the base task commits the attempt before the retry is scheduled
    raise self.retry(countdown=attempt.retry_in_s)
