"""A worker that dies with messages in hand strands no comment for long.

Real processes (tests/stack.py): the API under gunicorn, Celery workers and beat, a
private redis-server, PostgreSQL, and a Detoxify checkpoint built here. A worker is
killed with SIGKILL to its whole process group (main process and pool children at
once, as a crashed host or a killed container leaves them) while it holds work: Redis
keeps its messages in ``unacked`` and hands them out again only after the visibility
timeout (VISIBILITY_TIMEOUT_S, 900 s by default). Each test measures the time from the
kill until the stranded comments are decided. Another worker of the same queue is up
and warm before the kill, so what is measured is the recovery, not a start-up.

How long, by the defaults. A worker renews the dispatch marks of the messages it holds
(``workers/holds.py``) and a toxicity batch renews its claim's lease with every model
call, so a dead worker's marks run out within HOLD_MARK_TTL_S (30 s) and its claims
within TOXICITY_LEASE_S (30 s); the sweeper, every SWEEPER_INTERVAL_S (30 s), re-sends
what is pending, unmarked and older than SWEEPER_GRACE_S (30 s), and what it finds
with an expired claim. Worst case before the re-send: max(mark TTL, grace) + interval
= 60 s for a message of the cheap stages, lease + interval = 60 s for a batch at the
model; the pipeline then takes its usual seconds. (Before marks and leases were
renewed: the visibility timeout plus Redis's restore sweep, about 15 minutes, and a
210 s lease plus the interval, about 4 minutes.)

These tests run that code with those four timings scaled down (``TIMING``) so they
wait seconds rather than a minute, and assert that the comments are decided within
the worst case plus ``SLACK_S`` (30 s) for the pipeline's own work on a busy machine:
generous, and still a small fraction of the visibility timeout. With
``MODERATION_TEST_RECOVERY_DEFAULTS=1`` they run at the defaults (bound: 90 s).
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
import redis
import requests
from flask import Flask

from config import Settings
from config.celery import DEFAULT_QUEUE, TOXICITY_QUEUE
from service import create_app
from service.db import Database
from service.dispatch import PROCESS_COMMENT, Dispatcher
from service.moderation.auth import create_token
from tests.helpers import migrated_pg_database, wait_for
from tests.stack import Process, Stack, slow_model_stack
from tests.test_pipeline_integration import (
    LONG_TEXT,
    _claims,
    _decided_once,
    _pool_children,
    _queued_for_toxicity,
    load,
    post,
    wait_decided,
)

AT_DEFAULTS = os.environ.get("MODERATION_TEST_RECOVERY_DEFAULTS") == "1"
# at the defaults a test waits minutes by design: more than the suite's hang guard
pytestmark = [pytest.mark.integration, *([pytest.mark.timeout(600)] if AT_DEFAULTS else [])]

TIMING: dict[str, int] = (
    {}
    if AT_DEFAULTS
    else {
        "hold_mark_ttl_s": 9,
        "sweeper_grace_s": 5,
        "sweeper_interval_s": 5,
        "toxicity_lease_s": 6,
    }
)
#: what these tests run with: the defaults, with TIMING's scaled-down values over them
RUN = Settings(**TIMING)
#: the worst case from a kill to the re-send, for a message of the cheap stages
RESEND_S = max(RUN.hold_mark_ttl_s, RUN.sweeper_grace_s) + RUN.sweeper_interval_s
#: the worst case from a kill to the re-send, for the comments of a claimed batch
RECLAIM_S = RUN.toxicity_lease_s + RUN.sweeper_interval_s
#: the pipeline's own time (a cold pool process, scoring) on a busy machine
SLACK_S = 30
#: the countdown of the message the killed worker holds: never due while it lives
COUNTDOWN_S = 3600


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    with migrated_pg_database("moderation_recovery") as url:
        db = Database(url)
        yield db
        db.dispose()


@pytest.fixture(scope="module")
def recovery(
    database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, str]]:
    """The API and beat; each test starts (and kills) its own workers."""
    timing = {f"MODERATION_{name.upper()}": str(value) for name, value in TIMING.items()}
    with slow_model_stack(database.url, tmp_path_factory, "recovery", **timing) as stack:
        _api, url = stack.api()
        stack.beat().wait_for_output("beat: Starting", timeout=30)
        yield stack, url


def _args(message: dict[str, Any]) -> list[Any]:
    return json.loads(base64.b64decode(message["body"]))[0]  # type: ignore[no-any-return]


def _held(client: redis.Redis, comment_id: str) -> list[tuple[str, str]]:
    """(task name, task id) of the messages for ``comment_id`` in Redis's ``unacked``."""
    found = []
    for raw in client.hvals("unacked"):
        message = json.loads(raw)[0]
        if _args(message) == [comment_id]:
            found.append((message["headers"]["task"], message["headers"]["id"]))
    return found


