"""The moderators' console through the Flask test client, on PostgreSQL and SQLite.

What a browser cannot easily show: the cookie holds no token, every POST needs its CSRF
token, the token's role is checked on every request, bad form input is a 4xx page with a
message (never a 500), and decisions go through the same services as the API.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from service.comments.models import Comment, Status
from service.db import Session
from service.moderation.auth import create_token, revoke_token
from service.moderation.models import AuditEntry
from service.policy.models import AuthorStanding, WordRule
from tests.factories import at, make_article, make_comment

HELD_REASONS = [
    {"rule": "toxicity", "effect": "held", "label": "insult", "score": 0.87, "threshold": 0.8},
    {"rule": "suspect_word", "effect": "held", "words": ["đm"]},
    {
        "rule": "spam",
        "effect": "held",
        "label": "spam",
        "score": 0.6,
        "threshold": 0.5,
        "signals": {"links": {"value": 3, "weight": 0.9}},
    },
]


def csrf(client: FlaskClient, path: str = "/console/login") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_in(client: FlaskClient, token: str) -> str:
    """Sign in; the CSRF token of the new session."""
    response = client.post("/console/login", data={"token": token, "csrf_token": csrf(client)})
    assert response.status_code == 302, response.text
    return csrf(client, "/console/")


def held(session: Session, **fields: Any) -> Comment:
    article = fields.pop("article", None) or make_article(session)
    fields.setdefault("reasons", HELD_REASONS)
    fields.setdefault("scores", {"insult": 0.87, "toxicity": 0.7})
    fields.setdefault("score_insult", 0.87)
    fields.setdefault("score_toxicity", 0.7)
    fields.setdefault("language", "vi")
    comment = make_comment(session, article, status=Status.HELD, **fields)
    session.commit()
    return comment


def alert_status(page: str) -> str | None:
    found = re.search(r'class="alert[^"]*" role="alert" data-status="(\d+)"', page)
    return found.group(1) if found else None


def test_signing_in_keeps_no_token_in_the_cookie(
    client: FlaskClient, app: Any, tokens: dict[str, str]
) -> None:
    assert client.get("/console/").status_code == 302  # to the sign-in page
    sign_in(client, tokens["moderator"])
    cookie = client.get_cookie("console_session", path="/console")
    assert cookie is not None
    assert tokens["moderator"] not in cookie.value
    stored = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert tokens["moderator"] not in json.dumps(stored)
    assert set(stored) == {"token_hash", "csrf_token"}
    page = client.get("/console/")
    assert page.status_code == 200
    assert tokens["moderator"] not in page.text


def test_the_session_cookie_is_secure_httponly_strict(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    response = client.get("/console/login")
    header = response.headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/console"):
        assert flag in header


def test_a_wrong_token_or_a_site_token_cannot_sign_in(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    token = csrf(client)
    wrong = client.post("/console/login", data={"token": "cmt_nope", "csrf_token": token})
    assert wrong.status_code == 401
    site = client.post("/console/login", data={"token": tokens["site"], "csrf_token": token})
    assert site.status_code == 403
    assert client.get("/console/").status_code == 302


def test_every_post_needs_the_csrf_token(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    login = client.post("/console/login", data={"token": tokens["moderator"]})
    assert login.status_code == 400
    sign_in(client, tokens["moderator"])
    comment = held(session)
    for path, data in [
        (f"/console/comments/{comment.id}/decision", {"action": "approve", "version": "1"}),
        ("/console/logout", {}),
        ("/console/language", {"language": "en"}),
        (f"/console/authors/{comment.author_id}/standing", {"standing": "banned"}),
    ]:
        response = client.post(path, data=data)
        assert response.status_code == 400, path
        assert "CSRF" in response.text
    session.refresh(comment)
    assert comment.status == Status.HELD
    assert session.get(AuthorStanding, comment.author_id) is None


def test_a_revoked_token_is_signed_out_at_its_next_request(
    client: FlaskClient, session: Session
) -> None:
    token = create_token(session, f"mod-{uuid.uuid4().hex[:6]}", "moderator")
    session.commit()
    sign_in(client, token)
    name = session.execute(sa.text("SELECT name FROM api_tokens ORDER BY id DESC")).scalar()
    revoke_token(session, name)
    session.commit()
    response = client.get("/console/")
    assert response.status_code == 302
    assert "/console/login" in response.headers["Location"]


def test_the_queue_shows_reasons_in_words_and_scores(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    comment = held(session, body="Một bình luận cần duyệt")
    sign_in(client, tokens["moderator"])
    page = client.get("/console/").text
    assert "Một bình luận cần duyệt" in page
    assert "xúc phạm 0.87 ≥ 0.80" in page  # Vietnamese is the default
    assert "từ điển: đm" in page
    assert "spam 0.60 ≥ 0.50 (3 liên kết)" in page
    assert f'value="{comment.id}:{comment.version}"' in page
    client.set_cookie("console_lang", "en", path="/console")
    english = client.get("/console/").text
    assert "insult 0.87 ≥ 0.80" in english and "lexicon: đm" in english


def test_queue_filters_use_the_api_rules(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    article = make_article(session, "filtered-article")
    mine = held(session, article=article, body="in the filtered article")
    other = held(session, body="somewhere else")
    sign_in(client, tokens["moderator"])
    page = client.get("/console/?article=filtered-article").text
    assert str(mine.id) in page and str(other.id) not in page
    bad = client.get("/console/?score_label=insult&score_min=2&score_max=1")
    assert bad.status_code == 422
    assert "0 &lt;= min &lt;= max &lt;= 1" in bad.text
    assert client.get("/console/?sort=sideways").status_code == 422
    assert client.get("/console/?cursor=garbage").status_code == 422


def test_approving_then_a_stale_second_decision_is_409_with_the_colleagues_decision(
    client: FlaskClient, app: Any, session: Session, tokens: dict[str, str]
) -> None:
    comment = held(session, created_at=at(1))
    token = sign_in(client, tokens["moderator"])
    approved = client.post(
        f"/console/comments/{comment.id}/decision",
        data={"action": "approve", "version": "1", "csrf_token": token},
    )
    assert approved.status_code == 302
    session.refresh(comment)
    assert comment.status == Status.APPROVED
    assert comment.decided_by.startswith("moderator:moderator-")
    # a second moderator, who loaded version 1 before the first decided
    other = app.test_client()
    other_token = sign_in(other, tokens["admin"])
    stale = other.post(
        f"/console/comments/{comment.id}/decision",
        data={"action": "reject", "reason": "spam", "version": "1", "csrf_token": other_token},
    )
    assert stale.status_code == 409
    assert "Một đồng nghiệp đã quyết định bình luận này" in stale.text
    assert comment.decided_by in stale.text
    session.refresh(comment)
    assert comment.status == Status.APPROVED


def test_a_rejection_needs_a_reason_and_bad_input_is_a_4xx_page(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    comment = held(session)
    token = sign_in(client, tokens["moderator"])
    url = f"/console/comments/{comment.id}/decision"
    cases = [
        {"action": "reject", "version": "1"},
        {"action": "reject", "reason": "not-a-reason", "version": "1"},
        {"action": "approve", "version": "one"},
        {"action": "approve", "version": "1", "note": "x\x00y"},
        {"action": "approve", "version": "1", "note": "x" * 2001},
        {"action": "burn", "version": "1"},
    ]
    for data in cases:
        response = client.post(url, data={**data, "csrf_token": token})
        assert response.status_code == 422, data
        assert 'role="alert"' in response.text
    assert (
        client.post(
            f"/console/comments/{uuid.uuid4()}/decision",
            data={"action": "approve", "version": "1", "csrf_token": token},
        ).status_code
        == 404
    )
    session.refresh(comment)
    assert comment.status == Status.HELD


def test_rejecting_from_a_row_and_undoing_it(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    comment = held(session)
    token = sign_in(client, tokens["moderator"])
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    row = client.post(
        f"/console/comments/{comment.id}/decision",
        data={"action": "reject", "reason": "hate", "note": "slur", "version": "1", "from": "row"},
        headers=headers,
    )
    assert row.status_code == 200
    assert f'id="row-{comment.id}"' in row.text and "Đã từ chối." in row.text
    session.refresh(comment)
    assert comment.status == Status.REJECTED
    undone = client.post("/console/undo", data={"from": "row"}, headers=headers)
    assert undone.status_code == 200
    session.refresh(comment)
    assert comment.status == Status.HELD and comment.version == 3
    audit = session.scalars(
        sa.select(AuditEntry).where(AuditEntry.comment_id == comment.id).order_by(AuditEntry.id)
    ).all()
    assert [(a.to_status, a.reason_code) for a in audit][-2:] == [
        ("rejected", "hate"),
        ("held", "undo"),
    ]
    # nothing left to undo
    assert client.post("/console/undo", data={"csrf_token": token}).status_code == 409


def test_bulk_decisions_report_conflicts(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    one, two = held(session), held(session)
    token = sign_in(client, tokens["moderator"])
    response = client.post(
        "/console/decisions",
        data={
            "action": "reject",
            "reason": "spam",
            "item": [f"{one.id}:1", f"{two.id}:7"],
            "csrf_token": token,
            "next": "https://evil.example/",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"  # never off-site
    session.refresh(one), session.refresh(two)
    assert (one.status, two.status) == (Status.REJECTED, Status.HELD)
    page = client.get("/console/").text
    assert "Đã quyết định 1; 1 đã được đồng nghiệp quyết định" in page
    for items in ([], ["nonsense"], [f"{one.id}:x"]):
        bad = client.post(
            "/console/decisions", data={"action": "approve", "item": items, "csrf_token": token}
        )
        assert bad.status_code == 422


def test_banning_an_author_from_the_detail_view(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    comment = held(session, author_id="troll-1")
    waiting = held(session, author_id="troll-1")
    token = sign_in(client, tokens["moderator"])
    detail = client.get(f"/console/comments/{comment.id}")
    assert detail.status_code == 200
    assert "<mark" not in detail.text  # no word rules yet
    response = client.post(
        "/console/authors/troll-1/standing",
        data={"standing": "banned", "reason": "abuse", "csrf_token": token},
    )
    assert response.status_code == 302
    assert session.get(AuthorStanding, "troll-1").standing == "banned"
    session.refresh(waiting)
    assert waiting.status == Status.REJECTED
    bad = client.post(
        "/console/authors/troll-1/standing", data={"standing": "royal", "csrf_token": token}
    )
    assert bad.status_code == 422


def test_word_lists_are_for_admins_with_a_live_test_box(
    client: FlaskClient, app: Any, session: Session, tokens: dict[str, str]
) -> None:
    token = sign_in(client, tokens["moderator"])
    assert client.get("/console/words").status_code == 403
    assert (
        client.post(
            "/console/words", data={"phrase": "đm", "kind": "banned", "csrf_token": token}
        ).status_code
        == 403
    )
    admin = app.test_client()
    admin_token = sign_in(admin, tokens["admin"])
    added = admin.post(
        "/console/words", data={"phrase": "Đồ ngốc", "kind": "suspect", "csrf_token": admin_token}
    )
    assert added.status_code == 302
    rule = session.scalars(sa.select(WordRule).where(WordRule.phrase == "đồ ngốc")).one()
    again = admin.post(
        "/console/words", data={"phrase": "đồ ngốc", "kind": "banned", "csrf_token": admin_token}
    )
    assert again.status_code == 409 and "already on a word list" in again.text
    tested = admin.get("/console/words/test", query_string={"text": "Mày là do ngoc!"})
    assert '<mark class="suspect" title="đồ ngốc">do ngoc</mark>' in tested.text
    comment = held(session, body="Đúng là đồ ngốc")
    detail = admin.get(f"/console/comments/{comment.id}").text
    assert '<mark class="suspect" title="đồ ngốc">đồ ngốc</mark>' in detail
    rule_id = rule.id
    removed = admin.post(f"/console/words/{rule_id}/delete", data={"csrf_token": admin_token})
    assert removed.status_code == 302
    assert session.scalar(sa.select(sa.func.count()).where(WordRule.id == rule_id)) == 0


def test_the_language_choice_is_remembered_and_redirects_stay_local(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    token = sign_in(client, tokens["moderator"])
    response = client.post(
        "/console/language", data={"language": "en", "next": "//evil.example/", "csrf_token": token}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    assert "console_lang=en" in response.headers["Set-Cookie"]
    assert "Max-Age=31536000" in response.headers["Set-Cookie"]
    assert "Review queue" in client.get("/console/").text
    bad = client.post("/console/language", data={"language": "fr", "csrf_token": token})
    assert bad.status_code == 422


def test_dates_are_in_the_moderators_time_zone(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    comment = held(session, created_at=at(0))  # 2026-01-01 00:00 UTC
    sign_in(client, tokens["moderator"])
    client.set_cookie("console_lang", "en", path="/console")
    hanoi = client.get(f"/console/comments/{comment.id}").text
    assert "1/1/26, 7:00" in hanoi  # the default zone: UTC+7
    client.set_cookie("console_tz", "America/New_York", path="/console")
    new_york = client.get(f"/console/comments/{comment.id}").text
    assert "12/31/25, 7:00" in new_york
    client.set_cookie("console_tz", "Not/AZone", path="/console")
    assert "1/1/26, 7:00" in client.get(f"/console/comments/{comment.id}").text


def test_new_held_comments_arrive_by_polling(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    first = held(session, created_at=at(10))
    sign_in(client, tokens["moderator"])
    page = client.get("/console/").text
    poll = re.search(r'id="poller" hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert client.get(poll).text.count('class="row') == 0
    newer = held(session, created_at=at(20))
    fresh = client.get(poll).text
    assert str(newer.id) in fresh and str(first.id) not in fresh
    assert 'hx-swap-oob="true"' in fresh


def test_the_committed_catalogue_is_compiled_and_complete() -> None:
    """The .mo the app reads says what the .po says, and every message is translated."""
    from pathlib import Path

    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    folder = Path(__file__).resolve().parent.parent / "service/console/translations/vi/LC_MESSAGES"
    with (folder / "messages.po").open("rb") as f:
        po = {m.id: m.string for m in read_po(f) if m.id}
    with (folder / "messages.mo").open("rb") as f:
        mo = {m.id: m.string for m in read_mo(f) if m.id}
    assert po == mo, "run `make console-translations` (pybabel compile)"
    assert not [k for k, v in po.items() if not v], "untranslated messages in messages.po"
    source = folder.parent.parent.parent
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "t": None}
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    used = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(source), method_map=method_map, keywords=keywords
        )
    }
    assert used - set(po) == set(), "new messages: run `make console-translations`"


def test_the_detail_highlights_the_default_lexicon_as_the_pipeline_matches_it(
    client: FlaskClient, session: Session, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["moderator"])
    vietnamese = held(session, body="Thằng này ngu vcl")
    page = client.get(f"/console/comments/{vietnamese.id}").text
    assert '<mark class="suspect" title="ngu">ngu</mark>' in page
    assert '<mark class="banned" title="vcl">vcl</mark>' in page
    # an entry scoped to Vietnamese is not marked in an English comment ("DM me")
    english = held(session, body="DM me about the story", language="en")
    assert "<mark" not in client.get(f"/console/comments/{english.id}").text.split("</h1>")[-1]
