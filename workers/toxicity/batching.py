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

It also changes *when* a batch leaves. celery-batches flushes on its timer whatever
has arrived, even while every pool process is still busy with the previous batch: the
pool then queues many small batches, and a model that is fastest on large sorted
batches is fed handfuls (measured: 4-5 comments a batch under load). Here a batch
leaves only when a pool process is free; meanwhile it keeps growing (up to the batch
size), and a finishing batch immediately sends the next.

Batch size and wait come from the app's settings, so ops tune them without code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from queue import Empty
from typing import Any

from celery import signals
from celery.app.task import Task
from celery.utils.time import timezone
from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task
from kombu.asynchronous.timer import to_timestamp

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
        self._in_flight = 0
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

    _in_flight = 0

    def _due(self, request: Request) -> bool:
        if not request.eta:
            return True
        if request.utc:
            eta = to_timestamp(timezone.to_system(request.eta))
        else:
            eta = to_timestamp(request.eta, self.app.timezone)
        return eta <= time.monotonic()

    def _take(self, limit: int) -> list[Request]:
        """Up to ``limit`` requests that may run now, oldest (retries) first."""
        ready: list[Request] = []
        later: list[Request] = []
        for source in (self._pending, self._buffer):
            while len(ready) < limit:
                try:
                    request = source.get_nowait()
                except Empty:
                    break
                (ready if self._due(request) else later).append(request)
        for request in later:
            self._pending.put(request)
        return ready

    def _do_flush(self) -> None:
        slots = max(1, int(getattr(self._pool, "num_processes", 1) or 1))
        if self._in_flight >= slots:
            return  # every process is scoring: let the batch grow, a finishing one flushes
        ready = self._take(self.flush_every)
        if ready:
            self.flush(ready)
        elif self._pending.empty() and self._buffer.empty() and self._tref is not None:
            self._tref.cancel()  # nothing waiting: the next message restarts the timer
            self._tref = None

    def _finished(self) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        if not (self._buffer.empty() and self._pending.empty()):
            self._do_flush()

    def flush(self, requests: Collection[Request]) -> Any:
        requests = list(requests)
        self._in_flight += 1
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
            self._finished()

        def on_error(exc_info: Any) -> None:
            log.error(
                "%s: batch of %d failed in the pool (%r); handing each message back",
                self.name,
                len(requests),
                getattr(exc_info, "exception", exc_info),
            )
            for request in requests:
                request.on_failure(exc_info)
            self._finished()

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
