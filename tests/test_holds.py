"""The marks of the messages a worker holds (workers/holds.py), on a real Redis.

What the bootstep does with each received request and on each tick of its timer;
that a real worker calls it, and what that buys when the worker dies, is in
test_recovery_integration.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import redis
from flask import Flask

from service.dispatch import DELIVER_WEBHOOK, PROCESS_COMMENT, Dispatcher
from workers.holds import HeldMessages


def request(name: str, *args: str) -> SimpleNamespace:
    """What the bootstep reads of a Celery request: its task, its args, whether acked."""
    return SimpleNamespace(name=name, args=list(args), acknowledged=False)


def step_for(app: Flask) -> HeldMessages:
    step = HeldMessages(SimpleNamespace())
    step._dispatcher = app.extensions["dispatcher"]
    step._max_hold_s = 900.0
    return step


def ttl(client: redis.Redis, mark_id: str) -> int:
    return client.ttl(Dispatcher.MARK_PREFIX + mark_id)


def test_held_marks_are_renewed_until_their_message_is_acknowledged(
    app: Flask, redis_db: redis.Redis
) -> None:
    dispatcher = app.extensions["dispatcher"]
    step = step_for(app)
    dispatcher.mark(["c1", "e1"])  # sent: the queued message's long mark
    comment, event = request(PROCESS_COMMENT, "c1"), request(DELIVER_WEBHOOK, "e1")
    step.received(request=comment)
    step.received(request=event)
    step.received(request=request("workers.pipeline.tasks.sweep_pending"))  # no id: ignored
    assert 0 < ttl(redis_db, "c1") <= dispatcher.hold_ttl_s
    assert 0 < ttl(redis_db, "e1") <= dispatcher.hold_ttl_s

    comment.acknowledged = True  # done with c1; e1 still waits for its countdown
    for mark_id in ("c1", "e1"):
        redis_db.expire(Dispatcher.MARK_PREFIX + mark_id, 2)
    step.renew()
    assert ttl(redis_db, "c1") <= 2  # left to run out
    assert dispatcher.hold_ttl_s - 2 < ttl(redis_db, "e1") <= dispatcher.hold_ttl_s
    assert [h.mark_id for h in step.held] == ["e1"]


def test_a_message_held_past_the_visibility_timeout_is_no_longer_renewed(
    app: Flask, redis_db: redis.Redis
) -> None:
    step = step_for(app)
    step._max_hold_s = 0.0  # Redis has handed it out again by now: not ours to keep
    step.received(request=request(PROCESS_COMMENT, "c2"))
    redis_db.expire(Dispatcher.MARK_PREFIX + "c2", 2)
    step.renew()
    assert ttl(redis_db, "c2") <= 2 and step.held == []


def test_a_warm_shutdown_gives_the_held_messages_their_queued_marks_back(
    app: Flask, redis_db: redis.Redis
) -> None:
    dispatcher = app.extensions["dispatcher"]
    step = step_for(app)
    step.received(request=request(PROCESS_COMMENT, "c3"))
    step.shutdown(SimpleNamespace())  # Celery puts c3's message back on its queue
    assert ttl(redis_db, "c3") > dispatcher.hold_ttl_s
