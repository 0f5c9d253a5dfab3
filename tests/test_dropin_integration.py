"""The drop-in endpoints on the real stack, with the real clients of the services they replace.

gunicorn serves the API, a real Celery toxicity worker serves ``comments:analyze`` with a
Detoxify checkpoint built here (loaded through Detoxify's own code), on a private
redis-server and a PostgreSQL database of this module's own. Its TOXICITY_MODEL_VI is
empty; a second stack, started only for the Vietnamese test (and skipped where the
shipped Vietnamese model is absent), has the shipped one as well.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from config.settings import SHIPPED_VI_TOXICITY_MODEL
from service.db import Database
from service.moderation.auth import create_token
from service.perspective.models import AnalyzeRequest
from service.perspective.services import attribute_score
from tests.helpers import PrivateRedis, migrated_pg_database
from tests.stack import Stack
from workers.toxicity import shipped
from workers.toxicity.checkpoint import CheckpointFiles, build_checkpoint
from workers.toxicity.scorer import MODEL_LANGUAGES, DetoxifyScorer
from workers.toxicity.shipped import ShippedModelError

pytestmark = pytest.mark.integration

TEXTS = [
    "The council should publish the full budget before the vote next week.",
    "What kind of idiot name is foo? Sorry, I like your name.",
]


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    with migrated_pg_database("moderation_dropin") as url:
        db = Database(url)
        yield db
        db.dispose()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> CheckpointFiles:
    return build_checkpoint(tmp_path_factory.mktemp("tiny"), "tiny")


@pytest.fixture(scope="module")
def url(
    database: Database, tiny: CheckpointFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The API (gunicorn) and one toxicity worker, as `make run` starts them."""
    redis_server = PrivateRedis().start()
    stack = Stack(
        database.url,
        redis_server,
        tmp_path_factory.mktemp("logs"),
        MODERATION_TOXICITY_MODEL="original",
        MODERATION_TOXICITY_MODEL_VI="",
        **tiny.env(),
    )
    try:
        _api, api_url = stack.api()
        worker = stack.worker("toxicity", concurrency=1, prefetch=16)
        worker.wait_for_output("loaded in", timeout=120)  # the child has its model
        yield api_url
    finally:
        stack.stop()
        redis_server.stop()


@pytest.fixture(scope="module")
def vi_model(tmp_path_factory: pytest.TempPathFactory) -> DetoxifyScorer:
    """The shipped Vietnamese model, loaded here: what the worker's answers are checked against."""
    try:
        shipped.manifest(SHIPPED_VI_TOXICITY_MODEL)
    except ShippedModelError as exc:
        pytest.skip(str(exc))
    scorer = DetoxifyScorer(
        model_type=SHIPPED_VI_TOXICITY_MODEL,
        models_dir=str(tmp_path_factory.mktemp("vi-models")),
        languages=MODEL_LANGUAGES[SHIPPED_VI_TOXICITY_MODEL],
    )
    scorer.load()
    return scorer


