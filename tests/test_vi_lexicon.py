"""The default Vietnamese lexicon: its curation, chat spellings, false friends, overrides."""

from __future__ import annotations

import dataclasses
import json
import unicodedata
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from config import Settings
from service.comments.models import Comment, Status
from service.db import Session
from service.moderation.auth import create_token
from service.policy import lexicon
from service.policy.lexicon import CERTAIN, REMOVED, SUSPECT, merged_rules
from service.policy.services import WordListCache
from service.policy.words import WordMatcher
from tests.factories import make_article, make_comment
from workers.pipeline.decision import decide
from workers.pipeline.language import LanguageDetector
from workers.pipeline.stages import Pipeline, policy_input, run_cheap_stages, score_and_decide
from workers.toxicity.scorer import KeywordScorer

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "vn-badwords" / "vi.json"
LEXICON = lexicon.vietnamese()
MATCHER = WordMatcher(merged_rules((), LEXICON))


def found(text: str, *, vietnamese: bool = True) -> dict[str, str]:
    return {m.phrase: m.kind for m in MATCHER.find(text, vietnamese=vietnamese)}


# --- the file ---------------------------------------------------------------------------


def test_every_entry_is_judged_and_every_removal_says_why() -> None:
    severities = {e.severity for e in LEXICON.entries}
    assert severities == {CERTAIN, SUSPECT, REMOVED}
    for entry in LEXICON.entries:
        if entry.severity == REMOVED:
            assert entry.note, f"{entry.phrase!r} removed without a reason"
        assert entry.scope in (None, "vi")
    notice = Path(lexicon.__file__).parent / "LICENSE.vn-badwords"
    assert "Nguyễn Quang Sáng" in notice.read_text(encoding="utf-8")
    document = json.loads((Path(lexicon.__file__).parent / "vi.json").read_text("utf-8"))
    assert document["source"]["license"] == "MIT"
    assert document["source"]["notice"] == notice.name


@pytest.mark.skipif(not SOURCE.exists(), reason="../shared/data/vn-badwords is not here")
def test_every_string_of_the_source_list_is_accounted_for() -> None:
    source = {unicodedata.normalize("NFC", w) for w in json.loads(SOURCE.read_text("utf-8"))}
    listed = {e.phrase for e in LEXICON.entries if not e.added}
    assert listed == source


@pytest.mark.parametrize("everyday", ["lon", "má", "cu", "dis", "cac", "buoi", "deo"])
def test_everyday_words_are_removed(everyday: str) -> None:
    [entry] = [e for e in LEXICON.entries if e.phrase == everyday]
    assert entry.severity == REMOVED and entry.kind is None
    assert LEXICON.active(everyday) is None


# --- matching -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase", "kind"),
    [
        ("Đ.M thằng này", "đm", "banned"),
        ("đ-m mày", "đm", "banned"),
        ("đ.m.m", "đmm", "banned"),
        ("thằng ch.ó kia", "thằng chó", "suspect"),  # a phrase whose second word is spelled apart
        ("d!t mẹ mày", "địt mẹ", "banned"),
        ("d1t con me may", "dit con me may", "banned"),
        ("đ*t mẹ", "địt mẹ", "banned"),
        ("f**k", "fuck", "banned"),
        ("nguuuu thế", "ngu", "suspect"),
        ("điiiit", "đit", "banned"),
        ("lozzzz", "lozz", "banned"),
        ("vcl", "vcl", "banned"),
        ("v.c.l", "vcl", "banned"),
        ("hay vl", "vl", "suspect"),
        ("dm thằng kia", "dm", "banned"),
        ("dcm", "dcm", "banned"),
        ("cc gì", "cc", "suspect"),
        ("clgt", "clgt", "banned"),
        ("c-l-g-t", "clgt", "banned"),
        ("l0z", "loz", "banned"),
        ("Đụ má", "đụ má", "banned"),
        ("mày là đồ lồn", "lồn", "banned"),
        ("dit me", "dit me", "banned"),
        ("Đồ ngu như chó, câm mồm đi", "ngu", "suspect"),
        ("Đồ ngu như chó, câm mồm đi", "câm mồm", "suspect"),
    ],
)
def test_chat_spellings_are_caught(text: str, phrase: str, kind: str) -> None:
    assert found(text).get(phrase) == kind, found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Chờ một chút nhé",
        "Uống một lon bia cho mát",
        "cái lon bia này rẻ",
        "uong lon bia",
        "Má tôi nấu ăn rất ngon",
        "cho tôi hỏi giá vé",
        "Dis is a test",
        "đi ngủ sớm đi",
        "đội ngũ bác sĩ",
        "các bạn ơi",
        "cac ban oi",
        "buổi sáng hôm nay",
        "dau buoi sang",
        "bố mẹ tôi",
        "bo me toi",
        "anh ấy cao lớn",
        "anh ay cao lon",
        "đó là lỗi lớn",
        "loi lon",
        "dái tai",
        "đeo khẩu trang",
        "deo khau trang",
        "chích ngừa",
        "chich ngua",
        "pha xoạc bóng",
        "điểm thi",
        "diem thi",
        "du lịch",
        "hãm phanh",
        "con lợn",
        "con lon",
        "lồng chim",
        "lờ đi",
        "bên mé sông",
        "chim cu gáy",
        "máy Dell",
        "có đủ cha mẹ",
        "các cậu",
        "mất lòng",
        "e-mail me at lan@example.com",
        "Đ. M. Hùng viết",  # initials with spaces are separate words
    ],
)
def test_everyday_words_are_not_caught(text: str) -> None:
    assert found(text) == {}


