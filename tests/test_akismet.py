"""The Akismet-compatible endpoints, driven by the real ``akismet`` client (PyPI).

The client is pointed at the app the way its docs allow: its ``http_client`` argument,
an ``httpx.Client`` whose transport calls our WSGI app (the client's own URL,
``https://rest.akismet.com/1.1/...``, never leaves the process).
"""

from __future__ import annotations

from collections.abc import Iterator

import akismet
import httpx
import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from service.akismet import services
from service.akismet.services import CheckResult, Submission, verdict_for
from service.db import Session
from service.moderation.auth import create_token, find_token
from service.moderation.models import SpamLabel
from tests.helpers import free_port
from workers.pipeline.stages import Pipeline, pipeline_for
from workers.spam.learning import LearningSpamClassifier

SITE = "https://news.example.vn/"
SPAM = (
    "Kiếm tiền online 5 triệu mỗi ngày, liên hệ Zalo 0912 345 678 hoặc vào "
    "bit.ly/kiemtien-nhanh và www.kiemtien-nhanh.top/dang-ky ngay hôm nay"
)
HAM = "Thanks, this explains the new tax rules clearly. I had not understood the deadline."


@pytest.fixture
def key(client: FlaskClient, session: Session) -> str:
    token = create_token(session, "blog-a", "analyze")
    session.commit()
    return token


@pytest.fixture
def http_client(app: Flask, client: FlaskClient) -> Iterator[httpx.Client]:
    """An httpx client that reaches the app in-process, with the akismet client's agent."""
    with httpx.Client(
        transport=httpx.WSGITransport(app=app), headers={"User-Agent": akismet.USER_AGENT}
    ) as http:
        yield http


def _client(key: str, http: httpx.Client) -> akismet.SyncClient:
    return akismet.SyncClient.validated_client(
        config=akismet.Config(key=key, url=SITE), http_client=http
    )


def test_the_akismet_client_checks_and_submits(
    key: str, http_client: httpx.Client, session: Session
) -> None:
    ak = _client(key, http_client)  # verify-key on construction
    assert ak.verify_key() is True
    assert ak.comment_check(user_ip="203.0.113.7", comment_content=HAM) == akismet.CheckResponse.HAM
    assert (
        ak.comment_check(user_ip="203.0.113.8", comment_content=SPAM, comment_author="Shop")
        == akismet.CheckResponse.DISCARD
    )
    # Akismet's documented test value: plain spam, without the discard tip
    assert (
        ak.comment_check(user_ip="203.0.113.9", comment_author="akismet-guaranteed-spam")
        == akismet.CheckResponse.SPAM
    )
    assert ak.submit_spam(user_ip="203.0.113.8", comment_content=SPAM) is True
    assert ak.submit_ham(user_ip="203.0.113.7", comment_content=HAM) is True
    labels = session.execute(
        sa.select(SpamLabel.body, SpamLabel.is_spam, SpamLabel.source, SpamLabel.comment_id)
    ).all()
    assert sorted(tuple(row) for row in labels) == sorted(
        [(SPAM, True, "akismet:blog-a", None), (HAM, False, "akismet:blog-a", None)]
    )
    # the key remembers the site it is used for
    token = find_token(session, key)
    session.refresh(token)
    assert token is not None and token.blog == SITE


def test_a_bad_key_raises_the_clients_own_error(
    key: str, http_client: httpx.Client, session: Session
) -> None:
    with pytest.raises(akismet.APIKeyError):
        _client("cmt_not-a-key", http_client)
    # a token of another role is no Akismet key either
    moderator = create_token(session, "mod-akismet", "moderator")
    session.commit()
    with pytest.raises(akismet.APIKeyError):
        _client(moderator, http_client)
    # a client built without verifying gets the error on its first call
    unverified = akismet.SyncClient(
        config=akismet.Config(key="cmt_nope", url=SITE), http_client=http_client
    )
    assert unverified.verify_key() is False
    with pytest.raises(akismet.APIKeyError):
        unverified.comment_check(user_ip="203.0.113.7", comment_content=HAM)
    # a key is valid for a site URL only
    assert _client(key, http_client).verify_key(key, "news.example.vn") is False


