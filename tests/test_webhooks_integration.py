"""A slow site cannot stall decisions: real gunicorn, real default and webhooks workers.

The receiver holds every delivery open until the test lets go, as a site whose server
hangs would. Comments are still decided by the default worker meanwhile, because
deliveries run on the ``webhooks`` queue's own worker (issue: a 10 s receiver made
decisions take p50 30 s when both shared the ``default`` queue).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from service.db import Database
from service.webhooks.models import WebhookEvent
from tests.helpers import PrivateRedis, WebhookReceiver, migrated_pg_database, wait_for
from tests.stack import Stack, poll_until

pytestmark = pytest.mark.integration

#: Generous bound on a decision (a Vietnamese comment is held in well under a second).
#: What the test asserts is an order, not a speed: decided while a delivery is running.
DECIDE_WAIT_S = 30
#: Other waits on real processes on a shared 2-core machine.
WAIT_S = 60
#: The sender's timeout on the hanging site: longer than DECIDE_WAIT_S (the delivery is
#: still running when the decisions are checked), shorter than the delivery task's 60 s
#: soft time limit (so the attempt ends as a timeout, recorded and retried).
SITE_TIMEOUT_S = 55
#: The receiver's own cap, should the test never release it.
HOLD_S = 300


class HangingReceiver(WebhookReceiver):
    """Answers 200, but only once ``release()`` is called (or after HOLD_S)."""

    def __init__(self) -> None:
        self.released = threading.Event()
        super().__init__(answer=self._answer)

    def _answer(self, request: dict[str, Any]) -> tuple[int, dict[str, str]]:
        self.released.wait(HOLD_S)
        return 200, {}

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        super().close()


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    with migrated_pg_database("moderation_hooks") as url:
        db = Database(url)
        yield db
        db.dispose()


@pytest.fixture(scope="module")
def receiver() -> Iterator[HangingReceiver]:
    r = HangingReceiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def running(
    database: Database, receiver: HangingReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """API, one default worker process and one webhooks worker process (Procfile's commands)."""
    redis_server = PrivateRedis().start()
    stack = Stack(
        database.url,
        redis_server,
        tmp_path_factory.mktemp("hook-logs"),
        MODERATION_WEBHOOK_URL=receiver.url,
        MODERATION_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver is on 127.0.0.1
        MODERATION_WEBHOOK_TIMEOUT_S=str(SITE_TIMEOUT_S),
        MODERATION_WEBHOOK_RETRY_BASE_S="1",
        # no Vietnamese model: the default worker decides the comments below on its own
        MODERATION_TOXICITY_MODEL_VI="",
    )
    try:
        _api, url = stack.api()
        # one process each: a single delivery held open would stall a shared one
        default = stack.worker("default", concurrency=1)
        webhooks = stack.worker("webhooks", concurrency=1)
        yield {"url": url, "default": default, "webhooks": webhooks}
    finally:
        receiver.release()
        stack.stop()
        redis_server.stop()


#: Vietnamese, with TOXICITY_MODEL_VI empty: the default worker holds them
#: (`language_unsupported`) without the toxicity worker, which this stack does not run.
#: Unlike each other: no spam signal.
COMMENTS = [
    "Bài viết hay quá, cảm ơn tác giả đã phân tích rất kỹ!",
    "Tôi không đồng ý với ý kiến của hội đồng thành phố về ngân sách.",
    "Cây cầu mới sẽ giúp người dân đi lại dễ dàng hơn nhiều.",
]


def post(url: str, body: str, author: str) -> str:
    response = requests.post(
        f"{url}/v1/articles/hooks-1/comments",
        json={"author_id": author, "author_name": "Reader", "body": body},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def status(url: str, comment_id: str) -> str:
    return str(requests.get(f"{url}/v1/comments/{comment_id}", timeout=10).json()["status"])


def events(database: Database, ids: list[str]) -> dict[str, tuple[str, int]]:
    """Each comment's webhook event: (state, attempts)."""
    with database.session() as s:
        rows = s.execute(
            sa.select(WebhookEvent.comment_id, WebhookEvent.state, WebhookEvent.attempts).where(
                WebhookEvent.comment_id.in_([uuid.UUID(i) for i in ids])
            )
        ).all()
    return {str(comment_id): (state, attempts) for comment_id, state, attempts in rows}


def test_a_hanging_site_does_not_delay_decisions(
    running: dict[str, Any], database: Database, receiver: HangingReceiver
) -> None:
    url = running["url"]
    first = post(url, COMMENTS[0], "reader-a")
    poll_until(lambda: status(url, first), lambda s: s != "pending", WAIT_S, "a decision")
    # its webhook is now held open by the site: the webhooks worker's only process waits
    wait_for(receiver.in_flight, WAIT_S, what="the first delivery to reach the site")

    later = [post(url, body, f"reader-{i}") for i, body in enumerate(COMMENTS[1:])]
    decided = poll_until(
        lambda: [status(url, i) for i in later],
        lambda got: "pending" not in got,
        DECIDE_WAIT_S,
        "decisions while the site hangs",
    )
    assert decided == ["held", "held"]
    # The first delivery's attempt is still running: it is recorded only when the POST
    # returns. Had deliveries shared the default worker's one process, these comments
    # could only have been decided after it.
    assert events(database, [first]) == {first: ("pending", 0)}
    assert len(receiver.in_flight()) == 1

    receiver.release()
    wait_for(
        lambda: {state for state, _ in events(database, [first, *later]).values()} == {"delivered"},
        WAIT_S,
        what="every event to be delivered once the site answers",
    )
    assert len(events(database, [first, *later])) == 3
    deliver = "Task workers.webhooks.tasks.deliver_webhook["  # Celery's "received" line
    assert deliver in running["webhooks"].output()
    assert deliver not in running["default"].output()
    assert "Task workers.pipeline.tasks.process_comment[" not in running["webhooks"].output()
