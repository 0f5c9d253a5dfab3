"""Abuse of the public endpoints: idempotency keys are the caller's own, reports are rate
limited and need a site token when one is required, and only readers with standing can
send an approved comment back to review."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask, request
from flask.testing import FlaskClient

from service import create_app
from service.comments.models import Comment, Status
from service.db import Session, utcnow
from service.moderation.auth import authenticate
from service.moderation.models import Report
from service.moderation.services import reporter_has_standing
from service.policy.models import AuthorStanding
from service.ratelimit import RateLimiter
from tests.conftest import make_settings
from tests.factories import known_reader, make_article, make_comment
from tests.helpers import auth, error, free_port

GOOD = {"author_id": "u1", "author_name": "Lan", "body": "Bài viết hay quá!"}


@contextmanager
def configured(app: Flask, **changes: Any) -> Iterator[None]:
    """The app's settings with ``changes`` for the block (views read them per request)."""
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = dataclasses.replace(settings, **changes)
    try:
        yield
    finally:
        app.config["SETTINGS"] = settings


def post_comment(
    client: FlaskClient, article: str, key: str, body: dict[str, Any] | None = None, **kw: Any
) -> Any:
    headers = {"Idempotency-Key": key, **kw.pop("headers", {})}
    return client.post(f"/v1/articles/{article}/comments", json=body or GOOD, headers=headers, **kw)


def report(
    client: FlaskClient, comment: Comment, reader: str, ip: str = "10.0.0.1", **kw: Any
) -> Any:
    body = {"reporter_id": reader, "reason": "harassment", **kw.pop("json", {})}
    return client.post(
        f"/v1/comments/{comment.id}/reports",
        json=body,
        environ_base={"REMOTE_ADDR": ip},
        **kw,
    )


def count(session: Session, model: type, *where: Any) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


# --- idempotency keys are the caller's own ---------------------------------------------


def test_a_key_from_another_article_is_another_comment_and_tells_nothing(
    client: FlaskClient, session: Session
) -> None:
    mine = post_comment(client, "a1", "order-42")
    assert mine.status_code == 202
    # a retry of the same request is answered with the same comment, as before
    again = post_comment(client, "a1", "order-42")
    assert (again.status_code, again.get_json()["id"]) == (202, mine.get_json()["id"])

    # Before: 422 idempotency_key_reused with details.comment_id of the first comment.
    theirs = post_comment(client, "a2", "order-42", {**GOOD, "body": "Someone else entirely"})
    assert theirs.status_code == 202
    assert theirs.get_json()["id"] != mine.get_json()["id"]
    assert mine.get_json()["id"] not in theirs.get_data(as_text=True)
    assert count(session, Comment) == 2


