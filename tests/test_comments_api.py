"""The frontend's comment API: submit, read, list; every bad input refused with nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from service.articles.models import Article
from service.comments.models import Comment, Status
from service.db import Session
from service.moderation.auth import create_token
from tests.factories import at, make_article, make_comment

GOOD = {"author_id": "u1", "author_name": "Lan", "body": "Bài viết hay quá!"}


def post(client: FlaskClient, article: str = "a1", body: Any = None, **kwargs: Any) -> Any:
    return client.post(
        f"/v1/articles/{article}/comments", json=GOOD if body is None else body, **kwargs
    )


def count(session: Session, model: type) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["status"] == status
    assert error["code"] == code
    assert error["message"] and isinstance(error["message"], str)
    assert error["request_id"] == response.headers["X-Request-ID"]
    return error


# --- submitting ------------------------------------------------------------


def test_submit_stores_pending_and_answers_202_with_location(
    client: FlaskClient, session: Session
) -> None:
    response = post(client)
    assert response.status_code == 202
    data = response.get_json()
    assert data["status"] == "pending"
    assert data["body"] == "Bài viết hay quá!"
    assert data["article_id"] == "a1"
    assert response.headers["Location"] == f"/v1/comments/{data['id']}"
    # the author's view carries no moderator-only or reader-private fields
    assert not {"scores", "signals", "reasons", "client_ip", "user_agent"} & set(data)

    stored = session.get(Comment, __import__("uuid").UUID(data["id"]))
    assert stored is not None and stored.status == Status.PENDING
    assert stored.root_id == stored.id

    again = client.get(response.headers["Location"])
    assert again.status_code == 200
    # the public sees a comment's status, and its text only once it is approved
    assert again.get_json() == {**data, "body": None}
    # the site's backend, showing the author their own comment, sees it whole
    site = create_token(session, "site-author-view", "site")
    session.commit()
    whole = client.get(response.headers["Location"], headers={"Authorization": f"Bearer {site}"})
    assert whole.get_json() == data


def test_article_policy_always_needs_a_token(client: FlaskClient, session: Session) -> None:
    """Even with REQUIRE_SITE_TOKEN off (the local default, as here): no one may close an
    article's comments or lift its pre-moderation without a site or moderator token."""
    response = client.put("/v1/articles/open-1", json={"comments_open": False})
    assert_error(response, 401, "unauthorized")
    assert count(session, Article) == 0
    assert client.get("/v1/articles/open-1").status_code == 404


@pytest.mark.parametrize("status", [Status.HELD, Status.REJECTED, Status.APPROVED])
def test_the_text_of_a_comment_not_approved_is_not_public(
    client: FlaskClient, session: Session, status: Status
) -> None:
    comment = make_comment(session, make_article(session), status=status, body="Removed text")
    moderator = create_token(session, f"mod-{status}", "moderator")
    session.commit()
    public = client.get(f"/v1/comments/{comment.id}").get_json()
    assert public["status"] == status
    assert public["body"] == ("Removed text" if status == Status.APPROVED else None)
    seen = client.get(
        f"/v1/comments/{comment.id}", headers={"Authorization": f"Bearer {moderator}"}
    )
    assert seen.get_json()["body"] == "Removed text"
    forged = client.get(f"/v1/comments/{comment.id}", headers={"Authorization": "Bearer cmt_x"})
    assert forged.status_code == 401


def test_first_comment_registers_the_article_with_given_details(
    client: FlaskClient, session: Session
) -> None:
    body = {
        **GOOD,
        "article": {"title": "Giá xăng tăng", "url": "https://news.example/x", "language": "vi"},
    }
    assert post(client, "tin-123", body).status_code == 202
    article = session.scalars(sa.select(Article).where(Article.external_id == "tin-123")).one()
    assert (article.title, article.language, article.moderation_mode) == (
        "Giá xăng tăng",
        "vi",
        "post",
    )


def test_body_is_normalised_before_storing(client: FlaskClient) -> None:
    decomposed = "Bai vie\u0302\u0301t hay qua\u0301!"  # ế and á as base + combining marks
    body = {**GOOD, "body": "\u202eX\u200b " + decomposed + "\x07\r\n\r\n\r\n\r\nend  "}
    data = post(client, body=body).get_json()
    assert data["body"] == "X Bai viết hay quá!\n\nend"


def test_reply_is_threaded_under_its_root(client: FlaskClient, session: Session) -> None:
    root = post(client).get_json()
    reply = post(client, body={**GOOD, "parent_id": root["id"]}).get_json()
    nested = post(client, body={**GOOD, "parent_id": reply["id"]}).get_json()
    assert nested["parent_id"] == reply["id"]
    stored = session.get(Comment, __import__("uuid").UUID(nested["id"]))
    assert str(stored.root_id) == root["id"]