def test_submissions_teach_the_classifier_moderators_teach(
    key: str, http_client: httpx.Client, session: Session
) -> None:
    similar = "Hôm nay shop Hoa Mai giảm giá sốc, liên hệ ngay nhận quà miễn phí nhé"
    worker = LearningSpamClassifier(refresh_s=0)  # a worker process, as it were
    before = worker.current(session).probability(similar)
    ak = _client(key, http_client)
    for text in (
        "Nhận quà miễn phí, liên hệ ngay shop Hoa Mai để được tư vấn giảm giá sốc",
        "Shop Hoa Mai giảm giá sốc hôm nay, liên hệ ngay để nhận quà miễn phí",
        "Giảm giá sốc tại shop Hoa Mai, nhận quà miễn phí khi liên hệ ngay hôm nay",
    ):
        assert ak.submit_spam(user_ip="198.51.100.1", comment_content=text) is True
    assert worker.current(session).probability(similar) > before + 0.2
    # test submissions teach nothing, as Akismet promises
    ak.submit_spam(user_ip="198.51.100.1", comment_content=HAM, is_test=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(SpamLabel)) == 3


def test_answers_follow_the_spam_band() -> None:
    band = (0.5, 0.95)
    assert verdict_for(0.49, band) is CheckResult.HAM
    assert verdict_for(0.5, band) is CheckResult.SPAM
    assert verdict_for(0.9499, band) is CheckResult.SPAM
    assert verdict_for(0.95, band) is CheckResult.DISCARD


def test_the_answer_is_the_pipelines_verdict_and_windows_count_copies(
    app: Flask, key: str, http_client: httpx.Client, session: Session
) -> None:
    text = "Great deals on phones this week, have a look at phone-deals.top for details"
    token = find_token(session, key)
    assert token is not None
    pipeline = pipeline_for(app)
    with app.app_context():
        checks = [
            services.check(
                session,
                pipeline,
                token,
                Submission(
                    blog=SITE,
                    user_ip=f"192.0.2.{i}",
                    comment_author=f"reader{i}",
                    comment_content=text,
                ),
            )
            for i in range(3)
        ]
        # the same comment checked again is not another copy of it
        again = services.check(
            session,
            pipeline,
            token,
            Submission(
                blog=SITE, user_ip="192.0.2.2", comment_author="reader2", comment_content=text
            ),
        )
    probabilities = [c.verdict.probability for c in checks if c.verdict]
    assert probabilities[0] < probabilities[1] < probabilities[2], probabilities
    assert again.verdict is not None and again.verdict.probability == probabilities[2]
    assert "duplicates" in checks[2].verdict.contributions  # type: ignore[union-attr]
    for c in checks:
        assert c.result is verdict_for(c.verdict.probability, pipeline.policy.spam_band)  # type: ignore[union-attr]


def test_refusals_are_akismets(client: FlaskClient, key: str) -> None:
    missing = client.post("/1.1/comment-check", data={"api_key": key, "blog": SITE})
    assert (missing.status_code, missing.text) == (200, "Missing required field: user_ip.")
    assert missing.headers["X-akismet-debug-help"] == "Missing required field: user_ip."
    assert missing.mimetype == "text/plain"

    no_key = client.post("/1.1/comment-check", data={"blog": SITE, "user_ip": "192.0.2.1"})
    assert (no_key.status_code, no_key.text) == (200, "invalid")
    assert no_key.headers["X-akismet-debug-help"]

    bad_blog = client.post("/1.1/verify-key", data={"key": key, "blog": "example"})
    assert bad_blog.text == "invalid"
    assert "blog URI" in bad_blog.headers["X-akismet-debug-help"]

    nul = client.post(
        "/1.1/submit-spam",
        data={"api_key": key, "blog": SITE, "user_ip": "1.2.3.4", "comment_content": "a\x00b"},
    )
    assert nul.status_code == 200 and "comment_content" in nul.headers["X-akismet-debug-help"]

    too_big = client.post(
        "/1.1/comment-check",
        data={"api_key": key, "blog": SITE, "user_ip": "1.2.3.4", "comment_content": "x" * 70000},
    )
    assert too_big.status_code == 413 and too_big.mimetype == "text/plain"
    assert too_big.headers["X-akismet-debug-help"] == "The request body is too large."

    # routing errors come before any blueprint: our own shape, with Allow
    wrong_method = client.get("/1.1/comment-check")
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["Allow"]


def test_form_bodies_only_where_the_protocol_has_them(client: FlaskClient) -> None:
    # our own API still refuses a form body
    response = client.post("/v1/articles/a1/comments", data={"body": "hi"})
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


def test_a_check_without_redis_still_answers(app: Flask, key: str, session: Session) -> None:
    token = find_token(session, key)
    assert token is not None
    live = pipeline_for(app)
    dead = Pipeline(
        settings=live.settings,
        redis=redis.Redis(port=free_port(), socket_connect_timeout=0.2),
        dispatcher=live.dispatcher,
    )
    submission = Submission(blog=SITE, user_ip="192.0.2.1", comment_content=SPAM)
    result = services.check(session, dead, token, submission)
    assert result.verdict is not None and result.result is CheckResult.DISCARD
    assert "duplicates" not in result.verdict.contributions
