"""Coral Talk's Perspective calls, replayed as Coral sends them, and every field it reads.

Read from coralproject/talk: ``server/src/core/server/services/comments/pipeline/phases/
toxic.ts`` (the moderation phase) and its helper ``server/src/core/server/services/
perspective/perspective.ts`` (``sendToPerspective``, ``formatBody``, ``convertLanguage``).

What Coral does, and so what :func:`send_to_perspective` below (with
:func:`tests.helpers.coral_body`) does:

- the URL is the tenant's endpoint (default ``https://commentanalyzer.googleapis.com/v1alpha1``)
  with ``/<operation>`` joined to its path and ``key`` set as a query parameter (trimmed);
- ``POST`` with ``Content-Type: application/json`` and the body of ``formatBody``:
  analyze: ``{comment: {text}, doNotStore, requestedAttributes: {[model]: {}},
  languages: [language]}``; suggestscore: ``{comment: {text}, context: {entries: [{text:
  JSON of {url, reply_to_id_Coral_comment_id?, Coral_comment_id}}]}, attributeScores:
  {[model]: {summaryScore: {value: 0 | 1}}}, languages, communityId: "Coral:<tenant URL>",
  clientToken: "comment:<id>"}``;
- the language is the tenant locale mapped by ``convertLanguage`` (en-US -> en, es, fr-FR
  -> fr, de, pt-BR -> pt; any other locale -> en);
- ``doNotStore`` defaults to true, the model to ``TOXICITY`` (``SEVERE_TOXICITY`` is the
  other choice in its admin), the threshold to 0.8;
- it reads ``res.ok`` and then only ``data.attributeScores[model].summaryScore.value``,
  a number compared with ``score > threshold``; on a non-OK answer ``data`` is null, the
  read throws, and the phase logs "could not determine comment toxicity" and goes on.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from service.db import Session
from service.perspective.models import AnalyzeRequest
from tests.helpers import AnalyzeWorker, coral_body, coral_language
from workers.toxicity.scorer import KeywordScorer

ENDPOINT = "https://moderation.example.org/v1alpha1"  # what the admin types in Coral
TENANT_URL = "https://news.example.vn/"
THRESHOLD = 80 / 100  # TOXICITY_THRESHOLD_DEFAULT / 100


def send_to_perspective(
    client: FlaskClient, endpoint: str, key: str, operation: str, locale: str, body: dict
) -> dict[str, Any]:
    """Coral's ``sendToPerspective``, against the app: ``{ok, status, data}``."""
    url = urlsplit(endpoint.strip())
    # Node's path.join: both parts joined with "/", then normalised (not Python's join,
    # which would drop the endpoint's path for an absolute second part)
    path = posixpath.normpath(f"{url.path}/{operation}")
    target = urlunsplit(("", "", path, urlencode({"key": key.strip()}), ""))
    response = client.post(
        target,
        data=json.dumps(coral_body(operation, locale, body)),
        headers={"Content-Type": "application/json"},
    )
    ok = 200 <= response.status_code < 300
    return {"ok": ok, "status": response.status_code, "data": response.get_json() if ok else None}


def toxic_phase(result: dict[str, Any], model: str) -> dict[str, Any] | None:
    """What toxic.ts does with the answer; None where Coral logs and goes on."""
    try:
        score = result["data"]["attributeScores"][model]["summaryScore"]["value"]
    except (TypeError, KeyError):
        return None
    assert isinstance(score, float | int) and not isinstance(score, bool)
    assert 0.0 <= score <= 1.0
    return {"score": score, "isToxic": score > THRESHOLD}


@pytest.fixture
def key(analyze_key: str) -> str:
    return f"  {analyze_key} "  # pasted into Coral's admin with stray spaces: Coral trims them