@pytest.mark.parametrize(
    "text",
    ["DM me for details", "Please cc the editor", "cc: the editor", "my mom lol", "Il dit que"],
)
def test_english_abbreviations_apply_only_to_vietnamese_comments(text: str) -> None:
    assert found(text, vietnamese=False) == {}
    # the scope is what spares them: the same words in a Vietnamese comment are caught
    assert found(text, vietnamese=True) != {}


@pytest.mark.parametrize("text", ["DM me for details", "Please cc the editor"])
def test_english_text_is_not_detected_as_vietnamese(text: str) -> None:
    assert LanguageDetector().detect(text).code != "vi"


def test_strict_lexicon_words_do_not_match_other_accents() -> None:
    # "ngu" (stupid) is not "ngủ" (sleep) nor "ngũ" (five); a site rule "ngu" would be
    assert found("ngủ ngon, đội ngũ") == {}
    site = WordMatcher([("ngu", "suspect")])
    assert [m.phrase for m in site.find("ngủ ngon")] == ["ngu"]


def test_unaccented_text_matches_accented_entries_unless_everyday() -> None:
    assert found("du ma") == {}  # "dù mà": đụ má is accented-only
    assert "địt mẹ" in found("dit mẹ")  # mixed: the accented word is enough
    assert found("lon") == {}  # lồn leaves "lon" to its own (removed) entry


def test_matches_name_the_lexicon() -> None:
    [match] = MATCHER.find("vcl")
    assert (match.phrase, match.kind, match.source) == ("vcl", "banned", "vi-default@1")


# --- overrides ----------------------------------------------------------------------------


def test_site_rules_override_entries_by_phrase() -> None:
    rules = merged_rules(
        [("ngu", "banned"), ("đéo", "suspect"), ("vcl", "allow"), ("spam link", "suspect")],
        LEXICON,
    )
    matcher = WordMatcher(rules)
    got = {m.phrase: (m.kind, m.source) for m in matcher.find("ngu vcl đéo spam link ngủ")}
    assert got == {
        "ngu": ("banned", "site"),
        "đéo": ("suspect", "site"),
        "spam link": ("suspect", "site"),
    }
    # an override keeps the entry's strict matching: "ngủ" is still not "ngu"
    assert [r.strict for r in rules if r.phrase == "ngu"] == [True]


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(session, 'lexicon-admin', 'admin')}"}


def lexicon_pipeline(app: Flask, **settings: Any) -> Pipeline:
    merged: Settings = dataclasses.replace(app.config["SETTINGS"], **settings)
    p = Pipeline(merged, app.extensions["redis"], app.extensions["dispatcher"])
    if merged.vi_lexicon:
        p.words = WordListCache(check_every_s=0, lexicon=LEXICON)  # type: ignore[misc]
    return p


def judge(session: Session, pipeline: Pipeline, body: str) -> Comment:
    """Both stages; the models (English and Vietnamese) find nothing toxic in any text."""
    comment = make_comment(session, make_article(session), status=Status.PENDING, body=body)
    session.commit()
    if run_cheap_stages(session, pipeline, comment.id) == "sent_to_toxicity":
        session.commit()
        harmless = KeywordScorer({})
        score_and_decide(
            session,
            pipeline,
            str(comment.id),
            lambda: harmless,
            session.commit,
            token=f"task-{uuid.uuid4()}",
            lease=timedelta(seconds=30),
            get_vi_scorer=lambda: harmless,
        )
    session.commit()
    session.expire_all()
    return session.get(Comment, comment.id)


def word_reasons(comment: Comment) -> list[dict[str, Any]]:
    return [r for r in comment.reasons or () if r["rule"].endswith("_word")]


