"""Putting comment ids on the Celery queues: after commit, never blocking on a dead broker.

The database is the source of truth. A comment is stored ``pending`` first; its id
goes to the broker only once that transaction has committed. Each send leaves a
*dispatch mark* in Redis, written just before the message goes out. The sweeper
re-sends every pending comment older than a grace period that has no live mark: one
whose send failed, or whose message was lost.

A mark lives as long as its message can be somewhere: while the message is queued, a
little longer than the broker's own redelivery window (``mark_ttl_s``); once a worker
has received it, only ``hold_ttl_s``, renewed by that worker for as long as it holds the
message (:mod:`workers.holds`). A worker that dies with messages in hand (in Redis's
``unacked``, redelivered only after the visibility timeout) stops renewing, and their
comments are re-sent by the next sweep after the marks run out.

A queued message's mark names its queue. A message can also vanish in transit: Redis
hands it to a consumer's pending ``BRPOP`` whose process has just died (or whose host
is gone, until TCP notices), and nobody reads it, so it is neither queued nor held.
Its mark would keep the sweeper away for the whole redelivery window (16 minutes by
default), so the sweeper treats a queued mark as lost when its queue is empty: the
message cannot be waiting there, and a worker that has it would have turned the mark
into a held one. (In the instant between a worker's pop and that turn, this costs a
duplicate message, which the tasks shrug off.)
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence

import redis
from celery import Celery
from kombu.exceptions import ChannelError, KombuError
from kombu.exceptions import OperationalError as KombuOperationalError

from config.celery import DEFAULT_QUEUE, TOXICITY_QUEUE, WEBHOOKS_QUEUE
from service.db import Session

log = logging.getLogger(__name__)

#: Task names are the dotted paths of the functions in ``workers/`` (a test checks them).
PROCESS_COMMENT = "workers.pipeline.tasks.process_comment"
SCORE_TOXICITY = "workers.toxicity.tasks.score_toxicity"
DELIVER_WEBHOOK = "workers.webhooks.tasks.deliver_webhook"

QUEUE_OF = {
    PROCESS_COMMENT: DEFAULT_QUEUE,
    SCORE_TOXICITY: TOXICITY_QUEUE,
    DELIVER_WEBHOOK: WEBHOOKS_QUEUE,
}

_BROKER_ERRORS = (KombuError, KombuOperationalError, redis.RedisError, OSError)


class Dispatcher:
    """Sends comment ids to pipeline tasks and keeps the dispatch marks."""

    MARK_PREFIX = "moderation:dispatched:"
    #: set while a toxicity message is on its way that will claim whatever waits
    DOORBELL = "moderation:toxicity-doorbell"
    #: a doorbell whose message was lost stops silencing new comments after this long
    DOORBELL_TTL_S = 30
    #: mark values besides a queue's name: held by a worker, or queued somewhere unnamed
    HELD = "held"
    SOMEWHERE = "1"

    #: Extends each key in KEYS to live at least ARGV[1] ms, setting it to ARGV[2] (the held
    #: mark) if it is gone or shorter; never shortens one (a longer mark is a queued
    #: message's, written meanwhile).
    _RENEW = """
    local ms = tonumber(ARGV[1])
    for _, key in ipairs(KEYS) do
      local left = redis.call('PTTL', key)
      if left == -2 or (left >= 0 and left < ms) then
        redis.call('SET', key, ARGV[2], 'PX', ms)
      end
    end
    return #KEYS
    """

    def __init__(
        self,
        celery: Celery,
        redis_client: redis.Redis,
        mark_ttl_s: int,
        breaker_s: float,
        hold_ttl_s: int = 30,
        marks_on_broker: bool = False,
    ) -> None:
        self.celery = celery
        self.redis = redis_client
        self.mark_ttl_s = mark_ttl_s
        self.hold_ttl_s = hold_ttl_s
        self.breaker_s = breaker_s
        #: the marks live on the broker's Redis: marks that cannot be written mean a
        #: send would fail too, so it is not tried (a POST must not wait twice)
        self.marks_on_broker = marks_on_broker
        self._broken_until = 0.0
        self._lock = threading.Lock()
        self._renew = redis_client.register_script(self._RENEW)

    # ------------------------------------------------------------------
    def after_commit(
        self, session: Session, ids: Iterable[uuid.UUID | str], task: str = PROCESS_COMMENT
    ) -> None:
        """Send ``ids`` to ``task`` once ``session``'s transaction commits."""
        ids = [str(i) for i in ids]
        if ids:
            session.after_commit(lambda: self.send(ids, task))

    def ring_after_commit(self, session: Session, comment_id: uuid.UUID | str) -> None:
        """Once ``session`` commits, make sure a toxicity task will claim ``comment_id``.

        A toxicity task claims every comment waiting when it starts, so one message on
        its way serves all the comments that arrive meanwhile: only the first of them
        sends one (the *doorbell*, a Redis key with a TTL), and the task clears the key
        as it starts, before it claims. A comment committed after that clearing rings
        again; one committed before it is claimed by that task. Without this, each
        comment of a batch would bring a message of its own that finds nothing to do.
        """
        session.after_commit(lambda: self.ring(str(comment_id)))

    def ring(self, comment_id: str) -> None:
        """Send a toxicity message for ``comment_id`` unless one is already on its way."""
        try:
            if not self.redis.set(self.DOORBELL, comment_id, nx=True, ex=self.DOORBELL_TTL_S):
                self.mark([comment_id])  # served by the message already sent
                return
        except redis.RedisError as exc:
            log.warning("doorbell unreadable (%s); sending a toxicity message anyway", exc)
        if not self.send([comment_id], SCORE_TOXICITY):
            self.answer()  # nothing went out: the next comment must ring again

    def answer(self) -> None:
        """Clear the doorbell (a toxicity task starting, before it claims)."""
        try:
            self.redis.delete(self.DOORBELL)
        except redis.RedisError as exc:
            log.warning("could not clear the doorbell: %s", exc)

    def send(
        self, ids: Sequence[str], task: str = PROCESS_COMMENT, countdown: float | None = None
    ) -> list[str]:
        """Send each id as its own task message; return the ids the broker took.

        ``countdown``: seconds before a worker may run the messages (a retry's pause).

        Never raises for a broker problem: what was not sent stays ``pending`` in
        the database, and the sweeper sends it once the broker is back.
        """
        if not ids:
            return []
        if time.monotonic() < self._broken_until:
            log.warning(
                "broker marked down; %d comment(s) left to the sweeper",
                len(ids),
                extra={"task": task, "comment_ids": list(ids)},
            )
            return []
        # Marked before sending: a worker that receives a message shortens its mark
        # (``hold``), so the long one must not land after that.
        marked = self.mark(ids, QUEUE_OF.get(task))
        if not marked and self.marks_on_broker:
            with self._lock:
                self._broken_until = time.monotonic() + self.breaker_s
            log.warning(
                "broker unreachable; %d comment(s) left to the sweeper",
                len(ids),
                extra={"task": task, "comment_ids": list(ids)},
            )
            return []
        sent: list[str] = []
        try:
            for comment_id in ids:
                self.celery.send_task(
                    task, args=[comment_id], queue=QUEUE_OF.get(task), countdown=countdown
                )
                sent.append(comment_id)
        except _BROKER_ERRORS as exc:
            with self._lock:
                self._broken_until = time.monotonic() + self.breaker_s
            unsent = [i for i in ids if i not in sent]
            log.warning(
                "could not enqueue %d comment(s); the sweeper will retry: %s",
                len(unsent),
                exc,
                extra={"task": task, "comment_ids": unsent},
            )
            if marked:
                self.unmark(unsent)
        return sent

    # ------------------------------------------------------------------
    def mark(self, ids: Sequence[str], queue: str | None = None) -> bool:
        """Record that ``ids`` are on their way (a sweeper leaves them alone meanwhile);
        False if Redis could not be written.

        ``queue``: where their messages wait; a mark that names it is taken for lost
        once that queue is empty (:meth:`unmarked`). Without it the mark holds for its
        whole TTL.
        """
        if not ids:
            return True
        try:
            pipe = self.redis.pipeline(transaction=False)
            for comment_id in ids:
                pipe.set(self.MARK_PREFIX + comment_id, queue or self.SOMEWHERE, ex=self.mark_ttl_s)
            pipe.execute()
        except redis.RedisError as exc:
            # Only costs a duplicate send later, which the tasks shrug off.
            log.warning("could not write dispatch marks: %s", exc)
            return False
        return True

    def unmark(self, ids: Sequence[str]) -> None:
        """Drop the marks of ``ids`` (their send failed: the sweeper may take them)."""
        if not ids:
            return
        try:
            self.redis.delete(*(self.MARK_PREFIX + i for i in ids))
        except redis.RedisError as exc:
            # the marks then lapse after mark_ttl_s, and the sweeper sends the comments
            log.warning("could not drop the marks of unsent comment(s): %s", exc)

    def hold(self, ids: Sequence[str]) -> None:
        """A worker received the messages of ``ids``: their marks last ``hold_ttl_s`` now.

        Replaces the queued message's longer mark, which would outlive a worker that
        dies with the message in hand; the worker renews the mark while it holds it.
        """
        if not ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        for comment_id in ids:
            pipe.set(self.MARK_PREFIX + comment_id, self.HELD, ex=self.hold_ttl_s)
        pipe.execute()

    def renew(self, ids: Sequence[str]) -> None:
        """Keep the marks of messages a worker still holds alive for ``hold_ttl_s`` more.

        Never shortens a mark: one written meanwhile for a new message of the same id
        (the next stage's, a retry's) stays as long as that message may be queued.
        """
        if ids:
            self._renew(
                keys=[self.MARK_PREFIX + i for i in ids],
                args=[self.hold_ttl_s * 1000, self.HELD],
            )

    def unmarked(self, ids: Sequence[str]) -> list[str]:
        """The ids among ``ids`` whose message is lost: no live dispatch mark, or a
        queued message's mark while its queue is empty (gone in transit)."""
        if not ids:
            return []
        marks = [
            m.decode() if isinstance(m, bytes) else m
            for m in self.redis.mget([self.MARK_PREFIX + i for i in ids])
        ]
        empty = {q for q in set(marks) & set(QUEUE_OF.values()) if self.queued(q) == 0}
        return [i for i, mark in zip(ids, marks, strict=True) if mark is None or mark in empty]

    def queued(self, queue: str) -> int | None:
        """How many messages wait in ``queue`` on the broker; None if it cannot say."""
        try:
            with self.celery.connection_for_read() as conn:
                declared = conn.default_channel.queue_declare(queue=queue, passive=True)
                return int(declared.message_count)
        except ChannelError:
            return 0  # no such queue: on Redis, a list with nothing in it does not exist
        except _BROKER_ERRORS as exc:
            log.warning("could not count the messages in %s: %s", queue, exc)
            return None