# --- bad input: each class refused with the one error shape, nothing written ------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GOOD, "is_admin": True}, "is_admin"),  # unknown field
        ({"author_name": "Lan", "body": "hi"}, "author_id"),  # missing field
        ({**GOOD, "body": ""}, "body"),
        ({**GOOD, "body": "\u200b\u200c\u2060\u202e \t\n"}, "body"),  # invisible only
        ({**GOOD, "body": "x" * 5001}, "body"),  # too long
        ({**GOOD, "body": 42}, "body"),  # wrong type
        ({**GOOD, "author_id": "has space"}, "author_id"),
        ({**GOOD, "author_name": "n" * 101}, "author_name"),
        ({**GOOD, "client_ip": "999.1.1.1"}, "client_ip"),
        ({**GOOD, "parent_id": "not-a-uuid"}, "parent_id"),
        ({**GOOD, "article": {"url": "javascript:alert(1)"}}, "article"),
    ],
)
def test_invalid_bodies_are_refused_and_nothing_is_written(
    client: FlaskClient, session: Session, body: dict[str, Any], field: str
) -> None:
    error = assert_error(post(client, body=body), 422, "validation_failed")
    assert field in error["details"]
    assert field in error["message"]
    assert count(session, Comment) == 0
    assert count(session, Article) == 0


def test_length_bound_applies_after_normalisation(client: FlaskClient) -> None:
    # 5000 visible characters padded with invisible ones: fine once normalised
    body = "\u200b".join(["y"] * 5000)
    assert post(client, body={**GOOD, "body": body}).status_code == 202


def test_request_size_limit(client: FlaskClient, session: Session) -> None:
    huge = {**GOOD, "body": "x" * 70_000}
    assert_error(post(client, body=huge), 413, "payload_too_large")
    assert count(session, Comment) == 0