def test_default_list_judges_with_no_setup_and_names_the_entry(
    app: Flask, session: Session, redis_db: redis.Redis
) -> None:
    pipeline = lexicon_pipeline(app)
    rejected = judge(session, pipeline, "Đ.m thằng này")
    assert rejected.status == Status.REJECTED
    assert word_reasons(rejected) == [
        {
            "rule": "banned_word",
            "effect": "rejected",
            "words": ["đm"],
            "lexicon": "vi-default@1",
            "lexicon_words": ["đm"],
        }
    ]
    assert rejected.signals["words"]["from_lexicon"] == ["đm"]
    held = judge(session, pipeline, "Đồ ngu như chó, câm mồm đi")
    assert held.status == Status.HELD  # by its words, though the model found nothing
    [reason] = word_reasons(held)
    assert reason["lexicon_words"] == ["ngu", "câm mồm"]
    # the stored decisions re-derive from the stored signals
    inp = policy_input(rejected, rejected.signals, "normal", toxicity_skipped="not_scored_yet")
    assert decide(inp, pipeline.policy).reasons == rejected.reasons
    inp = policy_input(held, held.signals, "normal", toxicity=held.scores)
    assert decide(inp, pipeline.policy_vi).reasons == held.reasons
    english = judge(session, pipeline, "DM me and cc the editor about this story please")
    assert word_reasons(english) == []
    assert english.status == Status.APPROVED


def test_setting_off_leaves_only_the_sites_rules(
    app: Flask, session: Session, redis_db: redis.Redis
) -> None:
    assert Settings.from_env(environ={"MODERATION_VI_LEXICON": "false"}).vi_lexicon is False
    assert Settings.from_env(environ={}).vi_lexicon is True
    on = lexicon_pipeline(app, vi_lexicon=True)
    off = lexicon_pipeline(app, vi_lexicon=False)
    assert off.words.lexicon is None
    assert word_reasons(judge(session, on, "vcl thật")) != []
    assert word_reasons(judge(session, off, "vcl thật")) == []


def test_moderators_override_entries_through_the_api(
    app: Flask, client: FlaskClient, session: Session, admin: dict[str, str], redis_db: redis.Redis
) -> None:
    pipeline = lexicon_pipeline(app)

    def statuses() -> dict[str, tuple[str, list[str]]]:
        out = {}
        for body in ("thằng này ngu", "đéo hiểu", "hay vcl"):
            c = judge(session, pipeline, body)
            out[body] = (c.status, [r["rule"] for r in word_reasons(c)])
        return out

    before = statuses()
    assert before["thằng này ngu"] == (Status.HELD, ["suspect_word"])
    assert before["đéo hiểu"] == (Status.REJECTED, ["banned_word"])
    assert before["hay vcl"] == (Status.REJECTED, ["banned_word"])

    made = {}
    for phrase, kind in [("ngu", "banned"), ("Đéo", "suspect"), ("vcl", "allow")]:
        r = client.post(
            "/v1/moderation/words", json={"phrase": phrase, "kind": kind}, headers=admin
        )
        assert r.status_code == 201, r.get_json()
        made[phrase] = r.get_json()["id"]
    after = statuses()
    assert after["thằng này ngu"] == (Status.REJECTED, ["banned_word"])  # stricter
    assert after["đéo hiểu"][1] == ["suspect_word"]  # softer: held, not rejected
    assert after["đéo hiểu"][0] != Status.REJECTED
    assert after["hay vcl"][1] == []  # off
    rejected = judge(session, pipeline, "thằng này ngu")
    assert "lexicon" not in word_reasons(rejected)[0]  # the site's rule decided it

    listing = client.get("/v1/moderation/words/defaults", headers=admin)
    assert listing.status_code == 200
    rows = {row["phrase"]: row for row in listing.get_json()}
    assert len(rows) == len(LEXICON.entries)
    assert (rows["ngu"]["kind"], rows["ngu"]["override"]) == ("banned", "banned")
    assert (rows["vcl"]["kind"], rows["vcl"]["override"]) == (None, "allow")
    assert rows["lon"]["severity"] == "removed" and rows["lon"]["note"]

    # deleting the override restores the default
    assert client.delete(f"/v1/moderation/words/{made['vcl']}", headers=admin).status_code == 204
    assert judge(session, pipeline, "hay vcl").status == Status.REJECTED


def test_allow_must_name_a_default_entry(client: FlaskClient, admin: dict[str, str]) -> None:
    for phrase in ("not in the list", "lon"):  # lon: removed, nothing to allow
        r = client.post(
            "/v1/moderation/words", json={"phrase": phrase, "kind": "allow"}, headers=admin
        )
        assert r.status_code == 422
        assert r.get_json()["error"]["code"] == "not_a_default_word"
    spec = client.get("/openapi.json").get_json()
    kinds = spec["components"]["schemas"]["WordIn"]["properties"]["kind"]["enum"]
    assert kinds == ["banned", "suspect", "allow"]