def test_site_token_scopes_keys_to_the_token(
    app: Flask, client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    with configured(app, require_site_token=True):
        first = post_comment(client, "a1", "k1", headers=auth(tokens["site"]))
        replay = post_comment(client, "a1", "k1", headers=auth(tokens["site"]))
        assert first.status_code == replay.status_code == 202
        assert replay.get_json()["id"] == first.get_json()["id"]

        # another site's token, same key, same article: its own comment
        other = post_comment(client, "a1", "k1", headers=auth(tokens["other_site"]))
        assert other.status_code == 202
        assert other.get_json()["id"] != first.get_json()["id"]

        # the same caller reusing its key for something else: refused, nothing named
        reused = post_comment(client, "a2", "k1", headers=auth(tokens["site"]))
        body = error(reused, 422, "idempotency_key_reused")
        assert "details" not in body
        assert first.get_json()["id"] not in reused.get_data(as_text=True)
    names = [authenticate(session, f"Bearer {tokens[w]}").name for w in ("site", "other_site")]
    stored = session.scalars(sa.select(Comment.idempotency_scope)).all()
    assert sorted(stored) == sorted(f"token:{name}" for name in names)


# --- reports need a site token when one is required ---------------------------------------


def test_reports_need_a_site_token_when_required(
    app: Flask, client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    comment = make_comment(session, make_article(session))
    session.commit()
    with configured(app, require_site_token=True):
        error(report(client, comment, "r1"), 401, "unauthorized")
        error(report(client, comment, "r1", headers=auth(tokens["moderator"])), 403, "forbidden")
        assert count(session, Report) == 0
        assert report(client, comment, "r1", headers=auth(tokens["site"])).status_code == 201
    assert count(session, Report) == 1


# --- rate limits ---------------------------------------------------------------------------


def test_reports_are_limited_per_ip(app: Flask, client: FlaskClient, session: Session) -> None:
    comment = make_comment(session, make_article(session))
    session.commit()
    with configured(app, report_rate_per_ip="3/minute", report_rate_per_reporter="100/minute"):
        for i in range(3):
            assert report(client, comment, f"r{i}", ip="10.0.0.7").status_code == 201
        refused = report(client, comment, "r3", ip="10.0.0.7")
        body = error(refused, 429, "rate_limited")
        assert body["details"]["limit"] == "ip"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert body["details"]["retry_after_s"] == int(refused.headers["Retry-After"])
        # another address has its own allowance
        assert report(client, comment, "r3", ip="10.0.0.8").status_code == 201
    assert count(session, Report) == 4  # the refused one wrote nothing


def test_reports_are_limited_per_reporter(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    article = make_article(session)
    comments = [make_comment(session, article) for _ in range(3)]
    session.commit()
    with configured(app, report_rate_per_ip="100/minute", report_rate_per_reporter="2/minute"):
        # a new address for each report does not help one reader past their limit
        assert report(client, comments[0], "busy", ip="10.0.1.1").status_code == 201
        assert report(client, comments[1], "busy", ip="10.0.1.2").status_code == 201
        refused = report(client, comments[2], "busy", ip="10.0.1.3")
        assert error(refused, 429, "rate_limited")["details"]["limit"] == "reporter"
        assert int(refused.headers["Retry-After"]) >= 1
        assert report(client, comments[2], "someone-else", ip="10.0.1.3").status_code == 201
    assert count(session, Report, Report.reporter_id == "busy") == 2


def test_with_a_site_token_the_readers_ip_is_limited_not_the_sites(
    app: Flask, client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    comment = make_comment(session, make_article(session))
    session.commit()
    site = auth(tokens["site"])
    limits = {"report_rate_per_ip": "2/minute", "report_rate_per_reporter": "100/minute"}
    with configured(app, require_site_token=True, **limits):
        # every call comes from the site's backend; the readers' own IPs are in the body
        for i, reader_ip in enumerate(["203.0.113.1", "203.0.113.2", "203.0.113.3"]):
            r = report(client, comment, f"r{i}", headers=site, json={"client_ip": reader_ip})
            assert r.status_code == 201
        again = report(client, comment, "r9", headers=site, json={"client_ip": "203.0.113.1"})
        assert again.status_code == 201
        refused = report(client, comment, "r10", headers=site, json={"client_ip": "203.0.113.1"})
        assert error(refused, 429, "rate_limited")["details"]["limit"] == "ip"
        # a site that sends no client_ip is not throttled as one reader (the per-reader
        # limit still holds)
        for i in range(3):
            assert report(client, comment, f"no-ip-{i}", headers=site).status_code == 201
    # without a required token the body's IP is not trusted: the caller's address counts
    with configured(app, **limits):
        for i in range(2):
            r = report(client, comment, f"open{i}", ip="10.9.9.9", json={"client_ip": f"1.1.1.{i}"})
            assert r.status_code == 201
        refused = report(client, comment, "open2", ip="10.9.9.9", json={"client_ip": "1.1.1.3"})
        error(refused, 429, "rate_limited")


def test_reports_fail_open_when_redis_is_down(
    app: Flask,
    client: FlaskClient,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    comment = make_comment(session, make_article(session))
    session.commit()
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    limiter = RateLimiter(redis.Redis.from_url(dead, socket_connect_timeout=0.5), dead)
    monkeypatch.setitem(app.extensions, "rate_limiter", limiter)
    with configured(app, report_rate_per_ip="1/minute"), caplog.at_level(logging.WARNING):
        # a report is not worth a 500: accepted, unlimited, and the outage logged
        assert report(client, comment, "r1").status_code == 201
        assert report(client, comment, "r2").status_code == 201
    assert "rate limit not checked, Redis unavailable" in caplog.text
    assert count(session, Report) == 2


# --- only readers with standing pull a comment ---------------------------------------------


def test_two_hundred_made_up_readers_cannot_pull_an_approved_comment(
    app: Flask, client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    comment = make_comment(session, make_article(session), status=Status.APPROVED)
    session.commit()
    # each from an address of its own, so no rate limit stops them: standing alone must
    for i in range(200):
        r = report(client, comment, f"sock-{i}", ip=f"10.{i // 250}.{i % 250}.9")
        assert r.status_code == 201, r.get_data(as_text=True)
        assert "counted" not in r.get_json()  # the reporter is not told whether it counted
    session.expire_all()
    stored = session.get(Comment, comment.id)
    # Before: held after the third report.
    assert (stored.status, stored.report_count, stored.counted_report_count) == (
        "approved",
        200,
        0,
    )
    # every report is kept and shown to moderators, marked as not counted
    detail = client.get(
        f"/v1/moderation/comments/{comment.id}", headers=auth(tokens["moderator"])
    ).get_json()
    assert len(detail["reports"]) == 200
    assert {r["counted"] for r in detail["reports"]} == {False}
    queue = client.get(
        "/v1/moderation/queue",
        query_string={"reported": "true", "status": "approved"},
        headers=auth(tokens["moderator"]),
    ).get_json()
    assert [i["id"] for i in queue["items"]] == [str(comment.id)]


def test_readers_with_standing_pull_it_at_the_threshold(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    threshold = app.config["SETTINGS"].report_threshold
    article = make_article(session)
    comment = make_comment(session, article, status=Status.APPROVED)
    elsewhere = make_comment(session, article, status=Status.APPROVED)
    readers = [f"regular-{i}" for i in range(threshold)]
    for reader in readers[:-1]:
        known_reader(session, article, reader)  # an approved comment two days old
    # the last one never commented, but reported something else two days ago
    session.add(
        Report(
            comment_id=elsewhere.id,
            reporter_id=readers[-1],
            reason="spam",
            created_at=utcnow() - timedelta(days=2),
        )
    )
    session.commit()
    # fresh ids along the way change nothing
    assert report(client, comment, "fresh-1").status_code == 201
    for reader in readers:
        session.expire_all()
        assert session.get(Comment, comment.id).status == "approved"
        assert report(client, comment, reader).status_code == 201
    session.expire_all()
    held = session.get(Comment, comment.id)
    assert (held.status, held.report_count, held.counted_report_count) == (
        "held",
        threshold + 1,
        threshold,
    )
    assert held.reasons == [
        {"rule": "reported", "effect": "held", "reports": threshold, "threshold": threshold}
    ]


@pytest.mark.parametrize(
    ("case", "has_standing"),
    [
        ("approved comment two days old", True),
        ("report two days old", True),
        ("approved comment an hour old", False),
        ("rejected comment two days old", False),
        ("nothing", False),
        ("banned, approved comment two days old", False),
        ("always_review, approved comment two days old", False),
    ],
)
def test_standing(session: Session, case: str, has_standing: bool) -> None:
    article = make_article(session)
    reader = f"reader-{uuid.uuid4().hex[:8]}"
    two_days, hour = timedelta(days=2), timedelta(hours=1)
    if "approved comment" in case:
        known_reader(session, article, reader, age=hour if "hour" in case else two_days)
    if "rejected comment" in case:
        make_comment(
            session,
            article,
            author_id=reader,
            status=Status.REJECTED,
            created_at=utcnow() - two_days,
        )
    if "report" in case:
        other = make_comment(session, article)
        session.add(
            Report(
                comment_id=other.id,
                reporter_id=reader,
                reason="spam",
                created_at=utcnow() - two_days,
            )
        )
    for standing in ("banned", "always_review"):
        if case.startswith(standing):
            session.add(AuthorStanding(author_id=reader, standing=standing))
    session.flush()
    assert reporter_has_standing(session, reader, min_age=timedelta(days=1)) is has_standing


def test_min_age_zero_counts_every_reader_in_good_standing(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    comment = make_comment(session, make_article(session), status=Status.APPROVED)
    session.add(AuthorStanding(author_id="troll", standing="banned"))
    session.commit()
    with configured(app, reporter_min_age_s=0, report_threshold=2):
        assert report(client, comment, "troll").status_code == 201
        assert report(client, comment, "new-1").status_code == 201
        session.expire_all()
        assert session.get(Comment, comment.id).status == "approved"  # the ban still counts
        assert report(client, comment, "new-2").status_code == 201
    session.expire_all()
    assert session.get(Comment, comment.id).status == "held"


@pytest.mark.parametrize(("hops", "seen"), [(0, "10.9.9.9"), (1, "203.0.113.5")])
def test_the_callers_address_comes_from_trusted_proxies_only(
    db_url: str, redis_url: str, hops: int, seen: str
) -> None:
    # behind one reverse proxy every reader arrives from the proxy's address: per-IP
    # limits need the address it forwards, and only as many hops as TRUSTED_PROXIES says
    proxied = create_app(make_settings(db_url, redis_url, trusted_proxies=hops))
    proxied.add_url_rule("/_who", "who", lambda: {"ip": request.remote_addr})
    answer = proxied.test_client().get(
        "/_who",
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.5"},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert answer.get_json() == {"ip": seen}
    proxied.extensions["db"].dispose()
