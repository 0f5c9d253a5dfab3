"""The default stack of `make run`: SQLite, and the shipped model with an empty models folder.

On SQLite, POSTs do not wait while a toxicity worker loads its model; and the shipped
model, loaded by real workers, decides as its card says.

SQLite has one write lock, taken at BEGIN. A worker that loads its model (seconds) or
calls the model inside a transaction holds that lock the whole time, and every POST
waits. Here a real stack on SQLite runs the default model with an empty models folder,
so the worker must assemble and load it on its first batch (a cold start made slow on
purpose), while comments are posted one after another.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy import orm

from config.settings import SHIPPED_TOXICITY_MODEL
from service.comments.models import Comment
from service.migrate import upgrade
from tests.helpers import PrivateRedis
from tests.stack import Stack, poll_until
from workers.toxicity import shipped

pytestmark = pytest.mark.integration

LOADED = re.compile(r"toxicity model \S+ loaded in ([\d.]+) s")


@pytest.fixture
def sqlite_stack(tmp_path: Path) -> Iterator[Stack]:
    url = f"sqlite:///{tmp_path}/moderation.sqlite3"
    upgrade(url)
    redis_server = PrivateRedis().start()
    stack = Stack(
        url,
        redis_server,
        tmp_path / "logs",
        MODERATION_MODELS_DIR=str(tmp_path / "models"),  # empty: assemble, then load
    )
    (tmp_path / "logs").mkdir()
    try:
        yield stack
    finally:
        stack.stop()
        redis_server.stop()


def test_posts_do_not_wait_for_the_model_to_load(sqlite_stack: Stack) -> None:
    _api, url = sqlite_stack.api()
    sqlite_stack.worker("default", concurrency=1)
    toxicity = sqlite_stack.worker("toxicity", concurrency=1, prefetch=16)

    def post(i: int) -> tuple[float, str]:
        started = time.perf_counter()
        response = requests.post(
            f"{url}/v1/articles/cold-start/comments",
            json={
                "author_id": f"reader-{i}",
                "author_name": "Reader",
                "body": f"Comment number {i}: the council should publish the budget.",
            },
            timeout=30,
        )
        assert response.status_code == 202, response.text
        return time.perf_counter() - started, response.json()["id"]

    post(0)  # makes the article; its comment starts the toxicity worker's cold start
    latencies: list[float] = []
    ids: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        latency, comment_id = post(len(ids) + 1)
        latencies.append(latency)
        ids.append(comment_id)
        loaded = LOADED.search(toxicity.output())
        if loaded and len(latencies) >= 50:
            break
    assert loaded, f"the model never loaded:\n{toxicity.output()[-3000:]}"
    load_s = float(loaded[1])
    # The test can only catch a stall if the cold start is slow enough to cause one.
    assert load_s >= 1.0, f"cold start took only {load_s} s: nothing to measure"

    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    worst = latencies[-1]
    print(f"POST p99 {p99:.3f} s, max {worst:.3f} s over {len(latencies)} POSTs; load {load_s} s")
    # A POST stalled behind the load waits a good part of it (seconds). The bound is set
    # well below that and well above a loaded machine's noise (POSTs take ~10 ms alone,
    # up to ~0.25 s with five test runs on two cores): a stall, not a speed, fails it.
    bound = min(1.0, load_s / 4)
    assert p99 < bound, f"POST p99 {p99:.3f} s while the model loaded in {load_s} s"

    # and every comment posted meanwhile is decided once the model is there
    def statuses() -> list[str]:
        return [requests.get(f"{url}/v1/comments/{i}", timeout=10).json()["status"] for i in ids]

    final = poll_until(statuses, lambda s: "pending" not in s, 120, "decisions")
    assert set(final) <= {"approved", "held", "rejected"}


def test_the_shipped_model_decides_through_real_workers(sqlite_stack: Stack) -> None:
    """The issue's acceptance check, as a test: an insult is stopped, thanks approved."""
    _api, url = sqlite_stack.api()
    sqlite_stack.worker("default", concurrency=1)
    toxicity = sqlite_stack.worker("toxicity", concurrency=1, prefetch=16)
    # the worker's child loads the model as it starts, before any comment asks for it
    toxicity.wait_for_output("toxicity model minilm-toxic-en@", timeout=120)
    texts = {
        "insult": "You are a pathetic idiot and everyone hates you",
        "thanks": "Thanks, this explains the new tax rules clearly.",
    }
    ids = {}
    for key, body in texts.items():
        response = requests.post(
            f"{url}/v1/articles/acceptance/comments",
            json={"author_id": f"reader-{key}", "author_name": "Reader", "body": body},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        ids[key] = response.json()["id"]

    engine = sa.create_engine(sqlite_stack.database_url)

    def rows() -> dict[str, Comment]:
        with orm.Session(engine) as session:
            return {k: session.get(Comment, uuid.UUID(i)) for k, i in ids.items()}

    final = poll_until(
        rows, lambda r: all(c.status != "pending" for c in r.values()), 120, "decisions"
    )
    engine.dispose()
    insult, thanks = final["insult"], final["thanks"]
    assert thanks.status == "approved", thanks.reasons
    assert insult.status in {"held", "rejected"}
    assert {r.get("label") for r in insult.reasons if r["rule"] == "toxicity"} & {
        "toxicity",
        "insult",
    }, insult.reasons
    for comment in (insult, thanks):
        assert comment.scored_by["name"] == SHIPPED_TOXICITY_MODEL
        assert comment.scored_by["version"].startswith(shipped.manifest().version + "+")
