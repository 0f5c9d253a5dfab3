"""The toxicity task: it claims the comments waiting for the model and scores them.

A plain Celery task with the stock delivery rules (late acks, requeue when its process
dies, time limits, events, retries): no batching library. Its body claims the comment
it was sent for together with the oldest others waiting for the model
(:mod:`service.comments.claims`), scores them in one batch and decides each. A comment
sends a message only when none is on its way (``Dispatcher.ring``); under load the
waiting comments pile up while a batch is scored, so the next claim takes them all:
batches grow with the load and need no timer. A message whose comment was claimed or
decided meanwhile takes whatever else waits, or does nothing.

When a batch fails:

- a transient error (database or Redis blinked): Celery retries the task with backoff;
  the retry carries the same task id, so it finds its own claim and takes it back;
- anything else (a bug): the task fails (Flower shows it) after handing its comments
  back, each re-sent on its own a few seconds later;
- its process dies (SIGKILL, OOM, hard time limit): the message is delivered again
  and the same task id takes its claim back; if the message is gone too (the whole
  worker died with it), the claim's lease, renewed with every model call, runs out
  within TOXICITY_LEASE_S and the sweeper re-sends the comments.

A comment claimed before is retried on its own; after ``TOXICITY_MAX_ATTEMPTS`` claims
it is held for a person as ``scorer_failed``.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from billiard.exceptions import SoftTimeLimitExceeded
from celery import shared_task

from service.comments.claims import release
from service.dispatch import SCORE_TOXICITY
from workers.base import DELIVERY, AppTask
from workers.pipeline.stages import pipeline_for, score_and_decide
from workers.toxicity.analyze import GatedScorer, ModelGate, serve
from workers.toxicity.health import ScorerHolder
from workers.toxicity.scorer import ScorerUnavailable, ToxicityScorer

log = logging.getLogger(__name__)

SOFT_TIME_LIMIT_S = 120
TIME_LIMIT_S = 180
#: seconds before the comments of a failed batch are tried again, each on its own
RETRY_FAILED_AFTER_S = 5


class ToxicityTask(AppTask):
    """Holds this process's scorer; hands a failed batch's comments back."""

    abstract = True
    _scorer: ScorerHolder | None = None
    _vi_scorer: ScorerHolder | None = None
    _vi_checked = False
    _gate: ModelGate | None = None
    _scorer_lock = threading.Lock()

    @property
    def scorer(self) -> ScorerHolder:
        """This process's scorer holder (never created in the forking parent)."""
        with self._scorer_lock:  # the warm-up thread and the first task may race here
            if self._scorer is None:
                pool_size = self.app.conf.get("pool_size", 1)
                self._scorer = ScorerHolder.from_app(self.flask_app, pool_size=pool_size)
        return self._scorer

    @property
    def vi_scorer(self) -> ScorerHolder | None:
        """The Vietnamese model's holder in this process, or None when none is configured."""
        with self._scorer_lock:
            if not self._vi_checked:
                pool_size = self.app.conf.get("pool_size", 1)
                self._vi_scorer = ScorerHolder.vietnamese(self.flask_app, pool_size=pool_size)
                self._vi_checked = True
        return self._vi_scorer

    @property
    def gate(self) -> ModelGate:
        """This process's model gate: batches and analyze requests take turns by it."""
        with self._scorer_lock:
            if self._gate is None:
                self._gate = ModelGate()
        return self._gate

    def gated_scorer(self) -> ToxicityScorer:
        """The scorer as a batch uses it: each model call lets waiting analyze requests first."""
        return GatedScorer(self.scorer.get(), self.gate)

    def gated_vi_scorer(self) -> ToxicityScorer:
        """The Vietnamese model, as :meth:`gated_scorer`."""
        holder = self.vi_scorer
        if holder is None:
            raise ScorerUnavailable("TOXICITY_MODEL_VI is empty")
        return GatedScorer(holder.get(), self.gate)

    def serve_analyze(self) -> None:
        """Answer ``comments:analyze`` requests (a daemon thread of a fresh worker child)."""
        with self.flask_app.app_context():
            holder, vi_holder = self.scorer, self.vi_scorer
        detector = pipeline_for(self.flask_app).language  # the pipeline's rules, its settings
        detector.detect("load the language model now, not on the first request")
        try:
            serve(
                self.flask_app.extensions["redis"],
                holder.get,
                self.gate,
                detector.detect,
                threading.Event(),
                # Vietnamese goes to its own model, as in the pipeline; none: refused
                get_vi_scorer=vi_holder.get if vi_holder is not None else None,
            )
        except Exception:
            log.exception("the analyze request thread stopped")

    def warm_up(self) -> None:
        """Load this process's model, then keep reporting its state (a thread of a fresh
        worker child, for the child's life)."""
        holders = [self.scorer]
        if self.vi_scorer is not None:
            holders.append(self.vi_scorer)
        for holder in holders:  # the main model first: most comments wait for it
            try:
                with self.flask_app.app_context():
                    holder.get()
            except ScorerUnavailable:
                pass  # logged and published by the holder; batches hold comments meanwhile
            except Exception:
                log.exception(
                    "loading the toxicity model %s in the background failed", holder.scorer.name
                )
        if len(holders) > 1:
            threading.Thread(target=holders[1].report_forever, daemon=True).start()
        self.scorer.report_forever()

    def hand_back(self, token: str, exc: BaseException) -> None:
        """Release what ``token`` still holds and re-send each comment on its own."""
        session = self.session
        session.rollback()
        try:
            ids = release(session, token)
            session.commit()
        except Exception:
            session.rollback()
            log.exception("could not hand back the failed batch; its lease will run out")
            return
        log.error(
            "toxicity batch %s failed (%r); its %d comment(s) are retried alone in %d s",
            token,
            exc,
            len(ids),
            RETRY_FAILED_AFTER_S,
        )
        self.flask_app.extensions["dispatcher"].send(
            ids, SCORE_TOXICITY, countdown=RETRY_FAILED_AFTER_S
        )


@shared_task(
    name=SCORE_TOXICITY,
    **{
        **DELIVERY,
        "base": ToxicityTask,
        "soft_time_limit": SOFT_TIME_LIMIT_S,
        "time_limit": TIME_LIMIT_S,
    },
)
def score_toxicity(self: ToxicityTask, comment_id: str) -> None:
    """Score ``comment_id`` in a batch with the other comments waiting, and decide each."""
    token = self.request.id or comment_id
    try:
        outcome = score_and_decide(
            self.session,
            pipeline_for(self.flask_app),
            comment_id,
            self.gated_scorer,
            self.checkpoint,
            token=token,
            get_vi_scorer=self.gated_vi_scorer if self.vi_scorer is not None else None,
            # renewed with each model call: a live batch keeps it, a dead one loses it soon
            lease=timedelta(seconds=self.flask_app.config["SETTINGS"].toxicity_lease_s),
        )
    except self.autoretry_for:
        raise  # Celery retries with the same task id, which takes the claim back
    except (Exception, SoftTimeLimitExceeded) as exc:
        self.hand_back(token, exc)
        raise
    if outcome:
        log.info("toxicity batch of %d: %s", len(outcome), outcome)