def _take_off_queue(client: redis.Redis, queue: str, comment_id: str) -> None:
    """Remove the message for ``comment_id`` waiting in ``queue``."""
    [raw] = [m for m in client.lrange(queue, 0, -1) if _args(json.loads(m)) == [comment_id]]
    client.lrem(queue, 1, raw)


def _redeliver_unacked(stack: Stack) -> None:
    """What Redis does once the visibility timeout has passed: every unacknowledged
    message goes back to its queue (kombu's own restore, with a timeout of zero). By
    then (15 minutes) a retry's countdown has passed too: it is taken off first."""
    client = stack.redis.client()
    for tag, raw in client.hgetall("unacked").items():
        message, exchange, routing_key = json.loads(raw)
        message["headers"]["eta"] = None
        client.hset("unacked", tag, json.dumps([message, exchange, routing_key]))
    app = create_app(
        Settings.from_env(environ={**stack.env, "MODERATION_VISIBILITY_TIMEOUT_S": "0"})
    )
    try:
        with app.extensions["celery"].connection_for_write() as conn:
            conn.default_channel.qos.restore_visible(num=1000)
    finally:
        app.extensions["db"].dispose()


def _statuses(database: Database, ids: list[str]) -> list[str]:
    return [status for status, _, _ in _claims(database, ids)]


def _sweeps(worker: Process) -> int:
    """How many sweeps ``worker`` has run."""
    return len(re.findall(r"sweep_pending\[[0-9a-f-]+\] succeeded", worker.output()))


def _logged_at(worker: Process, needle: str) -> datetime:
    """When ``worker`` first logged a line containing ``needle`` (its text log's clock)."""
    line = next(line for line in worker.output().splitlines() if needle in line)
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


@contextmanager
def _service(stack: Stack) -> Iterator[Flask]:
    """The app as the stack's processes build it (its dispatcher, Celery's control)."""
    app = create_app(Settings.from_env(environ=stack.env))
    try:
        yield app
    finally:
        app.extensions["db"].dispose()