def test_body_must_be_json(client: FlaskClient, session: Session) -> None:
    response = client.post(
        "/v1/articles/a1/comments", data="body=hi", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")
    response = client.post(
        "/v1/articles/a1/comments", data="{not json", content_type="application/json"
    )
    error = assert_error(response, 400, "bad_request")
    assert "JSON" in error["message"]
    response = client.post(
        "/v1/articles/a1/comments", data="[1, 2]", content_type="application/json"
    )
    assert_error(response, 422, "validation_failed")
    assert count(session, Comment) == 0


def test_bad_article_id_in_path(client: FlaskClient, session: Session) -> None:
    error = assert_error(post(client, article="bad%20id"), 422, "validation_failed")
    assert "article_id" in error["details"]
    assert count(session, Article) == 0


def test_reply_to_a_comment_of_another_article_is_refused(
    client: FlaskClient, session: Session
) -> None:
    other = post(client, article="other").get_json()
    before = count(session, Comment), count(session, Article)
    error = assert_error(
        post(client, article="a1", body={**GOOD, "parent_id": other["id"]}),
        422,
        "validation_failed",
    )
    assert "parent_id" in error["details"]
    assert (count(session, Comment), count(session, Article)) == before


def test_reply_to_a_missing_or_removed_comment_is_refused(
    client: FlaskClient, session: Session
) -> None:
    article = make_article(session, "a1")
    removed = make_comment(session, article, status=Status.REJECTED)
    session.commit()
    assert_error(post(client, body={**GOOD, "parent_id": str(removed.id)}), 422, "parent_removed")
    missing = "01a22abf-5dbc-7c58-96a4-50197bd05d72"
    assert_error(post(client, body={**GOOD, "parent_id": missing}), 422, "validation_failed")
    assert count(session, Comment) == 1


def test_closed_article_refuses_new_comments(client: FlaskClient, session: Session) -> None:
    site = create_token(session, "site-closes", "site")
    session.commit()
    closing = {"json": {"comments_open": False}, "headers": {"Authorization": f"Bearer {site}"}}
    assert client.put("/v1/articles/a1", **closing).status_code == 200
    error = assert_error(post(client), 409, "article_closed")
    assert "closed" in error["message"]
    assert count(session, Comment) == 0


# --- idempotency -----------------------------------------------------------------


def test_idempotency_key_returns_the_original_comment(
    client: FlaskClient, session: Session
) -> None:
    first = post(client, headers={"Idempotency-Key": "req-1"})
    second = post(client, headers={"Idempotency-Key": "req-1"})
    assert first.status_code == second.status_code == 202
    assert first.get_json()["id"] == second.get_json()["id"]
    assert second.headers["Location"] == first.headers["Location"]
    assert count(session, Comment) == 1
    # a new key is a new comment
    third = post(client, headers={"Idempotency-Key": "req-2"})
    assert third.get_json()["id"] != first.get_json()["id"]
    assert count(session, Comment) == 2


def test_idempotency_key_reused_for_a_different_comment(
    client: FlaskClient, session: Session
) -> None:
    first = post(client, headers={"Idempotency-Key": "req-1"}).get_json()["id"]
    other = {**GOOD, "body": "Something else entirely"}
    response = post(client, body=other, headers={"Idempotency-Key": "req-1"})
    error = assert_error(response, 422, "idempotency_key_reused")
    # the earlier comment is not named: a key is no way to learn another comment's id
    assert "details" not in error
    assert first not in response.get_data(as_text=True)
    assert count(session, Comment) == 1


def test_malformed_idempotency_key(client: FlaskClient, session: Session) -> None:
    assert_error(post(client, headers={"Idempotency-Key": "x" * 201}), 422, "validation_failed")
    assert count(session, Comment) == 0


# --- reading -----------------------------------------------------------------------


def test_unknown_comment(client: FlaskClient) -> None:
    assert_error(
        client.get("/v1/comments/01a22abf-5dbc-7c58-96a4-50197bd05d72"), 404, "comment_not_found"
    )
    assert_error(client.get("/v1/comments/not-a-uuid"), 404, "not_found")


def test_list_shows_only_approved_threads_oldest_first_with_replies(
    client: FlaskClient, session: Session
) -> None:
    article = make_article(session, "a1")
    first = make_comment(session, article, created_at=at(1), body="first")
    make_comment(session, article, status=Status.HELD, created_at=at(2))
    make_comment(session, article, status=Status.PENDING, created_at=at(3))
    make_comment(session, article, status=Status.REJECTED, created_at=at(4))
    second = make_comment(session, article, created_at=at(5), body="second")
    r1 = make_comment(session, article, parent=first, created_at=at(6), body="reply 1")
    make_comment(session, article, parent=first, status=Status.HELD, created_at=at(7))
    r2 = make_comment(session, article, parent=r1, created_at=at(8), body="reply to reply")
    other = make_article(session, "a2")
    make_comment(session, other, created_at=at(0))
    session.commit()

    page = client.get("/v1/articles/a1/comments").get_json()
    assert [c["body"] for c in page["items"]] == ["first", "second"]
    assert page["next_cursor"] is None
    thread = page["items"][0]
    assert [r["id"] for r in thread["replies"]] == [str(r1.id), str(r2.id)]
    assert thread["replies"][1]["parent_id"] == str(r1.id)
    assert thread["reply_count"] == 2
    assert page["items"][1]["replies"] == [] and page["items"][1]["id"] == str(second.id)
    assert "status" not in thread and "client_ip" not in thread


def test_cursor_pagination_walks_every_thread_once(client: FlaskClient, session: Session) -> None:
    article = make_article(session, "a1")
    # two comments share a timestamp: the id breaks the tie, nothing is skipped
    made = [make_comment(session, article, created_at=at(i // 2)) for i in range(7)]
    session.commit()
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/articles/a1/comments", query_string=query).get_json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = sorted(made, key=lambda c: (c.created_at, c.id))
    assert seen == [str(c.id) for c in expected]


def test_replies_per_thread_are_capped_but_counted(
    client: FlaskClient, session: Session, app: Any
) -> None:
    article = make_article(session, "a1")
    root = make_comment(session, article, created_at=at(0))
    for i in range(app.config["SETTINGS"].replies_per_thread + 3):
        make_comment(session, article, parent=root, created_at=at(i + 1))
    session.commit()
    thread = client.get("/v1/articles/a1/comments").get_json()["items"][0]
    assert len(thread["replies"]) == app.config["SETTINGS"].replies_per_thread
    assert thread["reply_count"] == app.config["SETTINGS"].replies_per_thread + 3


def test_list_of_unknown_article_is_empty(client: FlaskClient) -> None:
    page = client.get("/v1/articles/never-seen/comments").get_json()
    assert page == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"cursor": "%%%"}, {"cursor": "eyJ4IjoxfQ"}],
)
def test_bad_paging_arguments(client: FlaskClient, session: Session, query: dict[str, Any]) -> None:
    make_comment(session, make_article(session, "a1"))
    session.commit()
    assert_error(
        client.get("/v1/articles/a1/comments", query_string=query), 422, "validation_failed"
    )


def test_json_is_utf8_not_escaped(client: FlaskClient) -> None:
    raw = post(client).get_data(as_text=True)
    assert "Bài viết hay quá!" in raw
    assert json.loads(raw)["body"] == "Bài viết hay quá!"
