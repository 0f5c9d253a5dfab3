"""The dispatch marks of the messages a worker holds: short, and renewed while it lives.

A message the worker's main process has received stays in Redis's ``unacked`` until its
task acknowledges it; if the worker dies first, Redis hands it out again only after the
visibility timeout (VISIBILITY_TIMEOUT_S, 15 minutes by default), and the message's
dispatch mark, made to outlast that, would keep the sweeper away as long. So as soon
as the main process receives a message that carries an id (a comment's or a webhook
event's), it cuts that id's mark to HOLD_MARK_TTL_S, and renews it every third of that
for as long as it holds the message: queued in the worker, waiting for its countdown (a
retry), or running in a pool process. When the worker dies, the marks run out and the
next sweep re-sends their ids; the message Redis gives back much later finds its work
done (every task is a no-op once its work is done).

This runs in the main process (a consumer bootstep, on the consumer's timer), which
sees every message from its receipt to its acknowledgement; the pool processes never
see a message before it is due, nor one that is still queued in the worker.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import redis
from celery import bootsteps, signals
from celery.worker.request import Request

from service.dispatch import QUEUE_OF, Dispatcher

log = logging.getLogger(__name__)


@dataclass
class _Held:
    request: Request
    mark_id: str
    since: float


class HeldMessages(bootsteps.StartStopStep):
    """Consumer bootstep: shortens, then renews, the marks of the messages it holds."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self.held: list[_Held] = []
        self._timer: Any = None
        self._dispatcher: Dispatcher | None = None
        self._max_hold_s = 0.0

    def start(self, c: Any) -> None:
        flask_app = c.app.flask_app
        self._dispatcher = flask_app.extensions["dispatcher"]
        # Redis redelivers a message held this long anyway: stop renewing it then, so a
        # request Celery dropped without acknowledging it cannot keep a mark forever
        self._max_hold_s = float(flask_app.config["SETTINGS"].visibility_timeout_s)
        signals.task_received.connect(self.received, weak=False, dispatch_uid=__name__)
        every = self._dispatcher.hold_ttl_s / 3
        self._timer = c.timer.call_repeatedly(every, self.renew)
        log.info("renewing the dispatch marks of the messages held here every %.0f s", every)

    def stop(self, c: Any) -> None:
        signals.task_received.disconnect(dispatch_uid=__name__)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def shutdown(self, c: Any) -> None:
        """A warm shutdown hands the messages still held back to their queue: their
        marks become a queued message's again, so no sweep sends a second copy."""
        self.stop(c)
        ids = self._still_held()
        if ids and self._dispatcher is not None:
            self._dispatcher.mark(ids)

    # ------------------------------------------------------------------
    def received(self, sender: Any = None, request: Request | None = None, **_: Any) -> None:
        """``task_received``: the main process has the message; its mark turns short."""
        if request is None or request.name not in QUEUE_OF or self._dispatcher is None:
            return
        args = request.args or []
        if not args or not isinstance(args[0], str):
            return
        self.held.append(_Held(request, args[0], time.monotonic()))
        try:
            self._dispatcher.hold([args[0]])
        except redis.RedisError as exc:
            # the mark stays the queued message's: only a slower recovery if we die
            log.warning("could not shorten the dispatch mark of %s: %s", args[0], exc)

    def renew(self) -> None:
        """Every third of HOLD_MARK_TTL_S: keep the marks of what is still held alive."""
        ids = self._still_held()
        if not ids or self._dispatcher is None:
            return
        try:
            self._dispatcher.renew(ids)
        except redis.RedisError as exc:
            # a sweep may send a second copy meanwhile, which the tasks shrug off
            log.warning("could not renew %d dispatch mark(s): %s", len(ids), exc)

    def _still_held(self) -> list[str]:
        now = time.monotonic()
        self.held = [
            h for h in self.held if not h.request.acknowledged and now - h.since < self._max_hold_s
        ]
        return sorted({h.mark_id for h in self.held})