def test_a_message_lost_with_its_worker_is_sent_again_within_a_minute(
    recovery: tuple[Stack, str], database: Database
) -> None:
    """A default worker dies holding a comment's first message: the comment is decided
    within RESEND_S + SLACK_S of the kill (defaults: 60 + 30 s), once; while the worker
    lived, its renewed mark kept the sweeper away; and the lost message, when Redis
    finally hands it out again, changes nothing."""
    stack, url = recovery
    client = stack.redis.client()
    toxicity = stack.worker("toxicity")
    started = [toxicity]
    try:
        toxicity.wait_for_output("loaded in", timeout=180)  # not part of what is measured
        # Posted while no default worker runs, its message waits in the queue; it is
        # replaced by one due later, as Celery's autoretry leaves a task after a database
        # blip: the worker that receives it holds it, unacked, until it is due.
        comment_id = post(url, "lost-1", "The ferry timetable changed again without notice.")["id"]
        _take_off_queue(client, DEFAULT_QUEUE, comment_id)
        with _service(stack) as app:
            app.extensions["dispatcher"].send([comment_id], countdown=COUNTDOWN_S)
        victim = stack.worker("default", concurrency=1)
        started.append(victim)
        [(name, lost_task)] = wait_for(
            lambda: _held(client, comment_id), 30, what="the worker to hold the message"
        )
        assert name == PROCESS_COMMENT
        held = time.monotonic()
        # held by a worker: the mark is the short one it renews, not the queued message's
        wait_for(
            lambda: 0 < client.ttl(Dispatcher.MARK_PREFIX + comment_id) <= RUN.hold_mark_ttl_s,
            5,
            what="the worker to shorten the mark of the message it holds",
        )
        # Another default worker, up before the kill, so that what is measured is the
        # recovery and not a start-up; it runs sweeps from now on. While the victim lives
        # it renews the mark: sweeps long after the mark's own TTL leave the comment be.
        replacement = stack.worker("default", concurrency=2)
        started.append(replacement)
        wait_for(
            lambda: time.monotonic() - held > 2 * RUN.hold_mark_ttl_s and _sweeps(replacement) >= 2,
            2 * RUN.hold_mark_ttl_s + 3 * RUN.sweeper_interval_s + 120,  # a busy machine
            what="sweeps after the mark's own TTL has passed twice",
        )
        assert "sweeper re-enqueued" not in replacement.output()
        assert _statuses(database, [comment_id]) == ["pending"]

        victim.kill()  # SIGKILL to the main process and its pool child together
        killed, killed_at = time.monotonic(), datetime.now()
        decided = wait_decided(url, [comment_id], timeout=RESEND_S + SLACK_S)
        elapsed = time.monotonic() - killed
        resent = (_logged_at(replacement, "sweeper re-enqueued") - killed_at).total_seconds()
        print(f"\nlost message: re-sent {resent:.1f} s, decided {elapsed:.1f} s after the kill")

        assert decided[comment_id]["status"] in {"approved", "held", "rejected"}
        _decided_once(database, [comment_id])
        # the sweeper sent it again; the lost message is still where the dead worker left it
        assert _held(client, comment_id) == [(PROCESS_COMMENT, lost_task)]

        # much later Redis hands the lost message out again: it finds its work done
        before, _ = load(database, comment_id)
        _redeliver_unacked(stack)
        wait_for(
            lambda: f"process_comment[{lost_task}] succeeded" in replacement.output(),
            30,
            what="the replacement worker to run the lost message (a no-op)",
        )
        after, _ = load(database, comment_id)
        assert (after.status, after.version) == (before.status, before.version)
        _decided_once(database, [comment_id])

        # Redis loses everything (a restart without persistence): /statusz still shows
        # the toxicity process's last reported state, with its age
        client.flushall()
        [scoring_process] = _pool_children(toxicity.proc.pid)
        with database.session() as session:
            token = create_token(session, "recovery-ops", "ops")
            session.commit()
        scorers = requests.get(
            f"{url}/statusz", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()["scorers"]
        # the main model's report (the Vietnamese model's has "route": "vi")
        [report] = [s for s in scorers if s["pid"] == scoring_process and not s.get("route")]
        assert report["state"] == "ready"
        assert 0 <= report["age_s"] < 120 and report["stale"] is False
    finally:
        for process in started:
            process.stop()


def test_a_message_a_dead_consumer_swallowed_is_sent_again_at_the_next_sweep(
    recovery: tuple[Stack, str], database: Database
) -> None:
    """Redis hands a message to a consumer's pending BRPOP whose process has just died
    (killed with a large address space still being torn down, or its socket kept open
    by orphans): the message is neither queued nor held. Its queued mark, made to
    outlast the visibility timeout, must not keep the sweeper away for 16 minutes: the
    queue is empty, so the next sweep past the grace period sends the comment again."""
    stack, url = recovery
    client = stack.redis.client()
    zombie = redis.Connection(**client.connection_pool.connection_kwargs)
    started: list[Process] = []
    try:
        # no default worker runs: the only consumer blocked on the queue is the dead one
        zombie.connect()
        zombie.send_command("BRPOP", DEFAULT_QUEUE, 0)
        wait_for(
            lambda: any(c.get("cmd") == "brpop" for c in client.client_list()),
            10,
            what="the dead consumer's BRPOP",
        )
        comment_id = post(url, "swallowed", "The library reopens on Monday after repairs.")["id"]
        assert client.llen(DEFAULT_QUEUE) == 0 and _held(client, comment_id) == []
        assert client.get(Dispatcher.MARK_PREFIX + comment_id) == DEFAULT_QUEUE.encode()
        assert client.ttl(Dispatcher.MARK_PREFIX + comment_id) > 10 * RUN.sweeper_interval_s

        toxicity = stack.worker("toxicity")
        started.append(toxicity)
        toxicity.wait_for_output("loaded in", timeout=180)
        default = stack.worker("default", concurrency=1)
        started.append(default)
        default.wait_for_output("ready.", timeout=60)
        ready = time.monotonic()
        decided = wait_decided(
            url, [comment_id], timeout=RUN.sweeper_grace_s + RUN.sweeper_interval_s + SLACK_S
        )
        print(
            f"\nswallowed message: decided {time.monotonic() - ready:.1f} s after a worker was up"
        )
        assert decided[comment_id]["status"] in {"approved", "held", "rejected"}
        assert "sweeper re-enqueued 1 of 1" in default.output()
        _decided_once(database, [comment_id])
    finally:
        zombie.disconnect()
        for process in started:
            process.stop()


def test_a_batch_whose_worker_died_is_scored_again_within_a_minute(
    recovery: tuple[Stack, str], database: Database
) -> None:
    """A toxicity worker dies mid-batch holding its claim: the batch's comments are
    decided within RECLAIM_S + SLACK_S of the kill (defaults: 60 + 30 s), each once."""
    stack, url = recovery
    default = stack.worker("default", concurrency=2)
    started = [default]
    try:
        # the replacement, warm before the victim starts, then told to stand by (stop
        # consuming), so that what is measured is the recovery and not a model's load
        standby = stack.worker("toxicity", concurrency=1, prefetch=16)
        started.append(standby)
        standby.wait_for_output("loaded in", timeout=180)
        node = re.search(r"(\S+@\S+) ready\.", standby.output()).group(1)  # type: ignore[union-attr]
        with _service(stack) as app:
            control = app.extensions["celery"].control
            assert control.cancel_consumer(TOXICITY_QUEUE, destination=[node], reply=True)
        ids = [
            post(url, "lost-2", f"{LONG_TEXT} Comment {i}.", author_id=f"b{i}")["id"]
            # few: each is scored alone when retried (a claim that failed once does not
            # take others down with it again), which is part of the time measured
            for i in range(12)
        ]
        # all wait for the model before the victim starts: its first task claims them all
        _queued_for_toxicity(database, ids)
        victim = stack.worker("toxicity", concurrency=1, prefetch=16)
        started.append(victim)
        wait_for(
            lambda: any(token for _, token, _ in _claims(database, ids)),
            180,
            interval=0.01,
            what="a task to claim the batch",
        )
        victim.kill()  # SIGKILL to the whole group: no pool process left to redeliver to
        killed, killed_at = time.monotonic(), datetime.now()
        assert "pending" in _statuses(database, ids), "the batch ended before the kill"
        with _service(stack) as app:
            control = app.extensions["celery"].control
            assert control.add_consumer(TOXICITY_QUEUE, destination=[node], reply=True)

        decided = wait_decided(url, ids, timeout=RECLAIM_S + SLACK_S)
        elapsed = time.monotonic() - killed
        resent = (_logged_at(default, "scoring claim expired") - killed_at).total_seconds()
        print(
            f"\nclaimed batch: re-sent {resent:.1f} s, all decided {elapsed:.1f} s after the kill"
        )

        assert all(c["status"] in {"approved", "held", "rejected"} for c in decided.values())
        _decided_once(database, ids)
        assert all(token is None for _, token, _ in _claims(database, ids))
    finally:
        for process in started:
            process.stop()
