"""The moderators' API: auth, the queue, decisions, bulk, reversal, reports, bans, words."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.comments.models import Comment, Status
from service.db import Session
from service.migrate import upgrade
from service.moderation.auth import create_token, revoke_token
from service.moderation.models import AuditEntry, Report, SpamLabel
from service.moderation.queue import CountsCache, QueueFilters
from service.policy.models import AuthorStanding, WordRule
from tests.conftest import make_settings
from tests.factories import at, known_reader, make_article, make_comment
from tests.helpers import auth, error

# --- the auth matrix -----------------------------------------------------------------

ANY_ID = "01a22abf-5dbc-7c58-96a4-50197bd05d72"
#: (method, path, body, role that may call it)
ENDPOINTS = [
    ("get", "/v1/moderation/queue", None, "moderator"),
    ("get", f"/v1/moderation/comments/{ANY_ID}", None, "moderator"),
    (
        "post",
        f"/v1/moderation/comments/{ANY_ID}/decision",
        {"action": "approve", "version": 1},
        "moderator",
    ),
    (
        "post",
        "/v1/moderation/decisions",
        {"action": "approve", "items": [{"comment_id": ANY_ID, "version": 1}]},
        "moderator",
    ),
    ("put", "/v1/moderation/authors/someone", {"standing": "always_review"}, "moderator"),
    ("put", "/v1/moderation/articles/a-1", {"comments_open": False}, "moderator"),
    ("get", "/v1/moderation/words", None, "admin"),
    ("post", "/v1/moderation/words", {"phrase": "xyz", "kind": "suspect"}, "admin"),
    ("delete", "/v1/moderation/words/999999", None, "admin"),
]


@pytest.mark.parametrize(("method", "path", "body", "role"), ENDPOINTS)
def test_auth_matrix(
    client: FlaskClient, tokens: dict[str, str], method: str, path: str, body: Any, role: str
) -> None:
    call = getattr(client, method)
    kwargs = {"json": body} if body is not None else {}

    response = call(path, **kwargs)
    error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")

    error(call(path, headers=auth("cmt_not-a-real-token"), **kwargs), 401, "unauthorized")
    error(
        call(path, headers={"Authorization": "Basic dXNlcjpwdw=="}, **kwargs), 401, "unauthorized"
    )

    wrong = "site" if role == "moderator" else "moderator"
    forbidden = error(call(path, headers=auth(tokens[wrong]), **kwargs), 403, "forbidden")
    assert role in forbidden["message"]

    for allowed in {"moderator", "admin"} if role == "moderator" else {"admin"}:
        response = call(path, headers=auth(tokens[allowed]), **kwargs)
        assert response.status_code not in {401, 403}, (allowed, response.get_json())
        assert response.status_code < 500


def test_revoked_token_is_refused(client: FlaskClient, session: Session) -> None:
    token = create_token(session, "leaver", "moderator")
    session.commit()
    assert client.get("/v1/moderation/queue", headers=auth(token)).status_code == 200
    assert revoke_token(session, "leaver")
    session.commit()
    error(client.get("/v1/moderation/queue", headers=auth(token)), 401, "unauthorized")


def test_site_token_required_when_configured(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    body = {"author_id": "u1", "author_name": "Lan", "body": "Hello"}
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = type(settings)(**{**settings.__dict__, "require_site_token": True})
    try:
        error(client.post("/v1/articles/a1/comments", json=body), 401, "unauthorized")
        error(
            client.post("/v1/articles/a1/comments", json=body, headers=auth(tokens["moderator"])),
            403,
            "forbidden",
        )
        ok = client.post("/v1/articles/a1/comments", json=body, headers=auth(tokens["site"]))
        assert ok.status_code == 202
        error(client.put("/v1/articles/a1", json={"comments_open": False}), 401, "unauthorized")
    finally:
        app.config["SETTINGS"] = settings


def test_tokens_never_reach_the_logs(
    client: FlaskClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"):
        client.get("/v1/moderation/queue", headers=auth(tokens["moderator"]))
        client.get("/v1/moderation/queue", headers=auth("cmt_wrong-one"))
    assert tokens["moderator"] not in caplog.text
    assert "cmt_wrong-one" not in caplog.text


# --- the queue -------------------------------------------------------------------------


def _scored(
    session: Session, article: Any, *, status: str = Status.HELD, t: float = 0, **scores: Any
) -> Comment:
    fields = {f"score_{k}": v for k, v in scores.items() if k != "spam"}
    comment = make_comment(
        session,
        article,
        status=status,
        created_at=at(t),
        spam_score=scores.get("spam"),
        scores={k: v for k, v in scores.items() if k != "spam"} or None,
        **fields,
    )
    return comment


@pytest.fixture
def queue_data(session: Session) -> dict[str, Any]:
    a1, a2 = make_article(session, "q-a1"), make_article(session, "q-a2")
    c = {
        "old": _scored(session, a1, t=1, toxicity=0.5, insult=0.2, spam=0.1),
        "mid": _scored(session, a1, t=2, toxicity=0.8, insult=0.7, spam=0.3),
        "new": _scored(session, a2, t=3, toxicity=0.6, insult=0.1, spam=0.95),
        "vi": make_comment(session, a2, status=Status.HELD, created_at=at(4), language="vi"),
        "approved": _scored(session, a1, status=Status.APPROVED, t=5, toxicity=0.1),
        "reported": _scored(session, a1, status=Status.APPROVED, t=6, toxicity=0.2),
        "pending": make_comment(session, a1, status=Status.PENDING, created_at=at(7)),
    }
    c["reported"].report_count = 2
    session.commit()
    return c


def q(client: FlaskClient, token: str, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/moderation/queue", query_string=params, headers=auth(token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids(page: dict[str, Any], data: dict[str, Any]) -> list[str]:
    by_id = {str(v.id): k for k, v in data.items()}
    return [by_id[item["id"]] for item in page["items"]]


def test_queue_defaults_to_held_oldest_first_with_counts(
    client: FlaskClient, tokens: dict[str, str], queue_data: dict[str, Any]
) -> None:
    page = q(client, tokens["moderator"])
    assert ids(page, queue_data) == ["old", "mid", "new", "vi"]
    assert page["counts"] == {"pending": 1, "approved": 2, "held": 4, "rejected": 0}
    item = page["items"][1]
    # the scores and reasons at a glance
    assert item["scores"] == {"toxicity": 0.8, "insult": 0.7}
    assert item["spam_score"] == 0.3 and item["version"] == 1 and "reasons" in item


def test_queue_filters(
    client: FlaskClient, tokens: dict[str, str], queue_data: dict[str, Any]
) -> None:
    m = tokens["moderator"]
    assert ids(q(client, m, article="q-a2"), queue_data) == ["new", "vi"]
    assert ids(q(client, m, language="vi"), queue_data) == ["vi"]
    assert ids(q(client, m, status=["approved"], reported="true"), queue_data) == ["reported"]
    assert ids(q(client, m, status=["held", "pending"]), queue_data) == [
        "old",
        "mid",
        "new",
        "vi",
        "pending",
    ]
    assert ids(q(client, m, score="toxicity:0.55:1"), queue_data) == ["mid", "new"]
    both = q(client, m, score=["toxicity:0.55:1", "insult:0.5:1"])
    assert ids(both, queue_data) == ["mid"]
    assert ids(q(client, m, score="spam:0.9:1"), queue_data) == ["new"]
    # counts follow the other filters
    assert q(client, m, article="q-a2")["counts"]["held"] == 2


def test_queue_sorts_by_score_and_pages_with_a_cursor(
    client: FlaskClient, tokens: dict[str, str], queue_data: dict[str, Any]
) -> None:
    m = tokens["moderator"]
    assert ids(q(client, m, sort="score:toxicity"), queue_data) == ["mid", "new", "old", "vi"]
    assert ids(q(client, m, sort="newest"), queue_data) == ["vi", "new", "mid", "old"]
    seen, cursor = [], None
    for _ in range(5):
        page = q(client, m, sort="score:insult", limit=1, **({"cursor": cursor} if cursor else {}))
        seen += ids(page, queue_data)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["mid", "old", "new", "vi"]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "deleted"},
        {"sort": "score:nope"},
        {"score": "toxicity:0.9:0.1"},
        {"score": "nope:0:1"},
        {"score": "toxicity"},
        {"limit": 1000},
    ],
)
def test_queue_rejects_bad_filters(
    client: FlaskClient, tokens: dict[str, str], params: dict[str, Any]
) -> None:
    response = client.get(
        "/v1/moderation/queue", query_string=params, headers=auth(tokens["moderator"])
    )
    error(response, 422, "validation_failed")


def test_cursor_of_another_sort_is_refused(
    client: FlaskClient, tokens: dict[str, str], queue_data: dict[str, Any]
) -> None:
    cursor = q(client, tokens["moderator"], limit=1)["next_cursor"]
    response = client.get(
        "/v1/moderation/queue",
        query_string={"cursor": cursor, "sort": "score:toxicity"},
        headers=auth(tokens["moderator"]),
    )
    error(response, 422, "validation_failed")


# --- one comment in full ---------------------------------------------------------------


def test_comment_in_full(client: FlaskClient, session: Session, tokens: dict[str, str]) -> None:
    article = make_article(session)
    earlier = make_comment(
        session, article, author_id="lan", status=Status.REJECTED, created_at=at(1)
    )
    comment = make_comment(
        session,
        article,
        author_id="lan",
        status=Status.HELD,
        created_at=at(2),
        signals={"language": {"code": "en"}},
        client_ip="10.0.0.1",
    )
    session.add(Report(comment_id=comment.id, reporter_id="r1", reason="spam"))
    session.add(
        AuditEntry(
            comment_id=comment.id,
            actor="system:pipeline",
            from_status="pending",
            to_status="held",
            reason_code="toxicity",
        )
    )
    session.commit()
    body = client.get(
        f"/v1/moderation/comments/{comment.id}", headers=auth(tokens["moderator"])
    ).get_json()
    assert body["comment"]["id"] == str(comment.id)
    assert body["comment"]["signals"] == {"language": {"code": "en"}}
    assert body["comment"]["client_ip"] == "10.0.0.1"
    assert body["author"]["counts"] == {"pending": 0, "approved": 0, "held": 1, "rejected": 1}
    assert [c["id"] for c in body["author"]["recent"]] == [str(earlier.id)]
    assert body["author"]["standing"] == "normal"
    assert [r["reason"] for r in body["reports"]] == ["spam"]
    assert [a["to_status"] for a in body["audit"]] == ["held"]
    error(
        client.get(f"/v1/moderation/comments/{ANY_ID}", headers=auth(tokens["moderator"])),
        404,
        "comment_not_found",
    )


# --- decisions ------------------------------------------------------------------------------


def decide(client: FlaskClient, token: str, comment: Any, **body: Any) -> Any:
    return client.post(
        f"/v1/moderation/comments/{comment.id}/decision", json=body, headers=auth(token)
    )


def test_two_moderators_cannot_overwrite_each_other(client: FlaskClient, session: Session) -> None:
    alice = create_token(session, "alice", "moderator")
    bob = create_token(session, "bob", "moderator")
    comment = make_comment(session, make_article(session), status=Status.HELD)
    session.commit()
    seen = comment.version  # both loaded the queue at this version

    first = decide(client, alice, comment, action="approve", version=seen)
    assert first.status_code == 200
    assert first.get_json()["status"] == "approved"
    assert first.get_json()["decided_by"] == "moderator:alice"

    clash = error(
        decide(client, bob, comment, action="reject", reason="toxic", version=seen),
        409,
        "stale_version",
    )
    assert clash["details"]["status"] == "approved"
    assert clash["details"]["version"] == seen + 1
    assert clash["details"]["decided_by"] == "moderator:alice"
    session.expire_all()
    assert session.get(Comment, comment.id).status == "approved"


def test_reversal_is_audited(client: FlaskClient, session: Session, tokens: dict[str, str]) -> None:
    m = tokens["moderator"]
    comment = make_comment(session, make_article(session), status=Status.APPROVED)
    session.commit()
    r1 = decide(
        client,
        m,
        comment,
        action="reject",
        reason="harassment",
        note="after reports",
        version=comment.version,
    ).get_json()
    r2 = decide(
        client, m, comment, action="approve", note="appeal upheld", version=r1["version"]
    ).get_json()
    assert (r1["status"], r2["status"]) == ("rejected", "approved")
    trail = session.scalars(
        sa.select(AuditEntry).where(AuditEntry.comment_id == comment.id).order_by(AuditEntry.id)
    ).all()
    assert [(a.from_status, a.to_status, a.reason_code, a.note) for a in trail] == [
        ("approved", "rejected", "harassment", "after reports"),
        ("rejected", "approved", None, "appeal upheld"),
    ]
    assert all(a.actor.startswith("moderator:") for a in trail)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "reject", "version": 1}, "reason"),
        ({"action": "reject", "reason": "rude", "version": 1}, "reason"),
        ({"action": "delete", "version": 1}, "action"),
        ({"action": "approve"}, "version"),
        ({"action": "approve", "version": 1, "extra": 1}, "extra"),
    ],
)
def test_bad_decisions(
    client: FlaskClient, session: Session, tokens: dict[str, str], body: dict, field: str
) -> None:
    comment = make_comment(session, make_article(session), status=Status.HELD)
    session.commit()
    err = error(decide(client, tokens["moderator"], comment, **body), 422, "validation_failed")
    assert field in err["details"]
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


def test_bulk_decisions_report_each_result(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    article = make_article(session)
    fresh = make_comment(session, article, status=Status.HELD)
    stale = make_comment(session, article, status=Status.HELD)
    already = make_comment(session, article, status=Status.REJECTED)
    session.commit()
    missing = uuid.uuid4()
    response = client.post(
        "/v1/moderation/decisions",
        json={
            "action": "reject",
            "reason": "spam",
            "items": [
                {"comment_id": str(fresh.id), "version": fresh.version},
                {"comment_id": str(stale.id), "version": stale.version + 5},
                {"comment_id": str(missing), "version": 1},
                {"comment_id": str(already.id), "version": already.version},
            ],
        },
        headers=auth(tokens["moderator"]),
    )
    assert response.status_code == 200
    results = {r["comment_id"]: r for r in response.get_json()["results"]}
    assert results[str(fresh.id)]["result"] == "applied"
    assert results[str(fresh.id)]["status"] == "rejected"
    assert results[str(stale.id)]["result"] == "conflict"
    assert results[str(stale.id)]["status"] == "held"
    assert results[str(missing)]["result"] == "not_found"
    assert results[str(already.id)]["result"] == "unchanged"
    assert response.get_json()["summary"] == {
        "applied": 1,
        "conflict": 1,
        "not_found": 1,
        "unchanged": 1,
    }
    session.expire_all()
    assert session.get(Comment, stale.id).status == "held"  # the conflict changed nothing


def test_bulk_is_bounded(client: FlaskClient, tokens: dict[str, str]) -> None:
    items = [{"comment_id": str(uuid.uuid4()), "version": 1} for _ in range(501)]
    error(
        client.post(
            "/v1/moderation/decisions",
            json={"action": "approve", "items": items},
            headers=auth(tokens["moderator"]),
        ),
        422,
        "validation_failed",
    )


# --- reports ------------------------------------------------------------------------------


def report(client: FlaskClient, comment: Any, reader: str, reason: str = "harassment") -> Any:
    return client.post(
        f"/v1/comments/{comment.id}/reports", json={"reporter_id": reader, "reason": reason}
    )


def test_reports_send_an_approved_comment_back_to_review_at_the_threshold(
    app: Flask, client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    threshold = app.config["SETTINGS"].report_threshold
    article = make_article(session)
    comment = make_comment(session, article, status=Status.APPROVED)
    # readers the site has known for a while: their reports count (test_reports_abuse.py
    # has the ones that do not)
    for reader in [*(f"reader-{i}" for i in range(threshold - 1)), "reader-last", "reader-new"]:
        known_reader(session, article, reader)
    session.commit()
    for i in range(threshold - 1):
        assert report(client, comment, f"reader-{i}").status_code == 201
    session.expire_all()
    assert session.get(Comment, comment.id).status == "approved"
    # one report per reader per comment
    error(report(client, comment, "reader-0"), 409, "already_reported")

    assert report(client, comment, "reader-last").status_code == 201
    session.expire_all()
    held = session.get(Comment, comment.id)
    assert (held.status, held.report_count) == ("held", threshold)
    assert held.reasons == [
        {"rule": "reported", "effect": "held", "reports": threshold, "threshold": threshold}
    ]
    entry = session.scalars(sa.select(AuditEntry).where(AuditEntry.comment_id == comment.id)).one()
    assert (entry.actor, entry.from_status, entry.to_status) == (
        "system:reports",
        "approved",
        "held",
    )

    # reported filter shows it; a moderator's decision answers the reports
    page = q(client, tokens["moderator"], reported="true")
    assert [i["id"] for i in page["items"]] == [str(comment.id)]
    r = decide(client, tokens["moderator"], held, action="approve", version=held.version)
    assert r.get_json()["report_count"] == 0
    assert report(client, held, "reader-new").status_code == 201
    session.expire_all()
    assert session.get(Comment, comment.id).status == "approved"  # one new report is not three


def test_report_validation(client: FlaskClient, session: Session) -> None:
    comment = make_comment(session, make_article(session), status=Status.REJECTED)
    session.commit()
    error(report(client, comment, "r1"), 409, "comment_removed")
    error(
        client.post(f"/v1/comments/{ANY_ID}/reports", json={"reporter_id": "r", "reason": "spam"}),
        404,
        "comment_not_found",
    )
    error(
        client.post(
            f"/v1/comments/{comment.id}/reports", json={"reporter_id": "r", "reason": "meh"}
        ),
        422,
        "validation_failed",
    )


# --- bans, policy, words -----------------------------------------------------------------


def test_ban_rejects_waiting_comments(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    article = make_article(session)
    waiting = [
        make_comment(session, article, author_id="troll", status=s)
        for s in (Status.PENDING, Status.HELD)
    ]
    shown = make_comment(session, article, author_id="troll", status=Status.APPROVED)
    session.commit()
    response = client.put(
        "/v1/moderation/authors/troll",
        json={"standing": "banned", "reason": "spam bot"},
        headers=auth(tokens["moderator"]),
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["standing"], body["rejected"]) == ("banned", 2)
    assert body["updated_by"].startswith("moderator:")
    session.expire_all()
    assert [session.get(Comment, c.id).status for c in waiting] == ["rejected", "rejected"]
    assert session.get(Comment, shown.id).status == "approved"
    assert session.get(AuthorStanding, "troll").standing == "banned"
    # and back
    client.put(
        "/v1/moderation/authors/troll",
        json={"standing": "normal"},
        headers=auth(tokens["moderator"]),
    )
    session.expire_all()
    assert session.get(AuthorStanding, "troll").standing == "normal"


def test_article_policy(client: FlaskClient, session: Session, tokens: dict[str, str]) -> None:
    response = client.put(
        "/v1/moderation/articles/sensitive-1",
        json={"moderation_mode": "pre"},
        headers=auth(tokens["moderator"]),
    )
    assert response.get_json()["moderation_mode"] == "pre"
    error(
        client.put(
            "/v1/moderation/articles/sensitive-1",
            json={"moderation_mode": "maybe"},
            headers=auth(tokens["moderator"]),
        ),
        422,
        "validation_failed",
    )


def test_both_article_policy_routes_refuse_an_id_comments_would_refuse(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    from service.articles.models import Article

    for path in ("/v1/articles/bad%20id", "/v1/moderation/articles/bad%20id"):
        response = client.put(
            path, json={"comments_open": False}, headers=auth(tokens["moderator"])
        )
        assert "article_id" in error(response, 422, "validation_failed")["details"]
    assert session.scalars(sa.select(Article).where(Article.external_id == "bad id")).all() == []


def test_word_lists(client: FlaskClient, session: Session, tokens: dict[str, str]) -> None:
    a = auth(tokens["admin"])
    made = client.post(
        "/v1/moderation/words", json={"phrase": "  Đồ NGU ", "kind": "banned"}, headers=a
    )
    assert made.status_code == 201
    assert made.get_json()["phrase"] == "đồ ngu"
    error(
        client.post(
            "/v1/moderation/words", json={"phrase": "đồ ngu", "kind": "suspect"}, headers=a
        ),
        409,
        "word_exists",
    )
    assert [w["phrase"] for w in client.get("/v1/moderation/words", headers=a).get_json()] == [
        "đồ ngu"
    ]
    assert (
        client.delete(f"/v1/moderation/words/{made.get_json()['id']}", headers=a).status_code == 204
    )
    assert session.scalar(sa.select(sa.func.count()).select_from(WordRule)) == 0


# --- feedback to the spam classifier ---------------------------------------------------------


def test_decisions_become_spam_labels(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    article = make_article(session)
    spam = make_comment(
        session, article, status=Status.HELD, body="Liên hệ zalo 0912345678 nhận quà"
    )
    ham = make_comment(session, article, status=Status.HELD, body="Bài viết hay")
    toxic = make_comment(session, article, status=Status.HELD, body="rude words")
    session.commit()
    m = tokens["moderator"]
    decide(client, m, spam, action="reject", reason="spam", version=spam.version)
    decide(client, m, ham, action="approve", version=ham.version)
    decide(client, m, toxic, action="reject", reason="toxic", version=toxic.version)
    labels = session.scalars(sa.select(SpamLabel).order_by(SpamLabel.id)).all()
    assert [(lab.comment_id, lab.is_spam) for lab in labels] == [(spam.id, True), (ham.id, False)]
    assert labels[0].body == spam.body and labels[0].source.startswith("moderator:")


def test_stale_counts_are_answered_at_once_and_recounted_after_the_response(
    session: Session, redis_db: Any
) -> None:
    article = make_article(session)
    make_comment(session, article, status=Status.HELD)
    session.commit()
    scheduled: list[Callable[[Session], None]] = []
    cache = CountsCache(redis_db, ttl_s=0.2, later=scheduled.append)
    filters = QueueFilters()
    assert cache.get(session, filters)["held"] == 1  # nothing cached: counted now
    assert scheduled == []
    make_comment(session, article, status=Status.HELD)
    session.commit()
    time.sleep(0.3)
    assert cache.get(session, filters)["held"] == 1  # stale: answered at once
    assert cache.get(session, filters)["held"] == 1
    assert len(scheduled) == 1  # one recount at a time
    scheduled[0](session)
    assert cache.get(session, filters)["held"] == 2


def test_the_queue_recounts_after_its_response_has_gone(
    tmp_path: Path, redis_url: str, redis_db: Any
) -> None:
    # a database of its own: the recount's session must see what the test committed
    url = f"sqlite:///{tmp_path}/counts.sqlite3"
    upgrade(url)
    app = create_app(make_settings(url, redis_url, queue_counts_ttl_s=0.2))
    try:
        with app.extensions["db"].session() as setup:
            article = make_article(setup)
            make_comment(setup, article, status=Status.HELD)
            token = create_token(setup, "counts", "moderator")
        client = app.test_client()

        def held() -> int:
            response = client.get("/v1/moderation/queue", headers=auth(token))
            counts = response.get_json()["counts"]["held"]
            response.close()  # what the WSGI server does once the body is sent
            return counts  # type: ignore[no-any-return]

        assert held() == 1
        with app.extensions["db"].session() as more:
            make_comment(more, more.get(type(article), article.id), status=Status.HELD)
        time.sleep(0.3)
        assert held() == 1  # the stale count, answered at once; recounted after it
        assert held() == 2
    finally:
        app.extensions["db"].dispose()


def test_status_counts_are_cached_briefly(session: Session, redis_db: Any) -> None:
    article = make_article(session)
    make_comment(session, article, status=Status.HELD)
    session.commit()
    cache = CountsCache(redis_db, ttl_s=60)
    filters = QueueFilters()
    assert cache.get(session, filters)["held"] == 1
    make_comment(session, article, status=Status.HELD)
    session.commit()
    assert cache.get(session, filters)["held"] == 1  # within the TTL: the cached count
    assert CountsCache(redis_db, ttl_s=0).get(session, filters)["held"] == 2
    # another filter set is counted on its own
    assert cache.get(session, QueueFilters(language="vi"))["held"] == 0
