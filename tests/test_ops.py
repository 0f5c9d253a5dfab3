"""Health, readiness, logs with request ids, and the OpenAPI document."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import Metric
from prometheus_client.parser import text_string_to_metric_families

from config.celery import DEFAULT_QUEUE, TOXICITY_QUEUE, WEBHOOKS_QUEUE
from service import create_app
from service.comments.models import Status
from service.db import Session, utcnow
from service.logs import JsonFormatter, current_request_id, redact
from service.moderation.auth import create_token
from service.ops.models import ScorerReport
from service.ops.status import STALE_AFTER_S, record_scorer
from service.perspective import channel
from tests.conftest import make_settings
from tests.factories import make_article, make_comment
from tests.helpers import free_port, wait_for
from workers.toxicity.health import ScorerHolder
from workers.toxicity.scorer import KeywordScorer, ScorerUnavailable


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_when_all_is_up(client: FlaskClient) -> None:
    body = client.get("/readyz").get_json()
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_names_redis_when_it_is_down(db_url: str) -> None:
    app = create_app(
        make_settings(db_url, f"redis://127.0.0.1:{free_port()}/0", enqueue_timeout_s=0.3)
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"] == {"database": "ok", "redis": "unreachable"}
    assert "redis" in error["message"]
    app.extensions["db"].dispose()


def test_readyz_names_the_database_when_it_is_down(redis_url: str) -> None:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=1"
    app = create_app(make_settings(dead, redis_url))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["details"] == {"database": "unreachable", "redis": "ok"}


def test_database_down_on_submit_is_a_503_in_the_error_shape(redis_url: str) -> None:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=1"
    app = create_app(make_settings(dead, redis_url))
    response = app.test_client().post(
        "/v1/articles/a1/comments", json={"author_id": "u", "author_name": "n", "body": "hi"}
    )
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "database_unavailable"
    assert response.headers["Retry-After"]


def test_request_id_is_echoed_and_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"):
        response = client.get(
            "/v1/comments/01a22abf-5dbc-7c58-96a4-50197bd05d72",
            headers={"X-Request-ID": "req-abc-123"},
        )
    assert response.headers["X-Request-ID"] == "req-abc-123"
    assert response.get_json()["error"]["request_id"] == "req-abc-123"
    [record] = [r for r in caplog.records if r.name == "service.access"]
    assert record.status == 404 and record.path.startswith("/v1/comments/")
    # a hostile request id is replaced, not echoed
    response = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert response.headers["X-Request-ID"] != "bad id <script>"


def test_json_log_lines_carry_the_request_id(app: Flask, client: FlaskClient) -> None:
    token = current_request_id.set("rid-1")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        record.comment_id = "c1"
        line = json.loads(JsonFormatter().format(record))
    finally:
        current_request_id.reset(token)
    assert line["message"] == "hello world"
    assert line["request_id"] == "rid-1"
    assert line["comment_id"] == "c1"
    assert line["level"] == "info"


def test_secrets_never_reach_log_lines() -> None:
    assert "s3cr3t" not in redact("Authorization: Bearer s3cr3t")
    assert "hunter2" not in redact("url?token=hunter2&x=1")


def test_openapi_document_is_generated_from_the_schemas(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["info"]["title"] == "Comment moderation API"
    paths = spec["paths"]
    post = paths["/v1/articles/{article_id}/comments"]["post"]
    assert "202" in post["responses"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert {"author_id", "author_name", "body"} <= set(schema["required"])
    assert schema.get("additionalProperties") is False
    assert "Idempotency-Key" in {p["name"] for p in post.get("parameters", [])}
    assert "/v1/comments/{comment_id}" in paths
    assert "/v1/articles/{article_id}" in paths
    # the documented error body is our envelope
    error = spec["components"]["schemas"]["ErrorEnvelope"]
    assert "error" in error["properties"]


def test_docs_page(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()
    assert b"openapi.json" in response.data


def test_unknown_route_and_method_use_the_error_shape(client: FlaskClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    response = client.delete("/v1/articles/a1/comments")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


@pytest.fixture
def ops(session: Session) -> dict[str, str]:
    """Headers with an ``ops`` token, what a Prometheus scrape config sends."""
    token = create_token(session, "prometheus", "ops")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def scrape(client: FlaskClient, headers: dict[str, str] | None = None) -> dict[str, Metric]:
    """``/metrics`` parsed by the Prometheus client's own parser, by family name."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    families = text_string_to_metric_families(response.get_data(as_text=True))
    return {family.name: family for family in families}


def values(family: Metric, label: str) -> dict[str, float]:
    return {sample.labels[label]: sample.value for sample in family.samples}


