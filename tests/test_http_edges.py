"""What real gunicorn answers before and around the app: every error in the one shape.

These requests never reach a view as written (an over-long request line, a header with a
bare CR, a chunked body with no declared length), so they are sent over a raw socket to
the API started as `make run` starts it, and each answer is checked for its status, the
JSON error envelope and, for writes, that nothing was stored.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from service.comments.models import Comment
from service.migrate import upgrade
from tests.helpers import PrivateRedis
from tests.stack import Stack

pytestmark = pytest.mark.integration

#: the API's default MAX_REQUEST_BYTES is 64 KiB; this is far past it
TEN_MB = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    tmp = tmp_path_factory.mktemp("http-edges")
    database_url = f"sqlite:///{tmp}/moderation.sqlite3"
    upgrade(database_url)
    redis_server = PrivateRedis().start()
    (tmp / "logs").mkdir()
    stack = Stack(database_url, redis_server, tmp / "logs")
    try:
        _process, url = stack.api()
        yield int(url.rsplit(":", 1)[1]), database_url
    finally:
        stack.stop()
        redis_server.stop()


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes); status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # the server may answer and close before it has read all of a huge body
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def error_of(headers: dict[str, str], body: bytes) -> dict[str, object]:
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert set(error) >= {"status", "code", "message", "request_id"}
    assert headers["x-request-id"] == error["request_id"]
    return error


def chunked(body: bytes, size: int = 65536) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def count_comments(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(Comment)).scalar_one()
    finally:
        engine.dispose()


def post_chunked(port: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
    return exchange(
        port,
        b"POST /v1/articles/edge/comments HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + chunked(body),
    )


def test_a_huge_chunked_body_is_413_and_stores_nothing(api: tuple[int, str]) -> None:
    port, database_url = api
    before = count_comments(database_url)
    body = json.dumps({"author_id": "r1", "author_name": "Reader", "body": "a" * TEN_MB}).encode()
    status, headers, raw = post_chunked(port, body)
    assert status == 413
    assert error_of(headers, raw)["code"] == "payload_too_large"
    assert count_comments(database_url) == before


def test_a_small_chunked_body_is_read_whole(api: tuple[int, str]) -> None:
    port, database_url = api
    before = count_comments(database_url)
    body = json.dumps(
        {"author_id": "r1", "author_name": "Reader", "body": "A chunked comment, sent whole."}
    ).encode()
    status, _headers, raw = post_chunked(port, body)
    assert status == 202, raw
    assert json.loads(raw)["body"] == "A chunked comment, sent whole."
    assert count_comments(database_url) == before + 1


def test_an_over_long_request_line_is_414_json(api: tuple[int, str]) -> None:
    port, _ = api
    status, headers, raw = exchange(
        port, b"GET /v1/articles/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: test\r\n\r\n"
    )
    assert status == 414
    assert error_of(headers, raw)["code"] == "uri_too_long"


@pytest.mark.parametrize(
    "header",
    [b"X-Note: a\rb", b"X Bad Name: 1", b"X-Note: " + b"v" * 9000],
    ids=["bare-cr", "bad-name", "over-long-value"],
)
def test_a_malformed_header_is_a_4xx_json(api: tuple[int, str], header: bytes) -> None:
    port, database_url = api
    before = count_comments(database_url)
    body = b'{"author_id": "r1", "author_name": "Reader", "body": "never stored"}'
    status, headers, raw = exchange(
        port,
        b"POST /v1/articles/edge/comments HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/json\r\n" + header + b"\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body,
    )
    assert status in (400, 431)
    assert error_of(headers, raw)["code"] in ("bad_request", "header_fields_too_large")
    assert count_comments(database_url) == before
