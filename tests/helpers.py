"""Helpers shared by tests and benchmarks (no pytest fixtures, so ``bench`` imports them too).

Databases of their own, reading Celery messages straight out of Redis, free ports, a
private redis-server, a webhook receiver, a toxicity worker's analyze thread, bearer
headers and our error envelope, Perspective requests as Coral Talk builds them.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from service.migrate import upgrade
from workers.pipeline.language import LanguageDetector
from workers.toxicity.analyze import ModelGate, serve

PG_ADMIN_URL = os.environ.get(
    "MODERATION_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def migrated_pg_database(prefix: str, revision: str = "head") -> Iterator[str]:
    """A PostgreSQL database of its own, migrated to ``revision``, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url, revision)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass(frozen=True)
class QueuedTask:
    name: str
    args: list[Any]


def queued(client: redis.Redis, queue: str) -> list[QueuedTask]:
    """The task messages waiting in a Celery queue on Redis, oldest first."""
    tasks = []
    for raw in reversed(client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        body = json.loads(base64.b64decode(message["body"]))
        tasks.append(QueuedTask(message["headers"]["task"], body[0]))
    return tasks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own, so the test can stop and start it."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.1, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


class WebhookReceiver:
    """A real local HTTP server that records webhook deliveries.

    By default it answers 500 to the first delivery of each event (so senders must
    retry) and 200 to every later one. ``answer`` replaces that: it gets the recorded
    request (``first`` says whether its event is new) and returns the status and the
    headers to send; it may block (a slow receiver). Each request is recorded as it
    arrives, its ``status`` None until it is answered.
    """

    def __init__(
        self, answer: Callable[[dict[str, Any]], tuple[int, dict[str, str]]] | None = None
    ) -> None:
        receiver = self
        self.requests: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        respond = answer or (lambda request: (500 if request["first"] else 200, {}))

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                event = self.headers.get("X-Moderation-Event", "")
                with receiver._lock:
                    first = event not in receiver._seen
                    receiver._seen.add(event)
                    request = {
                        "headers": dict(self.headers),
                        "body": body,
                        "first": first,
                        "status": None,
                    }
                    receiver.requests.append(request)
                status, headers = respond(request)
                with receiver._lock:
                    request["status"] = status
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting (its timeout)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # a blocked answer must not hold close() up
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/moderation"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def in_flight(self) -> list[dict[str, Any]]:
        """Requests received and not answered yet."""
        with self._lock:
            return [r for r in self.requests if r["status"] is None]

    def for_event(self, event_id: str) -> list[dict[str, Any]]:
        """The answered requests of one event, in order."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r["headers"].get("X-Moderation-Event") == event_id and r["status"] is not None
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def auth(token: str) -> dict[str, str]:
    """The headers that send ``token`` (a bearer token)."""
    return {"Authorization": f"Bearer {token}"}


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The body of our error envelope, after checking its status and code."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()["error"]
    assert (body["status"], body["code"]) == (status, code)
    return body  # type: ignore[no-any-return]


def coral_language(locale: str) -> str:
    """Coral Talk's ``convertLanguage``: its locale as a Perspective language."""
    return {"en-US": "en", "es": "es", "fr-FR": "fr", "de": "de", "pt-BR": "pt"}.get(locale, "en")


def coral_body(operation: str, locale: str, body: dict[str, Any]) -> dict[str, Any]:
    """Coral Talk's ``formatBody``: the JSON it sends for ``comments:analyze`` or
    ``comments:suggestscore`` (``body``: what its toxic phase passes; see
    tests/test_coral_replay.py)."""
    language = coral_language(locale)
    if operation == "comments:analyze":
        return {
            "comment": {"text": body["text"]},
            "doNotStore": body["doNotStore"],
            "requestedAttributes": {body["model"]: {}},
            "languages": [language],
        }
    entry = {"url": f"{body['storyURL']}?commentID={body['commentID']}"}
    if body.get("commentParentID") is not None:  # JSON.stringify drops undefined
        entry["reply_to_id_Coral_comment_id"] = body["commentParentID"]
    entry["Coral_comment_id"] = body["commentID"]
    return {
        "comment": {"text": body["text"]},
        "context": {"entries": [{"text": json.dumps(entry, separators=(",", ":"))}]},
        "attributeScores": {
            body["model"]: {
                "summaryScore": {"value": 0 if body["commentStatus"] == "APPROVED" else 1}
            }
        },
        "languages": [language],
        "communityId": f"Coral:{body['tenantURL']}",
        "clientToken": f"comment:{body['commentID']}",
    }


class AnalyzeWorker:
    """A toxicity worker's analyze thread (the real serving loop) with a stand-in model.

    ``scorer`` is what the process's scorer holder would return, or the exception it
    would raise; ``vi_scorer`` the same for TOXICITY_MODEL_VI's holder (None: the
    setting is empty); the language identifier is the real one.
    """

    def __init__(self, redis_url: str, scorer: Any, vi_scorer: Any = None) -> None:
        self.scorer = scorer
        self.vi_scorer = vi_scorer
        self.client = redis.Redis.from_url(redis_url)
        self.stop = threading.Event()
        self.gate = ModelGate()
        self.thread = threading.Thread(
            target=serve,
            args=(self.client, self.get, self.gate, LanguageDetector().detect, self.stop),
            kwargs={
                "poll_s": 0.2,
                "get_vi_scorer": self.get_vi if vi_scorer is not None else None,
            },
            daemon=True,
        )

    def get(self) -> Any:
        if isinstance(self.scorer, Exception):
            raise self.scorer
        return self.scorer

    def get_vi(self) -> Any:
        if isinstance(self.vi_scorer, Exception):
            raise self.vi_scorer
        return self.vi_scorer

    def __enter__(self) -> AnalyzeWorker:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.client.close()