def test_metrics_report_comments_queues_and_scorers(
    client: FlaskClient, session: Session, redis_db: redis.Redis, ops: dict[str, str]
) -> None:
    article = make_article(session)
    for status, count in ((Status.PENDING, 2), (Status.HELD, 1), (Status.APPROVED, 3)):
        for _ in range(count):
            make_comment(session, article, status=status, created_at=utcnow() - timedelta(hours=1))
    session.commit()
    redis_db.rpush(DEFAULT_QUEUE, "m1", "m2", "m3")
    redis_db.rpush(TOXICITY_QUEUE, "m4")
    redis_db.rpush(WEBHOOKS_QUEUE, "m5", "m6")
    # a host name with a quote, a backslash and a newline must survive the exposition
    odd_host = 'gpu "blue"\\rack\n2'
    for pid, state in ((41, "ready"), (42, "unavailable"), (43, "ready")):
        record_scorer(
            session, {"state": state, "model": "minilm-toxic-en", "host": odd_host, "pid": pid}
        )
    # pid 43 has not reported for a while: it counts as not ready whatever it last said
    session.get(ScorerReport, f"{odd_host}:43").reported_at = utcnow() - timedelta(
        seconds=STALE_AFTER_S + 1
    )
    session.commit()

    metrics = scrape(client, ops)

    assert values(metrics["moderation_comments"], "status") == {
        "pending": 2.0,
        "approved": 3.0,
        "held": 1.0,
        "rejected": 0.0,
    }
    [oldest] = metrics["moderation_oldest_pending_age_seconds"].samples
    assert 3600 <= oldest.value < 3600 + 120
    assert values(metrics["moderation_queue_length"], "queue") == {
        DEFAULT_QUEUE: 3.0,
        TOXICITY_QUEUE: 1.0,
        WEBHOOKS_QUEUE: 2.0,
    }
    scorers = sorted(metrics["moderation_scorer_ready"].samples, key=lambda s: s.labels["pid"])
    assert [(s.labels, s.value) for s in scorers] == [
        ({"host": odd_host, "pid": "41", "model": "minilm-toxic-en", "state": "ready"}, 1.0),
        ({"host": odd_host, "pid": "42", "model": "minilm-toxic-en", "state": "unavailable"}, 0.0),
        ({"host": odd_host, "pid": "43", "model": "minilm-toxic-en", "state": "ready"}, 0.0),
    ]
    ages = values(metrics["moderation_scorer_report_age_seconds"], "pid")
    assert ages["41"] < 60 and ages["43"] > STALE_AFTER_S
    assert metrics["moderation_redis_up"].samples[0].value == 1.0
    # the library's process and platform metrics, for the process that answered
    assert metrics["process_resident_memory_bytes"].samples[0].value > 0
    assert metrics["python_info"].samples[0].labels["implementation"]
    # /statusz reads the same figures
    body = client.get("/statusz", headers=ops).get_json()
    assert body["comments"] == {"pending": 2, "approved": 3, "held": 1, "rejected": 0}
    assert body["queues"] == {DEFAULT_QUEUE: 3, TOXICITY_QUEUE: 1, WEBHOOKS_QUEUE: 2}


def test_metrics_say_redis_is_down_without_inventing_queues(db_url: str) -> None:
    app = create_app(
        make_settings(
            db_url,
            f"redis://127.0.0.1:{free_port()}/0",
            enqueue_timeout_s=0.3,
            ops_endpoints_open=True,
        )
    )
    metrics = scrape(app.test_client())
    assert metrics["moderation_redis_up"].samples[0].value == 0.0
    assert "moderation_queue_length" not in metrics
    assert "moderation_analyze_requests_waiting" not in metrics
    assert "moderation_analyze_oldest_request_age_seconds" not in metrics
    # scorer reports are in the database: Redis being down does not hide them
    assert "moderation_scorer_ready" in metrics
    assert set(values(metrics["moderation_comments"], "status")) == {s.value for s in Status}
    app.extensions["db"].dispose()