@pytest.fixture(scope="module")
def vi_url(
    database: Database,
    tiny: CheckpointFiles,
    vi_model: DetoxifyScorer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The API and a toxicity worker with both models, as a default install runs them."""
    redis_server = PrivateRedis().start()
    stack = Stack(
        database.url,
        redis_server,
        tmp_path_factory.mktemp("vi-logs"),
        MODERATION_TOXICITY_MODEL="original",
        MODERATION_TOXICITY_MODEL_VI=SHIPPED_VI_TOXICITY_MODEL,
        # the folder the test's own copy was assembled in: built once
        MODERATION_MODELS_DIR=str(vi_model.models_dir),
        **tiny.env(),
    )
    try:
        _api, api_url = stack.api()
        worker = stack.worker("toxicity", concurrency=1, prefetch=16)
        # the warm-up loads the main model, then the Vietnamese one
        worker.wait_for_output(f"toxicity model {SHIPPED_VI_TOXICITY_MODEL}@", timeout=180)
        yield api_url
    finally:
        stack.stop()
        redis_server.stop()


@pytest.fixture(scope="module")
def key(database: Database) -> str:
    with database.session() as session:
        return create_token(session, f"coral-{uuid.uuid4().hex[:6]}", "analyze")


@pytest.fixture(scope="module")
def model(tiny: CheckpointFiles) -> DetoxifyScorer:
    """The same checkpoint, loaded here: what the worker's answers are checked against."""
    scorer = DetoxifyScorer(
        model_type="original",
        checkpoint=str(tiny.checkpoint),
        checkpoint_sha256=tiny.sha256,
        hf_config_path=str(tiny.hf_config_dir),
    )
    scorer.load()
    return scorer


def analyze(url: str, key: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{url}/v1alpha1/comments:analyze", params={"key": key}, json=body, timeout=30
    )


def test_analyze_is_scored_by_the_toxicity_workers_model(
    url: str, key: str, model: DetoxifyScorer, database: Database
) -> None:
    # the first request may wait for the worker child to finish loading the model
    for text in TEXTS:
        response = analyze(
            url,
            key,
            {
                "comment": {"text": text},
                "requestedAttributes": {"TOXICITY": {}, "PROFANITY": {}, "IDENTITY_ATTACK": {}},
                "spanAnnotations": True,
                "clientToken": "t1",
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        expected = model.score([text])[0]
        for attribute in ("TOXICITY", "PROFANITY", "IDENTITY_ATTACK"):
            got = body["attributeScores"][attribute]["summaryScore"]["value"]
            assert got == pytest.approx(attribute_score(attribute, expected), abs=1e-5)
        spans = body["attributeScores"]["TOXICITY"]["spanScores"]
        for span in spans:
            piece = model.score([text[span["begin"] : span["end"]]])[0]
            assert span["score"]["value"] == pytest.approx(piece["toxicity"], abs=1e-5)
        assert body["clientToken"] == "t1" and body["languages"] == ["en"]
    assert len(spans) == 2  # the second text's two sentences
    with database.session() as session:
        rows = session.scalars(sa.select(AnalyzeRequest).order_by(AnalyzeRequest.created_at)).all()
        assert [r.text for r in rows] == TEXTS
        assert all(r.model and r.model.startswith("detoxify-checkpoint:") for r in rows)


def test_without_a_vietnamese_model_vietnamese_is_refused_not_scored_as_english(
    url: str, key: str
) -> None:
    response = analyze(
        url,
        key,
        {
            "comment": {"text": "Bài viết này thật là ngu ngốc, tác giả nên nghỉ viết đi"},
            "requestedAttributes": {"TOXICITY": {}},
            "languages": ["en"],
            "doNotStore": True,
        },
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    assert error["details"][0]["languageNotSupportedByAttributeError"]["detectedLanguages"] == [
        "vi"
    ]


def test_vietnamese_is_scored_by_the_vietnamese_model(
    vi_url: str, key: str, vi_model: DetoxifyScorer, database: Database
) -> None:
    text = "Bài viết này thật là ngu ngốc, tác giả nên nghỉ viết đi"
    response = analyze(
        vi_url,
        key,
        {
            "comment": {"text": text},
            "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
            "languages": ["en"],  # as Coral Talk sends it: detection decides
            "clientToken": "vi-1",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    expected = vi_model.score([text])[0]
    for attribute in ("TOXICITY", "INSULT"):
        got = body["attributeScores"][attribute]["summaryScore"]["value"]
        assert got == pytest.approx(attribute_score(attribute, expected), abs=1e-5)
    assert body["languages"] == ["vi"] and body["detectedLanguages"] == ["vi"]
    with database.session() as session:
        row = session.scalars(sa.select(AnalyzeRequest).where(AnalyzeRequest.text == text)).one()
        assert row.model == f"{vi_model.name}@{vi_model.version}"

    # English still goes to the main model, and a language neither covers is refused
    english_text = "Thanks for the clear report on the council budget."
    english = analyze(
        vi_url, key, {"comment": {"text": english_text}, "requestedAttributes": {"TOXICITY": {}}}
    )
    assert english.status_code == 200, english.text
    with database.session() as session:
        row = session.scalars(
            sa.select(AnalyzeRequest).where(AnalyzeRequest.text == english_text)
        ).one()
        assert row.model is not None and row.model.startswith("detoxify-checkpoint:")
    thai = analyze(
        vi_url,
        key,
        {
            "comment": {"text": "บทความนี้โง่มาก ผู้เขียนควรหยุดเขียนได้แล้ว"},
            "requestedAttributes": {"TOXICITY": {}},
            "doNotStore": True,
        },
    )
    assert thai.status_code == 400
    assert thai.json()["error"]["details"][0]["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"


def test_googles_client_works_from_our_discovery_document(
    url: str, key: str, model: DetoxifyScorer
) -> None:
    from googleapiclient import discovery
    from googleapiclient.errors import HttpError

    perspective = discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey=key,
        discoveryServiceUrl=f"{url}/$discovery/rest?version={{apiVersion}}",
        static_discovery=False,
        cache_discovery=False,
    )
    request = {
        "comment": {"text": TEXTS[0]},
        "requestedAttributes": {"TOXICITY": {}},
        "doNotStore": True,
    }
    response = perspective.comments().analyze(body=request).execute()
    value = response["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    assert value == pytest.approx(model.score([TEXTS[0]])[0]["toxicity"], abs=1e-5)

    suggestion = {
        "comment": {"text": TEXTS[0]},
        "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.0}}},
        "clientToken": "comment:1",
    }
    assert perspective.comments().suggestscore(body=suggestion).execute() == {
        "clientToken": "comment:1"
    }

    with pytest.raises(HttpError) as empty:
        perspective.comments().analyze(
            body={"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}}
        ).execute()
    assert empty.value.status_code == 400
    assert empty.value.reason == "Comment must be non-empty."

    unkeyed = discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey="cmt_not-a-key",
        discoveryServiceUrl=f"{url}/$discovery/rest?version={{apiVersion}}",
        static_discovery=False,
        cache_discovery=False,
    )
    with pytest.raises(HttpError) as refused:
        unkeyed.comments().analyze(body=request).execute()
    assert refused.value.status_code == 403
    assert refused.value.reason == "API key not valid. Please pass a valid API key."


def test_the_akismet_client_against_the_running_api(url: str, key: str) -> None:
    import akismet
    import httpx

    api = httpx.URL(url)

    # the README's hook: the client's URL is fixed, its requests are sent here instead
    def to_us(r: httpx.Request) -> None:
        r.url = r.url.copy_with(scheme=api.scheme, host=api.host, port=api.port)
        r.headers["Host"] = r.url.netloc.decode()

    http = httpx.Client(
        event_hooks={"request": [to_us]}, headers={"User-Agent": akismet.USER_AGENT}, timeout=10
    )
    client = akismet.SyncClient.validated_client(
        akismet.Config(key=key, url="https://news.example.vn/"), http_client=http
    )
    spam = (
        "Kiếm tiền online 5 triệu mỗi ngày, liên hệ Zalo 0912 345 678 hoặc vào "
        "bit.ly/kiemtien-nhanh và www.kiemtien-nhanh.top/dang-ky ngay hôm nay"
    )
    assert client.comment_check(user_ip="203.0.113.5", comment_content=spam) == (
        akismet.CheckResponse.DISCARD
    )
    assert client.comment_check(user_ip="203.0.113.6", comment_content=TEXTS[0]) == (
        akismet.CheckResponse.HAM
    )
    assert client.submit_spam(user_ip="203.0.113.5", comment_content=spam) is True
    with pytest.raises(akismet.APIKeyError):
        akismet.SyncClient.validated_client(
            akismet.Config(key="cmt_nope", url="https://news.example.vn/"), http_client=http
        )
