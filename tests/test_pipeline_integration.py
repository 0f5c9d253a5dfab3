"""End to end: the real API (gunicorn), real Celery workers for both queues, a real Redis,
a real PostgreSQL, and a Detoxify checkpoint built here, loaded through Detoxify's own code.

Slow by nature (processes start, the model loads): marked ``integration``.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from config import Settings
from service import create_app
from service.comments.models import Comment
from service.db import Database
from service.moderation.models import AuditEntry
from service.policy.services import author_standing
from service.webhooks.models import WebhookEvent
from service.webhooks.signing import verify
from tests.helpers import PrivateRedis, WebhookReceiver, migrated_pg_database, wait_for
from tests.stack import Process, Stack, poll_until, slow_model_stack
from workers.pipeline.decision import PolicyConfig, decide
from workers.pipeline.stages import policy_input
from workers.toxicity.checkpoint import CheckpointFiles, build_checkpoint

pytestmark = pytest.mark.integration

WEBHOOK_SECRET = "whsec-integration"
LABELS = {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"}


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    with migrated_pg_database("moderation_it") as url:
        db = Database(url)
        yield db
        db.dispose()


def _checkpoint_env(files: CheckpointFiles) -> dict[str, str]:
    return {**files.env(), "MODERATION_TOXICITY_MODEL": "original"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> CheckpointFiles:
    return build_checkpoint(tmp_path_factory.mktemp("tiny"), "tiny")


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def stack(
    database: Database,
    tiny: CheckpointFiles,
    receiver: WebhookReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    redis_server = PrivateRedis().start()
    s = Stack(
        database.url,
        redis_server,
        tmp_path_factory.mktemp("logs"),
        MODERATION_WEBHOOK_URL=receiver.url,
        MODERATION_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver is on 127.0.0.1
        MODERATION_WEBHOOK_SECRET=WEBHOOK_SECRET,
        MODERATION_WEBHOOK_RETRY_BASE_S="1",
        MODERATION_SWEEPER_INTERVAL_S="2",
        MODERATION_SWEEPER_GRACE_S="1",
        **_checkpoint_env(tiny),
    )
    try:
        yield s
    finally:
        s.stop()
        redis_server.stop()


@pytest.fixture(scope="module")
def running(stack: Stack) -> dict[str, Any]:
    """API, default, toxicity and webhooks workers, and beat (the sweeper), as in production."""
    _api, url = stack.api()
    default = stack.worker("default", concurrency=2)
    toxicity = stack.worker("toxicity", concurrency=1, prefetch=32)
    webhooks = stack.worker("webhooks", concurrency=1)
    beat = stack.beat()
    beat.wait_for_output("beat: Starting", timeout=30)
    return {
        "url": url,
        "default": default,
        "toxicity": toxicity,
        "webhooks": webhooks,
        "beat": beat,
    }


def post(url: str, article: str, body: str, **extra: Any) -> dict[str, Any]:
    response = requests.post(
        f"{url}/v1/articles/{article}/comments",
        json={
            "author_id": extra.pop("author_id", "reader-1"),
            "author_name": "Reader",
            "body": body,
            **extra,
        },
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()


def wait_decided(url: str, ids: list[str], timeout: float = 90) -> dict[str, dict[str, Any]]:
    def fetch() -> dict[str, dict[str, Any]]:
        return {i: requests.get(f"{url}/v1/comments/{i}", timeout=10).json() for i in ids}

    return poll_until(
        fetch,
        lambda got: all(c["status"] != "pending" for c in got.values()),
        timeout,
        f"{len(ids)} comment(s) to be decided",
    )


def load(db: Database, comment_id: str) -> tuple[Comment, list[AuditEntry]]:
    with db.session() as s:
        comment = s.get(Comment, uuid.UUID(comment_id))
        s.expunge(comment)
        audit = list(s.scalars(sa.select(AuditEntry).where(AuditEntry.comment_id == comment.id)))
        standing = author_standing(s, comment.author_id)
        comment.article  # noqa: B018 - load it while the session is open
    comment._standing = standing  # type: ignore[attr-defined]
    return comment, audit


def test_comments_posted_over_http_are_decided_by_the_policy_on_stored_scores(
    running: dict[str, Any], database: Database, tiny: CheckpointFiles
) -> None:
    url = running["url"]
    english = [
        post(url, "it-1", text)["id"]
        for text in [
            "The council should publish the full budget before the vote next week.",
            "I disagree with the author: the numbers in the second chart are wrong.",
            "What a clear and useful explanation of the new traffic rules, thank you.",
            "This is the worst article I have read all year, you people are idiots.",
            "Will the new metro line stop at the central station or not?",
            "My family has lived here for forty years and we have never seen such floods.",
        ]
    ]
    vietnamese = post(url, "it-1", "Bài viết hay quá, cảm ơn tác giả đã phân tích rất kỹ!")["id"]
    spam = post(
        url,
        "it-1",
        "Kiếm tiền online 5 triệu/ngày!!! Xem ngay http://bit.ly/kiem-tien và "
        "http://lam-giau.xyz, liên hệ Zalo 0912 345 678",
        author_id="promo-1",
    )["id"]
    reply = post(url, "it-1", "Agreed, the chart uses the wrong year.", parent_id=english[1])["id"]
    ids = [*english, vietnamese, spam, reply]

    decided = wait_decided(url, ids)
    settings = Settings.from_env(environ={})
    config = PolicyConfig(settings.toxicity_bands, settings.spam_band)
    # a Vietnamese comment is decided with the Vietnamese model's bands
    config_vi = PolicyConfig(settings.toxicity_bands_vi, settings.spam_band)

    for comment_id in ids:
        comment, audit = load(database, comment_id)
        assert decided[comment_id]["status"] == comment.status
        assert [(a.from_status, a.to_status) for a in audit] == [("pending", comment.status)]
        assert audit[0].actor == "system:pipeline"
        model = (
            f"{comment.scored_by['name']}@{comment.scored_by['version']}"
            if comment.scored_by
            else None
        )
        again = decide(
            policy_input(
                comment,
                comment.signals,
                comment._standing,  # type: ignore[attr-defined]
                toxicity=comment.scores,
                toxicity_model=model,
            ),
            config_vi if comment.language == "vi" else config,
        )
        assert again.status == comment.status, comment_id
        if comment.scores is not None:
            assert again.reasons == comment.reasons

    for comment_id in [*english, reply]:
        comment, _ = load(database, comment_id)
        # scored through Detoxify's own loader, with the checkpoint built for the test
        assert set(comment.scores) == LABELS
        assert comment.scored_by == {
            "name": "detoxify-checkpoint:model",
            "version": tiny.sha256[:12],
        }
        assert comment.language == "en"

    comment, _ = load(database, vietnamese)
    # scored by the shipped Vietnamese model, never as if it were English
    assert comment.language == "vi"
    assert comment.scored_by["name"] == "e5-toxic-multi"
    assert set(comment.scores) == LABELS
    assert comment.status == "approved", comment.reasons
    assert comment.reasons[0]["threshold"] == settings.toxicity_bands_vi["toxicity"][0]

    comment, _ = load(database, spam)
    assert comment.status == "rejected"
    [reason] = [r for r in comment.reasons if r["rule"] == "spam"]
    assert {"links", "shorteners", "contact_details"} <= set(reason["signals"])
    assert comment.scores is None


def test_a_redelivered_task_does_not_decide_twice(
    running: dict[str, Any], database: Database, stack: Stack
) -> None:
    url = running["url"]
    comment_id = post(url, "it-2", "Thanks for covering the election results in such detail.")["id"]
    first = wait_decided(url, [comment_id])[comment_id]
    before, audit_before = load(database, comment_id)

    # deliver both pipeline messages again, as Redis would after a lost ack
    app = create_app(Settings.from_env(environ=stack.env))
    celery = app.extensions["celery"]
    celery.send_task("workers.pipeline.tasks.process_comment", args=[comment_id], queue="default")
    again = celery.send_task(
        "workers.toxicity.tasks.score_toxicity", args=[comment_id], queue="toxicity"
    )
    toxicity: Process = running["toxicity"]
    wait_for(
        lambda: f"score_toxicity[{again.id}] succeeded" in toxicity.output(),
        30,
        what="the toxicity worker to run the redelivered message (a no-op)",
    )
    after, audit_after = load(database, comment_id)
    assert after.status == first["status"] == before.status
    assert after.version == before.version
    assert len(audit_after) == len(audit_before) == 1
    app.extensions["db"].dispose()


def test_broker_down_at_submit_then_sweeper_and_worker_decide(
    running: dict[str, Any], stack: Stack
) -> None:
    url = running["url"]
    stack.redis.stop()  # Redis (the broker) goes away
    try:
        response = requests.post(
            f"{url}/v1/articles/it-3/comments",
            json={"author_id": "r", "author_name": "R", "body": "Posted while Redis was down."},
            timeout=15,
        )
        assert response.status_code == 202, response.text
        comment_id = response.json()["id"]
        assert (
            requests.get(f"{url}/v1/comments/{comment_id}", timeout=5).json()["status"] == "pending"
        )
    finally:
        stack.redis.start()  # back, and empty: the message was never sent
    # beat's sweeper finds it pending with no dispatch mark and sends it; workers decide
    decided = wait_decided(url, [comment_id], timeout=120)
    assert decided[comment_id]["status"] in {"approved", "held", "rejected"}
    assert "sweeper re-enqueued" in running["default"].output()


def test_flower_sees_workers_and_tasks(running: dict[str, Any], stack: Stack) -> None:
    _flower, flower_url = stack.flower("ops:s3cret")
    assert requests.get(f"{flower_url}/api/workers", timeout=5).status_code == 401
    auth = ("ops", "s3cret")

    workers = poll_until(
        lambda: requests.get(f"{flower_url}/api/workers?refresh=1", auth=auth, timeout=15).json(),
        lambda w: (
            any(n.startswith("default-") for n in w) and any(n.startswith("toxicity-") for n in w)
        ),
        60,
        "Flower to list both workers",
    )
    assert workers

    def tasks_of(comment_id: str) -> dict[str, str]:
        found = requests.get(f"{flower_url}/api/tasks", auth=auth, timeout=10).json()
        return {
            t["name"]: t["state"] for t in found.values() if comment_id in (t.get("args") or "")
        }

    both = {"workers.pipeline.tasks.process_comment", "workers.toxicity.tasks.score_toxicity"}
    seen: dict[str, str] = {}
    # Flower answers HTTP a moment before its event receiver is connected: a comment
    # decided in that moment is invisible to it. Post again until one is seen whole.
    for attempt in range(5):
        comment_id = post(running["url"], "it-4", f"Flower should show this comment {attempt}.")[
            "id"
        ]
        wait_decided(running["url"], [comment_id])
        try:
            seen = poll_until(
                lambda cid=comment_id: tasks_of(cid),
                lambda states: set(states) == both and set(states.values()) == {"SUCCESS"},
                10,
                "Flower to show both tasks of the comment as succeeded",
            )
            break
        except AssertionError:
            continue
    assert seen == dict.fromkeys(both, "SUCCESS"), seen


def test_the_site_is_told_by_a_signed_webhook_retried_after_a_500(
    running: dict[str, Any], database: Database, receiver: WebhookReceiver
) -> None:
    comment_id = post(running["url"], "it-5", "Webhooks should tell the site about this one.")["id"]
    status = wait_decided(running["url"], [comment_id])[comment_id]["status"]

    def event_id() -> str | None:
        with database.session() as s:
            found = s.scalars(
                sa.select(WebhookEvent.id).where(WebhookEvent.comment_id == uuid.UUID(comment_id))
            ).first()
        return str(found) if found else None

    event = wait_for(event_id, 30, what="the webhook event")
    # the receiver answers 500 first; Celery retries after WEBHOOK_RETRY_BASE_S
    deliveries = wait_for(
        lambda: len(receiver.for_event(event)) >= 2 and receiver.for_event(event),
        60,
        what="the webhook to be retried",
    )
    assert [d["status"] for d in deliveries] == [500, 200]
    for d in deliveries:
        assert verify(WEBHOOK_SECRET, d["body"], d["headers"]["X-Moderation-Signature"])
        payload = json.loads(d["body"])
        assert payload["comment"]["id"] == comment_id
        assert payload["comment"]["status"] == status
    with database.session() as s:
        stored = wait_for(
            lambda: (
                s.get(WebhookEvent, uuid.UUID(event), populate_existing=True).state == "delivered"
                and s.get(WebhookEvent, uuid.UUID(event))
            ),
            30,
            what="the event to be marked delivered",
        )
        assert stored.attempts == 2


# --- a batch interrupted: its process killed, or the batch failing ----------------------


@pytest.fixture
def slow_database() -> Iterator[Database]:
    """A database of its own: the module's stack must not sweep this test's comments."""
    with migrated_pg_database("moderation_kill") as url:
        db = Database(url)
        yield db
        db.dispose()


@pytest.fixture
def slow_stack(
    slow_database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, str]]:
    """A stack whose model takes about a second per batch, so a batch can be interrupted."""
    with slow_model_stack(
        slow_database.url,
        tmp_path_factory,
        "slow",
        MODERATION_SWEEPER_INTERVAL_S="2",
        MODERATION_SWEEPER_GRACE_S="1",
    ) as s:
        _api, url = s.api()
        s.worker("default", concurrency=2)
        s.beat()
        yield s, url


LONG_TEXT = (
    "The city council debated the transport budget for many hours yesterday, and the "
    "residents who came to listen asked why the new bus lanes were delayed again. "
) * 3


#: unlike each other, so no spam signal decides them before the model
DISTINCT_COMMENTS = [
    "The new bridge schedule seems optimistic given last winter's delays.",
    "My daughter's school lost two teachers this year; funding matters.",
    "Good to see the market reopened, the fish stalls were missed.",
    "Was the survey of residents published anywhere? I could not find it.",
    "Parking near the hospital is impossible after six in the evening.",
    "Thank you for covering the library hours, very useful for students.",
]


def _claims(database: Database, ids: list[str]) -> list[tuple[str, str | None, int]]:
    with database.session() as s:
        rows = s.execute(
            sa.select(Comment.status, Comment.claimed_by, Comment.toxicity_attempts).where(
                Comment.id.in_([uuid.UUID(i) for i in ids])
            )
        ).all()
    return [tuple(r) for r in rows]


def _queued_for_toxicity(database: Database, ids: list[str]) -> None:
    def all_waiting() -> bool:
        with database.session() as s:
            return s.scalar(
                sa.select(sa.func.count()).where(
                    Comment.id.in_([uuid.UUID(i) for i in ids]),
                    Comment.toxicity_queued_at.is_not(None),
                )
            ) == len(ids)

    wait_for(all_waiting, 60, what="the cheap stages to hand every comment to the model")


def _decided_once(database: Database, ids: list[str]) -> None:
    with database.session() as s:
        audits = s.execute(
            sa.select(AuditEntry.comment_id, sa.func.count())
            .where(AuditEntry.comment_id.in_([uuid.UUID(i) for i in ids]))
            .group_by(AuditEntry.comment_id)
        ).all()
    assert len(audits) == len(ids) and all(n == 1 for _, n in audits)


def _pool_children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_pool_child_killed_mid_batch_loses_no_comment(
    slow_stack: tuple[Stack, str], slow_database: Database
) -> None:
    database = slow_database
    stack, url = slow_stack
    ids = [
        post(url, "kill-1", f"{LONG_TEXT} Comment {i}.", author_id=f"r{i}")["id"] for i in range(48)
    ]
    # every comment waits for the model before the toxicity worker starts: its first
    # task claims them all as one batch
    _queued_for_toxicity(database, ids)
    worker = stack.worker("toxicity", concurrency=1, prefetch=16)
    wait_for(
        lambda: any(token for _, token, _ in _claims(database, ids)),
        60,
        interval=0.01,
        what="a task to claim the batch",
    )
    [child] = _pool_children(worker.proc.pid)
    # the model runs below the API and the cheap stages (TOXICITY_NICE, 10 by default)
    nice = os.getpriority(os.PRIO_PROCESS, child) - os.getpriority(os.PRIO_PROCESS, worker.proc.pid)
    assert nice == 10
    os.kill(child, signal.SIGKILL)  # the pool child, mid-batch; the worker lives on

    assert "pending" in {status for status, _, _ in _claims(database, ids)}, (
        "the batch finished before the kill; make it slower"
    )
    decided = wait_decided(url, ids, timeout=120)
    assert all(c["status"] in {"approved", "held", "rejected"} for c in decided.values())
    _decided_once(database, ids)
    assert worker.proc.poll() is None, "only the pool child was to die"
    # the killed task's message came back to the same worker and took its claim back
    assert "ran before and died" in worker.output()
    attempts = [n for _, _, n in _claims(database, ids)]
    assert max(attempts) == 2 and min(attempts) >= 1
    assert all(token is None for _, token, _ in _claims(database, ids))


def test_a_failing_batch_is_a_failed_task_and_its_comments_are_retried(
    slow_stack: tuple[Stack, str], slow_database: Database
) -> None:
    database = slow_database
    stack, url = slow_stack
    _flower, flower_url = stack.flower("ops:s3cret")
    worker = stack.worker("toxicity", concurrency=1, prefetch=16)
    worker.wait_for_output("loaded in", timeout=60)
    # a fault no retry can mend: the audit table is gone, so every decision raises
    with database.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    try:
        ids = [
            post(url, "fail-1", body, author_id=f"f{i}")["id"]
            for i, body in enumerate(DISTINCT_COMMENTS)
        ]

        def failed_tasks() -> list[dict[str, Any]]:
            found = requests.get(
                f"{flower_url}/api/tasks",
                params={"taskname": "workers.toxicity.tasks.score_toxicity", "state": "FAILURE"},
                auth=("ops", "s3cret"),
                timeout=10,
            ).json()
            return list(found.values())

        [failed, *_] = poll_until(failed_tasks, bool, 60, "Flower to show a failed batch")
        assert "audit_log" in failed["exception"]
    finally:
        with database.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_log_away RENAME TO audit_log"))
    # handed back and re-sent at once with a short pause, not left to the sweeper
    decided = wait_decided(url, ids, timeout=60)
    assert all(c["status"] != "pending" for c in decided.values())
    _decided_once(database, ids)
    assert max(n for _, _, n in _claims(database, ids)) >= 2
