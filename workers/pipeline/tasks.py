"""Pipeline tasks: thin wrappers that take ids, call services, and let the base commit."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import shared_task

from service.comments.claims import oldest_unclaimed, release_expired
from service.comments.services import stale_pending_ids
from service.dispatch import SCORE_TOXICITY
from service.webhooks.services import resend_lost_events
from workers.base import DELIVERY, AppTask
from workers.pipeline.stages import pipeline_for, run_cheap_stages

log = logging.getLogger(__name__)


@shared_task(name="workers.pipeline.tasks.process_comment", **DELIVERY)
def process_comment(self: AppTask, comment_id: str) -> None:
    """Run a pending comment through the stages before toxicity; a no-op once decided."""
    run_cheap_stages(self.session, pipeline_for(self.flask_app), uuid.UUID(comment_id))


@shared_task(name="workers.pipeline.tasks.sweep_pending", **{**DELIVERY, "max_retries": 0})
def sweep_pending(self: AppTask) -> int:
    """Re-send pending comments that lost their way (broker down, Redis wiped)."""
    settings = self.flask_app.config["SETTINGS"]
    dispatcher = self.flask_app.extensions["dispatcher"]
    stale = stale_pending_ids(
        self.session, timedelta(seconds=settings.sweeper_grace_s), settings.sweeper_batch
    )
    lost = dispatcher.unmarked(stale)
    if lost:
        sent = dispatcher.send(lost)
        log.warning(
            "sweeper re-enqueued %d of %d pending comment(s) with no dispatch mark",
            len(sent),
            len(lost),
        )
    # comments whose scoring claim ran out: the task holding them died with its message
    expired = release_expired(self.session, settings.sweeper_batch)
    if expired:
        self.session.commit()
        dispatcher.send(expired, SCORE_TOXICITY)
        log.warning("sweeper re-sent %d comment(s) whose scoring claim expired", len(expired))
    # comments waiting for the model with no task coming (a doorbell message was lost):
    # one message takes the oldest and whatever else waits
    waiting = oldest_unclaimed(self.session, timedelta(seconds=settings.sweeper_grace_s))
    if waiting is not None:
        dispatcher.send([waiting], SCORE_TOXICITY)
        log.warning("sweeper found comments waiting for the model with no task; sent one")
    # webhook events whose delivery message was lost, likewise
    resend_lost_events(
        self.session,
        dispatcher,
        timedelta(seconds=settings.sweeper_grace_s),
        settings.sweeper_batch,
    )
    return len(lost)
