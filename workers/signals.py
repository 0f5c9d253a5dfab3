"""Worker process lifecycle: what each process must do after Celery forks it."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import current_app, signals

from config import Settings

log = logging.getLogger(__name__)


@signals.celeryd_init.connect
def _check_batch_prefetch(
    sender: Any = None, conf: Any = None, options: Any = None, **_: Any
) -> None:
    # A toxicity worker that prefetches fewer messages than a batch never fills one:
    # each batch waits out TOXICITY_BATCH_WAIT_MS with what it has. Say so at start.
    options = options or {}
    queues = options.get("queues") or ""
    queues = queues.split(",") if isinstance(queues, str) else list(queues)
    if "toxicity" not in queues:
        return
    if conf is not None:
        conf.toxicity_worker = True  # children load the model as soon as they start
    settings = Settings.from_env()
    held = int(options.get("prefetch_multiplier") or 1) * int(options.get("concurrency") or 1)
    if held < settings.toxicity_batch_size:
        log.warning(
            "toxicity worker holds at most %d messages but batches are %d: set "
            "--prefetch-multiplier (MODERATION_TOXICITY_PREFETCH) to at least the batch size",
            held,
            settings.toxicity_batch_size,
        )


@signals.worker_init.connect
def _remember_pool_size(sender: Any = None, **_: Any) -> None:
    # Children read it to split the cores between them (torch threads per child).
    if sender is not None and getattr(sender, "concurrency", None):
        sender.app.conf.pool_size = int(sender.concurrency)


@signals.worker_process_init.connect
def _reset_connections_after_fork(**_: Any) -> None:
    # A pooled database connection inherited from the parent must never be used by
    # two processes; drop the inherited pool without closing the parent's sockets.
    # (redis-py notices the fork by itself.) Must return fast: no model loading here.
    flask_app = getattr(current_app, "flask_app", None)
    if flask_app is not None:
        flask_app.extensions["db"].engine.dispose(close=False)
    if current_app.conf.get("toxicity_worker"):
        # Load the model now, beside the worker's own start-up, rather than on the first
        # batch: a thread, since this handler must return within 4 s. Loading (never
        # predicting) in the child is safe; the first batch waits on the same lock.
        task = current_app.tasks["workers.toxicity.tasks.score_toxicity"]
        threading.Thread(target=task.warm_up, name="load-toxicity-model", daemon=True).start()