def test_status_and_metrics_show_analyze_requests_waiting_and_the_oldest_age(
    client: FlaskClient, redis_db: redis.Redis, redis_url: str, ops: dict[str, str]
) -> None:
    def analyze(waiter: redis.Redis) -> None:
        # what the API does for comments:analyze; no toxicity worker runs, so it waits
        with pytest.raises(channel.NoAnswer):
            channel.request_scores(waiter, ["you are kind"], ["en"], timeout_s=2.5)

    def analyze_status() -> dict[str, object]:
        return client.get("/statusz", headers=ops).get_json()["analyze_requests"]

    def gauges() -> tuple[float, float]:
        metrics = scrape(client, ops)
        [waiting] = metrics["moderation_analyze_requests_waiting"].samples
        [oldest] = metrics["moderation_analyze_oldest_request_age_seconds"].samples
        return waiting.value, oldest.value

    assert analyze_status() == {"list": channel.QUEUE, "waiting": 0, "oldest_age_s": 0.0}
    assert gauges() == (0.0, 0.0)

    waiters = [redis.Redis.from_url(redis_url) for _ in range(2)]
    first = threading.Thread(target=analyze, args=(waiters[0],))
    first.start()
    wait_for(lambda: redis_db.llen(channel.QUEUE) == 1, timeout=5, what="the first request")
    time.sleep(1.2)
    second = threading.Thread(target=analyze, args=(waiters[1],))
    second.start()
    wait_for(lambda: redis_db.llen(channel.QUEUE) == 2, timeout=5, what="the second request")

    status = analyze_status()
    # the age is the first (oldest) request's, not the one pushed just now
    assert status["waiting"] == 2 and 1.0 <= status["oldest_age_s"] < 2.5
    waiting, oldest = gauges()
    assert waiting == 2.0 and 1.0 <= oldest < 2.5
    # the Celery queues are listed as before, apart from it
    assert channel.QUEUE not in client.get("/statusz", headers=ops).get_json()["queues"]

    for thread in (first, second):
        thread.join(timeout=10)
    for waiter in waiters:
        waiter.close()
    # the callers gave up and took their requests back: nothing waits
    assert analyze_status() == {"list": channel.QUEUE, "waiting": 0, "oldest_age_s": 0.0}

    # a request without "at" (an API process of an older release) is counted, its age unknown
    redis_db.rpush(channel.QUEUE, '{"id": "old", "texts": ["hi"], "languages": []}')
    assert analyze_status()["waiting"] == 1 and analyze_status()["oldest_age_s"] == 0.0


def test_metrics_speak_openmetrics_when_asked(client: FlaskClient, ops: dict[str, str]) -> None:
    response = client.get("/metrics", headers={**ops, "Accept": "application/openmetrics-text"})
    assert response.content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert response.get_data(as_text=True).endswith("# EOF\n")


@pytest.mark.parametrize("path", ["/statusz", "/metrics"])
def test_status_and_metrics_need_an_ops_or_admin_token(
    client: FlaskClient, session: Session, path: str
) -> None:
    tokens = {
        role: create_token(session, f"{role}-{path}", role)
        for role in ("ops", "admin", "moderator", "site")
    }
    session.commit()
    anonymous = client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["code"] == "unauthorized"
    assert "host" not in anonymous.get_data(as_text=True)
    for role, expected in (("ops", 200), ("admin", 200), ("moderator", 403), ("site", 403)):
        response = client.get(path, headers={"Authorization": f"Bearer {tokens[role]}"})
        assert response.status_code == expected, role
    # the load balancer's probes stay open
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("path", ["/statusz", "/metrics"])
def test_ops_endpoints_open_serves_them_without_a_token(
    db_url: str, redis_url: str, path: str
) -> None:
    app = create_app(make_settings(db_url, redis_url, ops_endpoints_open=True))
    assert app.test_client().get(path).status_code == 200
    app.extensions["db"].dispose()


class _Scorer(KeywordScorer):
    """A scorer whose load succeeds, or fails with a reason."""

    def __init__(self, error: str | None = None) -> None:
        super().__init__()
        self.error = error

    def load(self) -> None:
        if self.error:
            raise ScorerUnavailable(self.error)


def test_statusz_shows_the_last_known_scorer_states_after_redis_loses_everything(
    app: Flask, client: FlaskClient, redis_db: redis.Redis, ops: dict[str, str]
) -> None:
    ready = ScorerHolder(_Scorer(), app.extensions["db"])
    ready.get()  # loads and reports
    broken = ScorerHolder(_Scorer("checkpoint missing"), app.extensions["db"])
    with pytest.raises(ScorerUnavailable):
        broken.get()
    redis_db.flushdb()  # a Redis restart without persistence (this test's database)

    scorers = client.get("/statusz", headers=ops).get_json()["scorers"]
    # both holders live in this process: one report, the latest (the failed load)
    [report] = scorers
    assert report["pid"] == os.getpid() and report["host"] == socket.gethostname()
    assert (report["state"], report["error"]) == ("unavailable", "checkpoint missing")
    assert 0 <= report["age_s"] < 60 and report["stale"] is False

    ready.publish()  # a later report of the same process replaces it
    [report] = client.get("/statusz", headers=ops).get_json()["scorers"]
    assert (report["state"], report["model"]) == ("ready", "keyword-fake")
