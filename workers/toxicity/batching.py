"""Batched Celery tasks with the delivery guarantees of ordinary ones.

celery-batches gathers messages in the worker's consumer and hands them to the pool
as one call, which is what a model wants. As shipped it drops what makes our tasks
safe: it acknowledges a batch even when the child running it died (the comments of
that batch would wait for the sweeper), ignores time limits, and sends no task events
(Flower would show the tasks as sent forever). :class:`SafeBatches` puts those back by
driving each message's own Celery ``Request`` through the pool's callbacks, exactly as
Celery does for a single task:

- accepted by a child: ``task-started`` (and the early ack, for tasks without acks_late);
- returned: ``task-succeeded`` and the late ack;
- child lost (SIGKILL, OOM) or hard time limit: ``Request.on_failure``, which with
  ``reject_on_worker_lost`` re-queues every message of the batch for another child.

Batch size and wait come from the app's settings, so ops tune them without code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from celery import signals
from celery.app.task import Task
from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task

log = logging.getLogger(__name__)


class SafeBatches(Batches):
    """A celery-batches task with late acks, requeue on worker loss, limits and events."""

    abstract = True
    #: names of the settings that size a batch (read when the worker starts consuming)
    batch_size_setting: str | None = None
    batch_wait_ms_setting: str | None = None

    def Strategy(self, task: Task, app: Any, consumer: Any) -> Callable[..., None]:
        # Called again each time the consumer reconnects to the broker. celery-batches
        # keeps its flush timer from the old connection, whose timer is gone: the
        # buffer would then flush only when full. Start afresh instead; messages
        # buffered on the dead connection were never acknowledged, so the broker
        # (or the sweeper) delivers them again.
        if self._tref is not None:
            self._tref.cancel()
            self._tref = None
        for queue in (self._buffer, self._pending):
            while not queue.empty():
                queue.get_nowait()
        settings = getattr(app, "flask_app", None)
        if settings is not None:
            conf = settings.config["SETTINGS"]
            if self.batch_size_setting:
                self.flush_every = int(getattr(conf, self.batch_size_setting))
            if self.batch_wait_ms_setting:
                self.flush_interval = getattr(conf, self.batch_wait_ms_setting) / 1000.0
        log.info(
            "%s: batches of up to %d, flushed at least every %.0f ms",
            self.name,
            self.flush_every,
            self.flush_interval * 1000,
        )
        return super().Strategy(task, app, consumer)

    def flush(self, requests: Collection[Request]) -> Any:
        requests = list(requests)
        serializable = ([SimpleRequest.from_request(r) for r in requests],)
        started: list[float] = []

        def on_accepted(pid: int, time_accepted: float) -> None:
            started.append(time.monotonic())
            for request in requests:
                request.on_accepted(pid, time_accepted)

        def on_return(_result: Any) -> None:
            runtime = time.monotonic() - started[0] if started else 0.0
            for request in requests:
                request.on_success((False, None, runtime))

        def on_error(exc_info: Any) -> None:
            log.error(
                "%s: batch of %d failed in the pool (%r); handing each message back",
                self.name,
                len(requests),
                getattr(exc_info, "exception", exc_info),
            )
            for request in requests:
                request.on_failure(exc_info)

        def on_timeout(soft: bool, timeout: float) -> None:
            for request in requests:
                request.on_timeout(soft, timeout)

        return self._pool.apply_async(
            apply_batches_task,
            (self, serializable, 0, None),
            accept_callback=on_accepted,
            callback=on_return,
            error_callback=on_error,
            timeout_callback=on_timeout,
            soft_timeout=self.soft_time_limit,
            timeout=self.time_limit,
        )


@signals.task_received.connect
def _announce_batched(sender: Any = None, request: Request | None = None, **_: Any) -> None:
    """celery-batches buffers messages without the ``task-received`` event Flower needs."""
    if request is None or not isinstance(request.task, SafeBatches):
        return
    request.send_event(
        "task-received",
        name=request.name,
        args=request.argsrepr,
        kwargs=request.kwargsrepr,
        root_id=request.root_id,
        parent_id=request.parent_id,
        retries=request.request_dict.get("retries", 0),
        eta=request.eta and request.eta.isoformat(),
        expires=request.expires and request.expires.isoformat(),
    )
