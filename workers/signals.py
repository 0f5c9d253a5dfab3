"""Worker process lifecycle: what each process must do after Celery forks it."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import current_app, signals

from config.celery import TOXICITY_QUEUE
from service.dispatch import SCORE_TOXICITY

log = logging.getLogger(__name__)


@signals.celeryd_init.connect
def _mark_toxicity_worker(
    sender: Any = None, conf: Any = None, options: Any = None, **_: Any
) -> None:
    # A worker consuming the toxicity queue: its children load the model as they start.
    queues = (options or {}).get("queues") or ""
    queues = queues.split(",") if isinstance(queues, str) else list(queues)
    if TOXICITY_QUEUE in queues and conf is not None:
        conf.toxicity_worker = True


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
        nice = flask_app.config["SETTINGS"].toxicity_nice if flask_app is not None else 0
        if nice:
            # Before the threads start: torch's threads inherit the niceness.
            os.nice(nice)
        # Load the model now, beside the worker's own start-up, rather than on the first
        # batch: a thread, since this handler must return within 4 s. Loading (never
        # predicting) in the child is safe; the first batch waits on the same lock. The
        # thread then reports the scorer's state for as long as the child lives.
        task = current_app.tasks[SCORE_TOXICITY]
        threading.Thread(target=task.warm_up, name="toxicity-scorer", daemon=True).start()
        # comments:analyze requests, served by this process's model between batch calls
        threading.Thread(target=task.serve_analyze, name="analyze-requests", daemon=True).start()