@pytest.mark.parametrize("model", ["TOXICITY", "SEVERE_TOXICITY"])
@pytest.mark.parametrize("locale", ["en-US", "fr-FR", "es", "de", "pt-BR"])
def test_coral_analyze_is_read_as_coral_reads_it(
    client: FlaskClient,
    analyze_worker: AnalyzeWorker,
    key: str,
    session: Session,
    model: str,
    locale: str,
) -> None:
    if coral_language(locale) != "en":
        # our model reads English only: Coral gets Perspective's language error, logs it
        result = send_to_perspective(
            client,
            ENDPOINT,
            key,
            "comments:analyze",
            locale,
            {"text": "Merci pour cet article", "doNotStore": True, "model": model},
        )
        assert (result["ok"], result["status"], toxic_phase(result, model)) == (False, 400, None)
        return
    insult = send_to_perspective(
        client,
        ENDPOINT,
        key,
        "comments:analyze",
        locale,
        {"text": "You are an idiot, and a stupid one.", "doNotStore": True, "model": model},
    )
    assert insult["ok"], insult
    fine = send_to_perspective(
        client,
        ENDPOINT,
        key,
        "comments:analyze",
        locale,
        {"text": "Thanks for the clear explanation.", "doNotStore": True, "model": model},
    )
    expected = KeywordScorer().score(["You are an idiot, and a stupid one."])[0]
    label = {"TOXICITY": "toxicity", "SEVERE_TOXICITY": "severe_toxicity"}[model]
    assert toxic_phase(insult, model) == {
        "score": expected[label],
        "isToxic": expected[label] > THRESHOLD,
    }
    assert toxic_phase(fine, model) == {"score": 0.01, "isToxic": False}
    if model == "TOXICITY":
        assert toxic_phase(insult, model)["isToxic"] is True  # type: ignore[index]
    # Coral's default doNotStore: nothing kept
    assert session.scalar(sa.select(sa.func.count()).select_from(AnalyzeRequest)) == 0


def test_coral_vietnamese_tenant_gets_the_vietnamese_models_score(
    client: FlaskClient, redis_url: str, key: str
) -> None:
    # "vi" is not in convertLanguage: Coral sends "en"; detection routes the text to
    # TOXICITY_MODEL_VI (a stand-in here), never to the English model
    text = "Bài viết này thật là ngu ngốc và vô học"
    vietnamese = KeywordScorer({"ngu": {"toxicity": 0.9}}, languages=("vi",))
    with AnalyzeWorker(redis_url, KeywordScorer(), vietnamese) as worker:
        result = send_to_perspective(
            client,
            ENDPOINT,
            key,
            "comments:analyze",
            "vi",
            {"text": text, "doNotStore": True, "model": "TOXICITY"},
        )
    assert result["ok"], result
    assert toxic_phase(result, "TOXICITY") == {"score": 0.9, "isToxic": True}
    assert worker.vi_scorer.calls == [[text]] and worker.scorer.calls == []


def test_coral_vietnamese_tenant_without_a_vietnamese_model_is_told_it_is_unsupported(
    client: FlaskClient, analyze_worker: AnalyzeWorker, key: str
) -> None:
    # analyze_worker has no Vietnamese model (TOXICITY_MODEL_VI empty): not scored at all
    result = send_to_perspective(
        client,
        ENDPOINT,
        key,
        "comments:analyze",
        "vi",
        {
            "text": "Bài viết này thật là ngu ngốc và vô học",
            "doNotStore": True,
            "model": "TOXICITY",
        },
    )
    assert (result["ok"], result["status"]) == (False, 400)
    assert toxic_phase(result, "TOXICITY") is None
    assert analyze_worker.scorer.calls == []


@pytest.mark.parametrize(("status", "value"), [("APPROVED", 0.0), ("DELETED", 1.0)])
def test_coral_suggestscore_is_recorded(
    client: FlaskClient,
    analyze_worker: AnalyzeWorker,
    key: str,
    session: Session,
    status: str,
    value: float,
) -> None:
    result = send_to_perspective(
        client,
        ENDPOINT,
        key,
        "comments:suggestscore",
        "en-US",
        {
            "text": "You are an idiot, and a stupid one.",
            "commentID": "c-123",
            "commentParentID": "c-100",
            "commentStatus": status,
            "storyURL": "https://news.example.vn/story-1",
            "tenantURL": TENANT_URL,
            "model": "TOXICITY",
        },
    )
    assert (result["ok"], result["data"]) == (True, {"clientToken": "comment:c-123"})
    row = session.scalars(sa.select(AnalyzeRequest)).one()
    assert row.suggested == {"TOXICITY": value}
    assert (row.client_token, row.community_id, row.languages) == (
        "comment:c-123",
        f"Coral:{TENANT_URL}",
        ["en"],
    )


def test_coral_with_a_bad_key_goes_on_without_a_score(
    client: FlaskClient, analyze_worker: AnalyzeWorker
) -> None:
    result = send_to_perspective(
        client,
        ENDPOINT,
        "wrong",
        "comments:analyze",
        "en-US",
        {"text": "hello there", "doNotStore": True, "model": "TOXICITY"},
    )
    assert (result["ok"], result["status"], toxic_phase(result, "TOXICITY")) == (False, 403, None)
