"""The Perspective-compatible endpoints: shapes, errors, languages, what is kept.

The API process is the real one (Flask test client, real PostgreSQL/SQLite and Redis);
the toxicity worker's side is the real serving loop (``workers/toxicity/analyze.py``)
in a thread, on the real Redis channel, with the deterministic keyword scorer standing
in for the model. tests/test_dropin_integration.py runs a real Celery toxicity worker
with a Detoxify checkpoint instead.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from service.db import Session
from service.logs import redact
from service.moderation.auth import create_token
from service.perspective import channel
from service.perspective.models import AnalyzeRequest
from service.perspective.services import (
    ATTRIBUTE_LABELS,
    attribute_score,
    check_languages,
    sentence_spans,
)
from tests.helpers import AnalyzeWorker, coral_body
from workers.pipeline.stages import pipeline_for
from workers.toxicity.analyze import GatedScorer, ModelGate
from workers.toxicity.scorer import KeywordScorer, ScorerUnavailable

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
INSULT = "You are an idiot and everyone knows it."


def analyze(client: FlaskClient, key: str | None, body: dict[str, Any]) -> Any:
    url = ANALYZE + (f"?key={key}" if key else "")
    return client.post(url, json=body)


def google_error(response: Any) -> dict[str, Any]:
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "status", "details"}
    assert error["code"] == response.status_code
    return error  # type: ignore[no-any-return]


def test_analyze_answers_perspectives_shape_and_keeps_the_text(
    client: FlaskClient,
    analyze_worker: AnalyzeWorker,
    analyze_key: str,
    session: Session,
    app: Flask,
) -> None:
    response = analyze(
        client,
        analyze_key,
        {
            "comment": {"text": INSULT, "type": "PLAIN_TEXT"},
            "requestedAttributes": {"TOXICITY": {}, "INSULT": {}, "PROFANITY": {}},
            "languages": ["en"],
            "clientToken": "comment:42",
            "sessionId": "s1",
            "communityId": "Coral:https://news.example.vn/",
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    expected = KeywordScorer().score([INSULT])[0]
    assert set(body["attributeScores"]) == {"TOXICITY", "INSULT", "PROFANITY"}
    for attribute, scores in body["attributeScores"].items():
        value = attribute_score(attribute, expected)
        assert scores["summaryScore"] == {"value": value, "type": "PROBABILITY"}
        assert scores["spanScores"] == [
            {"begin": 0, "end": len(INSULT), "score": {"value": value, "type": "PROBABILITY"}}
        ]
    assert body["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == 0.95
    assert body["attributeScores"]["PROFANITY"]["summaryScore"]["value"] == expected["obscene"]
    assert body["languages"] == ["en"] and body["detectedLanguages"] == ["en"]
    assert body["clientToken"] == "comment:42"

    row = session.scalars(sa.select(AnalyzeRequest)).one()
    assert (row.text, row.languages, row.model) == (INSULT, ["en"], "keyword-fake@1")
    assert (row.client_token, row.session_id, row.community_id) == (
        "comment:42",
        "s1",
        "Coral:https://news.example.vn/",
    )
    # the stored scores re-derive the answer through the one mapping table
    for attribute, scores in body["attributeScores"].items():
        assert attribute_score(attribute, row.scores or {}) == scores["summaryScore"]["value"]
    # the API process never loaded the language identifier (about 80 MB): the worker did
    assert "language" not in vars(pipeline_for(app))


def test_do_not_store_keeps_nothing_anywhere(
    client: FlaskClient,
    analyze_worker: AnalyzeWorker,
    analyze_key: str,
    session: Session,
    redis_db: redis.Redis,
) -> None:
    response = analyze(
        client,
        analyze_key,
        {"comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {}}, "doNotStore": True},
    )
    assert response.status_code == 200
    assert session.scalar(sa.select(sa.func.count()).select_from(AnalyzeRequest)) == 0
    for name in redis_db.scan_iter("moderation:analyze:*"):
        assert INSULT.encode() not in (redis_db.lrange(name, 0, -1) or [b""])[0]
    assert redis_db.llen(channel.QUEUE) == 0


def test_span_annotations_score_each_sentence(
    client: FlaskClient, analyze_worker: AnalyzeWorker, analyze_key: str
) -> None:
    text = "What kind of idiot name is foo? Sorry, I like your name."
    response = analyze(
        client,
        analyze_key,
        {
            "comment": {"text": text},
            "requestedAttributes": {"TOXICITY": {}},
            "spanAnnotations": True,
        },
    )
    toxicity = response.get_json()["attributeScores"]["TOXICITY"]
    # Perspective's own example in its docs: [0, 31) and [32, 56)
    assert [(s["begin"], s["end"]) for s in toxicity["spanScores"]] == [(0, 31), (32, 56)]
    assert [s["score"]["value"] for s in toxicity["spanScores"]] == [0.95, 0.01]
    assert toxicity["summaryScore"]["value"] == 0.95
    assert analyze_worker.scorer.calls[-1] == [text, text[0:31], text[32:56]]


def test_score_threshold_leaves_low_scores_out(
    client: FlaskClient, analyze_worker: AnalyzeWorker, analyze_key: str
) -> None:
    response = analyze(
        client,
        analyze_key,
        {
            "comment": {"text": "Thanks for the clear explanation of the budget."},
            "requested_attributes": {"TOXICITY": {"scoreThreshold": 0.5}, "INSULT": {}},
        },
    )
    assert response.status_code == 200
    assert set(response.get_json()["attributeScores"]) == {"INSULT"}


@pytest.mark.parametrize(
    ("text", "languages"),
    [
        ("Bài viết này thật là ngu ngốc và vô học, tác giả nên nghỉ viết đi", []),
        # Coral Talk sends "en" for locales Perspective lacks: detection still decides
        ("Bài viết này thật là ngu ngốc và vô học, tác giả nên nghỉ viết đi", ["en"]),
        ("ngu quá", ["vi"]),
    ],
)
def test_without_a_vietnamese_model_vietnamese_is_refused_unscored(
    client: FlaskClient,
    analyze_worker: AnalyzeWorker,
    analyze_key: str,
    text: str,
    languages: list[str],
) -> None:
    # analyze_worker has no Vietnamese model: TOXICITY_MODEL_VI is empty
    response = analyze(
        client,
        analyze_key,
        {
            "comment": {"text": text},
            "requestedAttributes": {"TOXICITY": {}},
            "languages": languages,
        },
    )
    assert response.status_code == 400
    error = google_error(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == "Attribute TOXICITY does not support request languages: vi"
    (detail,) = error["details"]
    assert detail["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    assert detail["languageNotSupportedByAttributeError"]["attribute"] == "TOXICITY"
    assert "vi" in detail["languageNotSupportedByAttributeError"]["detectedLanguages"] + languages
    assert analyze_worker.scorer.calls == []  # never scored by the English model


def test_language_check_rules() -> None:
    en = frozenset({"en"})
    assert check_languages([], "en", True, en).unsupported == []
    assert check_languages(["en-US"], None, False, en).languages == ["en"]
    # too short to call: scored, as the pipeline scores it, as the model's language
    short = check_languages([], "de", False, en)
    assert (short.languages, short.detected, short.unsupported) == (["en"], ["de"], [])
    assert check_languages(["en"], "vi", True, en).unsupported == ["vi"]
    assert check_languages(["fr", "es"], "fr", True, en).unsupported == ["fr", "es"]
    assert check_languages(["fr"], "fr", True, frozenset({"en", "fr"})).unsupported == []
    # the language that picks the model: detection when sure, else the client's first
    both = frozenset({"en", "vi"})
    assert check_languages(["en"], "vi", True, both).scored_as == "vi"
    assert check_languages(["vi"], "en", True, both).scored_as == "en"
    assert check_languages(["vi", "en"], "de", False, both).scored_as == "vi"
    assert check_languages([], None, False, both).scored_as == "en"


def test_sentence_spans() -> None:
    assert sentence_spans("One. Two!  Three") == [(0, 4), (5, 9), (11, 16)]
    assert sentence_spans("No end") == [(0, 6)]
    assert sentence_spans("Line one\nline two.") == [(0, 8), (9, 18)]
    assert sentence_spans("v1.2 is out") == [(0, 11)]


@pytest.mark.parametrize(
    ("body", "status", "message", "error_type"),
    [
        (
            {"comment": {"text": "  "}, "requestedAttributes": {"TOXICITY": {}}},
            400,
            "Comment must be non-empty.",
            "COMMENT_EMPTY",
        ),
        (
            {"comment": {"text": "x" * 20481}, "requestedAttributes": {"TOXICITY": {}}},
            400,
            "Comment text too long",
            "COMMENT_TOO_LONG",
        ),
        (
            {"comment": {"text": "hi there"}},
            400,
            "Missing requested_attributes",
            "NO_REQUESTED_ATTRIBUTES",
        ),
        (
            {"comment": {"text": "hi there"}, "requestedAttributes": {"FOO": {}}},
            400,
            "Unknown requested attribute: FOO",
            "INVALID_REQUEST",
        ),
        (
            {"comment": {"text": "hi there"}, "requestedAttributes": {"FLIRTATION": {}}},
            400,
            "Attribute FLIRTATION is not supported",
            "INVALID_REQUEST",
        ),
        (
            {"comment": {"text": "hi", "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}},
            400,
            "Currently, only 'PLAIN_TEXT' comments are supported",
            "INVALID_REQUEST",
        ),
        (
            {
                "comment": {"text": "hi"},
                "requestedAttributes": {"TOXICITY": {"scoreType": "STD_DEV_SCORE"}},
            },
            400,
            "Requested score type STD_DEV_SCORE is not supported by attribute TOXICITY",
            "INVALID_REQUEST",
        ),
    ],
)
def test_perspectives_refusals(
    client: FlaskClient,
    analyze_worker: AnalyzeWorker,
    analyze_key: str,
    body: dict[str, Any],
    status: int,
    message: str,
    error_type: str,
) -> None:
    response = analyze(client, analyze_key, body)
    assert response.status_code == status
    error = google_error(response)
    assert error["status"] == "INVALID_ARGUMENT" and error["message"].startswith(message)
    assert error["details"][0]["errorType"] == error_type
    assert analyze_worker.scorer.calls == []


def test_malformed_requests_are_googles_400s(
    client: FlaskClient, analyze_worker: AnalyzeWorker, analyze_key: str
) -> None:
    unknown = analyze(
        client,
        analyze_key,
        {"comment": {"text": "hi", "bogus": 1}, "requestedAttributes": {"TOXICITY": {}}},
    )
    error = google_error(unknown)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["fieldViolations"] == [
        {"field": "comment.bogus", "description": "Cannot find field."}
    ]
    not_json = client.post(f"{ANALYZE}?key={analyze_key}", data="hello", content_type="text/plain")
    assert not_json.status_code == 400 and google_error(not_json)["status"] == "INVALID_ARGUMENT"
    huge = client.post(
        f"{ANALYZE}?key={analyze_key}", data="x" * 70000, content_type="application/json"
    )
    assert huge.status_code == 400
    assert google_error(huge)["message"].startswith("Request payload size exceeds the limit")
    nul = analyze(
        client,
        analyze_key,
        {"comment": {"text": "a\x00b"}, "requestedAttributes": {"TOXICITY": {}}},
    )
    assert nul.status_code == 400 and google_error(nul)["status"] == "INVALID_ARGUMENT"
    # the model has no such label: said so, nothing made up
    sexual = analyze(
        client,
        analyze_key,
        {
            "comment": {"text": "hello there friends"},
            "requestedAttributes": {"SEXUALLY_EXPLICIT": {}},
        },
    )
    assert sexual.status_code == 400
    assert "SEXUALLY_EXPLICIT is not available" in google_error(sexual)["message"]


def test_keys(
    client: FlaskClient, analyze_worker: AnalyzeWorker, analyze_key: str, session: Session
) -> None:
    body = {"comment": {"text": "hello there"}, "requestedAttributes": {"TOXICITY": {}}}
    missing = analyze(client, None, body)
    assert missing.status_code == 403
    assert google_error(missing)["status"] == "PERMISSION_DENIED"
    assert google_error(missing)["details"][0]["reason"] == "API_KEY_MISSING"
    bad = analyze(client, "cmt_nope", body)
    assert bad.status_code == 403
    assert google_error(bad)["details"][0]["reason"] == "API_KEY_INVALID"
    moderator = create_token(session, "mod-persp", "moderator")
    session.commit()
    assert analyze(client, moderator, body).status_code == 403
    # Google's header works as well as ?key=
    header = client.post(ANALYZE, json=body, headers={"X-Goog-Api-Key": analyze_key})
    assert header.status_code == 200


def test_per_key_rate_limit(
    client: FlaskClient,
    analyze_worker: AnalyzeWorker,
    analyze_key: str,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = dataclasses.replace(app.config["SETTINGS"], analyze_rate_per_key="2/minute")
    monkeypatch.setitem(app.config, "SETTINGS", settings)
    body = {"comment": {"text": "hello there"}, "requestedAttributes": {"TOXICITY": {}}}
    assert [analyze(client, analyze_key, body).status_code for _ in range(2)] == [200, 200]
    over = analyze(client, analyze_key, body)
    assert over.status_code == 429
    error = google_error(over)
    assert error["status"] == "RESOURCE_EXHAUSTED" and int(over.headers["Retry-After"]) >= 1
    assert error["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"


def test_no_worker_is_a_503_and_leaves_nothing_queued(
    client: FlaskClient,
    analyze_key: str,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    redis_db: redis.Redis,
) -> None:
    settings = dataclasses.replace(app.config["SETTINGS"], analyze_timeout_s=0.3)
    monkeypatch.setitem(app.config, "SETTINGS", settings)
    started = time.monotonic()
    response = analyze(
        client, analyze_key, {"comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {}}}
    )
    assert response.status_code == 503
    assert google_error(response)["status"] == "UNAVAILABLE"
    assert time.monotonic() - started < 5  # it gave up, after the 0.3 s timeout and one poll
    assert redis_db.llen(channel.QUEUE) == 0  # taken back: never scored later, not left there


def test_a_model_that_cannot_load_is_a_503(
    client: FlaskClient, analyze_key: str, redis_url: str
) -> None:
    with AnalyzeWorker(redis_url, ScorerUnavailable("checkpoint file not found: /x")):
        response = analyze(
            client,
            analyze_key,
            {"comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {}}},
        )
    assert response.status_code == 503
    assert "checkpoint file not found" in google_error(response)["message"]


def test_suggestscore_records_the_correction(
    client: FlaskClient, analyze_worker: AnalyzeWorker, analyze_key: str, session: Session
) -> None:
    analyze(
        client, analyze_key, {"comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {}}}
    )
    # Coral Talk's body (a moderator approved the comment)
    response = client.post(
        f"{SUGGEST}?key={analyze_key}",
        json=coral_body(
            "comments:suggestscore",
            "en-US",
            {
                "text": INSULT,
                "commentID": "c1",
                "commentStatus": "APPROVED",
                "storyURL": "https://news.example.vn/a",
                "tenantURL": "https://news.example.vn/",
                "model": "TOXICITY",
            },
        ),
    )
    assert response.status_code == 200
    assert response.get_json() == {"clientToken": "comment:c1"}
    row = session.scalars(sa.select(AnalyzeRequest)).one()  # the analysed row, corrected
    assert row.suggested == {"TOXICITY": 0.0} and row.suggested_at is not None
    assert row.scores is not None

    # a text analysed with doNotStore (Coral's default): the correction is a row of its own
    client.post(
        f"{SUGGEST}?key={analyze_key}",
        json={
            "comment": {"text": "fine words"},
            "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
        },
    )
    rows = session.scalars(sa.select(AnalyzeRequest).order_by(AnalyzeRequest.created_at)).all()
    assert [(r.text, r.suggested, r.scores) for r in rows[1:]] == [
        ("fine words", {"TOXICITY": 1.0}, None)
    ]

    bad = client.post(
        f"{SUGGEST}?key={analyze_key}", json={"comment": {"text": "x"}, "attributeScores": {}}
    )
    assert bad.status_code == 400


def test_the_mapping_table_covers_detoxify_labels() -> None:
    labels = {label for labels in ATTRIBUTE_LABELS.values() for label in labels}
    # every label Detoxify's models produce answers some attribute
    assert {
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
        "identity_hate",
        "sexual_explicit",
    } <= labels
    assert attribute_score("PROFANITY", {"obscene": 0.4}) == 0.4
    assert attribute_score("IDENTITY_ATTACK", {"identity_hate": 0.3}) == 0.3
    assert attribute_score("SEXUALLY_EXPLICIT", {"toxicity": 0.3}) is None


# --- the worker side: analyze requests go ahead of batch work -------------------------


class _SlowCalls:
    """A scorer whose model calls each wait for a go-ahead, recording their order."""

    name, version, languages = "slow", "1", frozenset({"en"})

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.go = threading.Event()

    def score_batches(self, texts: Any) -> Iterator[tuple[list[int], list[dict[str, float]]]]:
        for i, text in enumerate(texts):
            self.go.wait(5)
            self.log.append(text)
            yield [i], [{"toxicity": 0.0}]


def test_waiting_analyze_calls_go_before_the_batchs_next_call() -> None:
    order: list[str] = []
    gate = ModelGate()
    slow = _SlowCalls(order)
    batch = GatedScorer(slow, gate)
    done = threading.Event()

    def run_batch() -> None:
        for _ in batch.score_batches(["b1", "b2", "b3"]):
            pass
        done.set()

    batch_thread = threading.Thread(target=run_batch)
    batch_thread.start()
    time.sleep(0.1)  # the batch is inside its first call, waiting for the go-ahead

    def urgent() -> None:
        with gate.call(urgent=True):
            order.append("analyze")

    urgent_thread = threading.Thread(target=urgent)
    urgent_thread.start()
    time.sleep(0.1)  # the analyze call is waiting for the model
    slow.go.set()
    urgent_thread.join(5)
    batch_thread.join(5)
    assert done.is_set()
    # the analyze call went in after the call in progress, before the batch's next one
    assert order == ["b1", "analyze", "b2", "b3"]


def test_the_discovery_document_points_at_us(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = client.get("/$discovery/rest?version=v1alpha1").get_json()
    assert (doc["name"], doc["version"], doc["rootUrl"]) == (
        "commentanalyzer",
        "v1alpha1",
        "http://localhost/",
    )
    methods = doc["resources"]["comments"]["methods"]
    assert {m["path"] for m in methods.values()} == {
        "v1alpha1/comments:analyze",
        "v1alpha1/comments:suggestscore",
    }
    settings = dataclasses.replace(app.config["SETTINGS"], public_url="https://mod.example.org/")
    monkeypatch.setitem(app.config, "SETTINGS", settings)
    assert client.get("/$discovery/rest?version=v1alpha1").get_json()["rootUrl"] == (
        "https://mod.example.org/"
    )
    other = client.get("/$discovery/rest?version=v1")
    assert other.status_code == 404 and google_error(other)["status"] == "NOT_FOUND"


def test_requests_waiting_together_are_scored_in_one_turn(
    client: FlaskClient, redis_url: str, redis_db: redis.Redis
) -> None:
    sent = {
        "a": (["You are an idiot."], []),
        "b": (["Bài viết này thật là ngu ngốc và vô học, tác giả nên nghỉ viết đi"], ["en"]),
        "c": (["Thanks. Kill the bill!", "Thanks.", "Kill the bill!"], ["en"]),
    }
    for request_id, (texts, languages) in sent.items():
        redis_db.rpush(
            channel.QUEUE,
            json.dumps({"id": request_id, "texts": texts, "languages": languages}),
        )
    with AnalyzeWorker(redis_url, KeywordScorer()) as w:
        replies = {
            request_id: json.loads(redis_db.blpop([channel.REPLY_PREFIX + request_id], 10)[1])
            for request_id in sent
        }
    # the two English requests went to the model together; the Vietnamese one not at all
    assert w.scorer.calls == [["You are an idiot.", *sent["c"][0]]]
    expected = KeywordScorer()
    assert replies["a"]["scores"] == expected.score(sent["a"][0])
    assert replies["c"]["scores"] == expected.score(sent["c"][0])
    assert replies["a"]["model"] == replies["c"]["model"] == "keyword-fake@1"
    assert replies["b"] == {"languages": ["en"], "detected": ["vi"], "unsupported": ["vi"]}


def test_keys_in_urls_never_reach_log_lines() -> None:
    # Perspective's ?key=, Akismet's api_key=, and any of our tokens by their prefix
    assert redact("/v1alpha1/comments:analyze?key=cmt_abcdefghij&alt=json") == (
        "/v1alpha1/comments:analyze?key=[redacted]&alt=json"
    )
    assert "cmt_abcdefghij" not in redact("api_key=cmt_abcdefghij&blog=x")
    assert redact("unknown token cmt_abcdefghijKL_-9 seen") == "unknown token [redacted] seen"
    assert redact("a monkey=banana") == "a monkey=banana"


VI_TEXT = "Bài viết này thật là ngu ngốc và vô học, tác giả nên nghỉ viết đi"


def vi_keyword_scorer() -> KeywordScorer:
    """A stand-in for TOXICITY_MODEL_VI: its own words, its own name."""
    scorer = KeywordScorer({"ngu": {"toxicity": 0.88, "insult": 0.8}}, languages=("vi",))
    scorer.name = "keyword-fake-vi"
    return scorer


@pytest.mark.parametrize(
    ("text", "languages"),
    [
        (VI_TEXT, []),
        # Coral Talk sends "en" for locales Perspective lacks: detection still decides
        (VI_TEXT, ["en"]),
        ("ngu quá", ["vi"]),
        ("do ngu, bai viet nhu cut", []),  # unaccented: routed by its words
    ],
)
def test_vietnamese_is_scored_by_the_vietnamese_model(
    client: FlaskClient,
    analyze_key: str,
    redis_url: str,
    session: Session,
    text: str,
    languages: list[str],
) -> None:
    with AnalyzeWorker(redis_url, KeywordScorer(), vi_keyword_scorer()) as worker:
        response = analyze(
            client,
            analyze_key,
            {
                "comment": {"text": text},
                "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
                "languages": languages,
            },
        )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    expected = vi_keyword_scorer().score([text])[0]
    assert body["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == expected["toxicity"]
    assert body["attributeScores"]["INSULT"]["summaryScore"]["value"] == expected["insult"]
    assert expected["toxicity"] == 0.88  # the Vietnamese model's word, not the English one's
    assert body["languages"] == ["vi"] and body["detectedLanguages"] == ["vi"]
    assert worker.vi_scorer.calls == [[text]]
    assert worker.scorer.calls == []  # never the English model
    row = session.scalars(sa.select(AnalyzeRequest)).one()
    assert row.model == "keyword-fake-vi@1" and row.languages == ["vi"]


@pytest.mark.parametrize(
    ("text", "languages", "unsupported"),
    [
        ("บทความนี้โง่มาก ผู้เขียนควรหยุดเขียนได้แล้ว", [], "th"),
        ("Cet article est vraiment stupide, l'auteur devrait arrêter d'écrire.", ["en"], "fr"),
        (INSULT, ["fr"], "fr"),
    ],
)
def test_a_language_neither_model_covers_is_still_refused(
    client: FlaskClient,
    analyze_key: str,
    redis_url: str,
    text: str,
    languages: list[str],
    unsupported: str,
) -> None:
    with AnalyzeWorker(redis_url, KeywordScorer(), vi_keyword_scorer()) as worker:
        response = analyze(
            client,
            analyze_key,
            {
                "comment": {"text": text},
                "requestedAttributes": {"TOXICITY": {}},
                "languages": languages,
            },
        )
    assert response.status_code == 400
    error = google_error(response)
    assert (
        error["message"] == f"Attribute TOXICITY does not support request languages: {unsupported}"
    )
    assert error["details"][0]["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    assert worker.scorer.calls == worker.vi_scorer.calls == []


def test_requests_for_both_models_are_batched_per_model(
    redis_url: str, redis_db: redis.Redis
) -> None:
    sent = {
        "a": (["You are an idiot."], []),
        "b": ([VI_TEXT], ["en"]),
        "c": (["Thanks. Kill the bill!", "Thanks.", "Kill the bill!"], ["en"]),
        "d": (["ngu quá"], ["vi"]),
        "e": (["บทความนี้โง่มาก ผู้เขียนควรหยุดเขียนได้แล้ว"], []),
    }
    for request_id, (texts, languages) in sent.items():
        redis_db.rpush(
            channel.QUEUE,
            json.dumps({"id": request_id, "texts": texts, "languages": languages}),
        )
    with AnalyzeWorker(redis_url, KeywordScorer(), vi_keyword_scorer()) as w:
        replies = {
            request_id: json.loads(redis_db.blpop([channel.REPLY_PREFIX + request_id], 10)[1])
            for request_id in sent
        }
    # one call per model, each with all of its requests' texts; Thai went to neither
    assert w.scorer.calls == [["You are an idiot.", *sent["c"][0]]]
    assert w.vi_scorer.calls == [[VI_TEXT, "ngu quá"]]
    english, vietnamese = KeywordScorer(), vi_keyword_scorer()
    for request_id, scorer, model in (
        ("a", english, "keyword-fake@1"),
        ("c", english, "keyword-fake@1"),
        ("b", vietnamese, "keyword-fake-vi@1"),
        ("d", vietnamese, "keyword-fake-vi@1"),
    ):
        assert replies[request_id]["scores"] == scorer.score(sent[request_id][0])
        assert replies[request_id]["model"] == model
    assert replies["b"]["languages"] == ["vi"]  # scored as what detection said, not "en"
    assert replies["e"] == {"languages": ["th"], "detected": ["th"], "unsupported": ["th"]}


def test_a_vietnamese_model_that_cannot_load_fails_only_vietnamese(
    client: FlaskClient, analyze_key: str, redis_url: str
) -> None:
    unavailable = ScorerUnavailable("no shipped model 'e5-toxic-multi'")
    with AnalyzeWorker(redis_url, KeywordScorer(), unavailable):
        vietnamese = analyze(
            client,
            analyze_key,
            {"comment": {"text": VI_TEXT}, "requestedAttributes": {"TOXICITY": {}}},
        )
        english = analyze(
            client,
            analyze_key,
            {"comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {}}},
        )
    assert vietnamese.status_code == 503
    assert "no shipped model" in google_error(vietnamese)["message"]
    assert english.status_code == 200
