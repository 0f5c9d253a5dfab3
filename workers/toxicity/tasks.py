"""The toxicity task: comments arrive one message each and are scored in batches."""

from __future__ import annotations

import logging
import threading
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded
from celery import shared_task

from workers.base import TRANSIENT_ERRORS, AppTask
from workers.pipeline.stages import pipeline_for, score_and_decide
from workers.toxicity.batching import SafeBatches
from workers.toxicity.health import ScorerHolder
from workers.toxicity.scorer import ScorerUnavailable

log = logging.getLogger(__name__)

RETRYABLE = (*TRANSIENT_ERRORS, SoftTimeLimitExceeded)


class ToxicityBatchTask(AppTask, SafeBatches):
    """One database transaction per batch; a retryable failure re-sends the batch's ids."""

    abstract = True
    batch_size_setting = "toxicity_batch_size"
    batch_wait_ms_setting = "toxicity_batch_wait_ms"
    max_retries = 8
    _scorer: ScorerHolder | None = None

    _scorer_lock = threading.Lock()

    @property
    def scorer(self) -> ScorerHolder:
        """This process's scorer holder (never created in the forking parent)."""
        with self._scorer_lock:  # the warm-up thread and the first batch may race here
            if self._scorer is None:
                app = self.flask_app
                pool_size = self.app.conf.get("pool_size", 1)
                self._scorer = ScorerHolder.from_app(app, pool_size=pool_size)
        return self._scorer

    def warm_up(self) -> None:
        """Load this process's model (in a thread of a fresh worker child)."""
        try:
            with self.flask_app.app_context():
                self.scorer.get()
        except ScorerUnavailable:
            pass  # logged and published by the holder; batches hold comments meanwhile
        except Exception:
            log.exception("loading the toxicity model in the background failed")

    def __call__(self, requests: Any) -> Any:
        try:
            return super().__call__(requests)
        except RETRYABLE as exc:
            # celery-batches would log this and acknowledge the batch; instead every
            # comment goes back on the queue with a backoff, like Task.retry would do.
            self._resend(requests, exc)
            return None

    def _resend(self, requests: Any, exc: BaseException) -> None:
        for request in requests:
            retries = int((request.request_dict or {}).get("retries") or 0) + 1
            if retries > self.max_retries:
                log.error(
                    "giving up on comment %s after %d retries (%r); the sweeper will re-send it",
                    request.args[0],
                    retries - 1,
                    exc,
                )
                continue
            countdown = min(2**retries, 120)
            log.warning(
                "toxicity batch failed (%r); comment %s retried in %ds",
                exc,
                request.args[0],
                countdown,
            )
            self.apply_async(args=request.args, countdown=countdown, retries=retries)


@shared_task(
    name="workers.toxicity.tasks.score_toxicity",
    base=ToxicityBatchTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # a hard time limit re-queues the batch too; the attempt counter stops a loop
    acks_on_failure_or_timeout=False,
    ignore_result=True,
    soft_time_limit=120,
    time_limit=180,
)
def score_toxicity(self: ToxicityBatchTask, requests: list[Any]) -> None:
    """Score a batch of comments (one message per comment id) and decide each."""
    ids = [request.args[0] for request in requests]
    outcome = score_and_decide(
        self.session, pipeline_for(self.flask_app), ids, self.scorer.get, self.checkpoint
    )
    log.info("toxicity batch of %d: %s", len(ids), outcome)
