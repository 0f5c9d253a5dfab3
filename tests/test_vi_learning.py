"""Moderators' decisions on Vietnamese comments teach every worker's toxicity learner."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from alembic import command
from flask.testing import FlaskClient

from service import create_app
from service.comments.models import Status
from service.comments.text import strip_diacritics
from service.db import Session
from service.migrate import alembic_config, upgrade
from service.moderation.auth import create_token
from service.moderation.models import ToxicityLabel
from tests.conftest import make_settings
from tests.factories import make_article, make_comment
from tests.helpers import migrated_pg_database
from workers.toxicity.vi_learning import (
    LearningVietnameseToxicity,
    ToxicityLearner,
    blend,
    blend_weight,
    combine,
    syllables,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

INSULTS = [
    "Đồ ngu như chó, câm mồm đi",
    "Thằng óc chó này viết bài ngu vãi",
    "Câm mồm đi đồ mất dạy, ngu như bò",
    "Mày ngu thật, cút đi cho khuất mắt",
    "Loại người mất dạy, óc chó, câm mồm lại",
]
CLEAN = [
    "Bài viết rất hay, cảm ơn tác giả",
    "Cảm ơn phóng viên đã đưa tin kịp thời",
    "Thông tin hữu ích, mong tác giả viết thêm",
    "Tôi không đồng ý với quan điểm này nhưng bài viết rất công phu",
    "Chính sách này cần được xem xét lại cho phù hợp",
]
UNACCENTED_INSULT = "do ngu nhu cho, cam mom di"
UNSEEN_CLEAN = "Bai viet hay qua, cam on tac gia nhieu"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def taught(rounds: int = 1, **kwargs: Any) -> ToxicityLearner:
    learner = ToxicityLearner(**kwargs)
    for _ in range(rounds):
        for toxic, clean in zip(INSULTS, CLEAN, strict=True):
            learner.learn(toxic, True)
            learner.learn(clean, False)
    return learner


# --- the learner ----------------------------------------------------------------------


def test_chat_spellings_fold_into_syllables() -> None:
    assert syllables("Đồ NGUUUU, đ.m") == ["đồ", "ngu", "đ", "m"]
    assert syllables("d!t l0n c@m") == ["dit", "lon", "cam"]
    # punctuation at a word's end and numbers are not letters
    assert syllables("hay quá! 2024") == ["hay", "quá", "0000"]
    assert (
        strip_diacritics("Đồ ngu như chó, câm mồm đi", keep_case=True)
        == "Do ngu nhu cho, cam mom di"
    )


def test_unaccented_text_shares_the_features_of_its_accented_form() -> None:
    learner = ToxicityLearner()
    accented = set(learner.features("Đồ ngu như chó").tolist())
    unaccented = set(learner.features("do ngu nhu cho").tolist())
    assert unaccented <= accented
    assert len(accented) > len(unaccented)  # the accented n-grams are there too


def test_an_untaught_learner_knows_nothing() -> None:
    learner = ToxicityLearner()
    assert learner.probability(INSULTS[0]) == 0.5
    assert learner.counts == [0, 0] and learner.labels_learned == 0


def test_labels_teach_insults_with_and_without_diacritics() -> None:
    learner = taught(rounds=3)
    assert learner.counts == [15, 15]
    assert learner.probability(UNACCENTED_INSULT) > 0.8
    assert learner.probability("thằng này ngu như bò") > 0.6  # not one of the labels
    assert learner.probability(UNSEEN_CLEAN) < 0.3
    assert learner.probability("Cảm ơn tác giả, bài viết hay") < 0.3


def test_learning_is_deterministic() -> None:
    a, b = taught(rounds=2), taught(rounds=2)
    assert (a.weights == b.weights).all()
    assert a.probability(UNSEEN_CLEAN) == b.probability(UNSEEN_CLEAN)


def test_a_reversed_label_moves_the_text_back() -> None:
    learner = taught()
    before = learner.probability(CLEAN[0])
    learner.learn(CLEAN[0], True)
    assert learner.probability(CLEAN[0]) > before
    learner.learn(CLEAN[0], False)
    assert learner.probability(CLEAN[0]) < learner.probability(INSULTS[0])


# --- the blend ------------------------------------------------------------------------


def test_the_weight_waits_for_enough_labels_of_each_class_then_grows_to_its_cap() -> None:
    assert blend_weight([0, 0], 25, 0.5) == 0.0
    assert blend_weight([500, 24], 25, 0.5) == 0.0  # plenty of one class is not enough
    weights = [blend_weight([n, n], 25, 0.5) for n in (25, 26, 50, 100, 250, 10_000)]
    assert 0 < weights[0] < 0.05  # no jump when the 25th label arrives
    assert weights == sorted(weights)
    assert weights[2] == pytest.approx(0.26)
    assert 0.49 < weights[-1] <= 0.5


def test_combine_returns_the_model_score_until_the_learner_has_enough_labels() -> None:
    learner = taught(rounds=3)  # 15 of each class
    score, info = combine(learner, 0.12, UNACCENTED_INSULT, min_per_class=25)
    assert score == 0.12
    assert info["weight"] == 0.0
    assert info["labels"] == {"not_toxic": 15, "toxic": 15}
    assert info["probability"] > 0.8  # reported even before it counts


def test_combine_blends_once_the_learner_has_enough_labels() -> None:
    learner = taught(rounds=6)  # 30 of each class
    before = learner.weights.copy()
    score, info = combine(learner, 0.12, UNACCENTED_INSULT, min_per_class=25, max_weight=0.5)
    assert (learner.weights == before).all()  # combine only reads the learner
    assert 0 < info["weight"] <= 0.5
    assert 0.12 < score < info["probability"]
    # the stored signals re-derive the score
    assert blend(info["model_toxicity"], info["probability"], info["weight"]) == score
    assert info["toxicity"] == score
    json.dumps(info)  # fit for the comment's signals
    # an unsure model score of a clean text moves toward the learner's low one
    clean, clean_info = combine(learner, 0.4, UNSEEN_CLEAN, min_per_class=25)
    assert clean_info["probability"] < clean < 0.4


def test_blend_is_an_average_in_log_odds() -> None:
    assert blend(0.2, 0.9, 0.0) == 0.2
    assert blend(0.2, 0.9, 1.0) == pytest.approx(0.9)
    assert blend(0.5, 0.5, 0.3) == pytest.approx(0.5)
    # equal weights of log-odds -2 and +2 meet at 0
    assert blend(0.1192029, 0.8807971, 0.5) == pytest.approx(0.5, abs=1e-6)


# --- labels from the moderators' API --------------------------------------------------


def test_decisions_on_vietnamese_comments_become_toxicity_labels(
    client: FlaskClient, session: Session
) -> None:
    token = create_token(session, "mod-vi", "moderator")
    article = make_article(session)
    made = {
        name: make_comment(session, article, status=Status.HELD, body=body, language=language)
        for name, body, language in [
            ("approved", CLEAN[0], "vi"),
            ("toxic", INSULTS[0], "vi"),
            ("harassment", INSULTS[1], "vi"),
            ("hate", INSULTS[2], "vi"),
            ("spam", "Liên hệ zalo nhận quà", "vi"),
            ("off_topic", "Hôm nay trời đẹp", "vi"),
            ("english", "You are an idiot", "en"),
            ("unknown", "Đồ ngu", None),
        ]
    }
    session.commit()

    def decide(name: str, action: str, reason: str | None = None) -> None:
        comment = made[name]
        session.refresh(comment)
        body = {"action": action, "version": comment.version}
        if reason:
            body["reason"] = reason
        response = client.post(
            f"/v1/moderation/comments/{comment.id}/decision", json=body, headers=auth(token)
        )
        assert response.status_code == 200, response.get_json()

    decide("approved", "approve")
    for reason in ("toxic", "harassment", "hate", "spam", "off_topic"):
        decide(reason, "reject", reason)
    decide("english", "reject", "toxic")
    decide("unknown", "reject", "toxic")

    labels = session.scalars(sa.select(ToxicityLabel).order_by(ToxicityLabel.id)).all()
    assert [(lab.comment_id, lab.is_toxic, lab.reason) for lab in labels] == [
        (made["approved"].id, False, None),
        (made["toxic"].id, True, "toxic"),
        (made["harassment"].id, True, "harassment"),
        (made["hate"].id, True, "hate"),
    ]
    assert {lab.language for lab in labels} == {"vi"}
    assert labels[0].text == CLEAN[0] and labels[0].source == "moderator:mod-vi"

    # a reversed decision adds a row; the earlier one stays
    decide("toxic", "approve")
    rows = session.execute(
        sa.select(ToxicityLabel.is_toxic)
        .where(ToxicityLabel.comment_id == made["toxic"].id)
        .order_by(ToxicityLabel.id)
    ).scalars()
    assert list(rows) == [True, False]


def test_bulk_decisions_become_toxicity_labels(client: FlaskClient, session: Session) -> None:
    token = create_token(session, "mod-vi-bulk", "moderator")
    article = make_article(session)
    comments = [
        make_comment(session, article, status=Status.HELD, body=b, language="vi")
        for b in INSULTS[:3]
    ]
    session.commit()
    response = client.post(
        "/v1/moderation/decisions",
        json={
            "action": "reject",
            "reason": "harassment",
            "items": [{"comment_id": str(c.id), "version": c.version} for c in comments],
        },
        headers=auth(token),
    )
    assert response.status_code == 200
    count = session.scalar(
        sa.select(sa.func.count()).where(
            ToxicityLabel.is_toxic, ToxicityLabel.reason == "harassment"
        )
    )
    assert count == 3


def test_a_rolled_back_decision_leaves_no_label(session: Session) -> None:
    from service.moderation.services import moderate

    comment = make_comment(
        session, make_article(session), status=Status.HELD, body=INSULTS[0], language="vi"
    )
    session.commit()
    moderate(session, comment, action="reject", version=comment.version, actor="t", reason="toxic")
    session.flush()
    assert session.scalar(sa.select(sa.func.count()).select_from(ToxicityLabel)) == 1
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(ToxicityLabel)) == 0


def test_workers_replay_vietnamese_labels_once_and_in_order(session: Session) -> None:
    worker = LearningVietnameseToxicity(refresh_s=0)
    assert worker.current(session).labels_learned == 0
    for toxic, clean in zip(INSULTS, CLEAN, strict=True):
        session.add(ToxicityLabel(language="vi", text=toxic, is_toxic=True, source="t"))
        session.add(ToxicityLabel(language="vi", text=clean, is_toxic=False, source="t"))
    session.add(ToxicityLabel(language="xx", text=CLEAN[0], is_toxic=True, source="t"))
    session.commit()
    learner = worker.current(session)
    assert learner.counts == [5, 5]  # the other language's row is not this learner's
    once = learner.probability(UNACCENTED_INSULT)
    assert worker.current(session).probability(UNACCENTED_INSULT) == once
    assert worker.current(session).labels_learned == 10
    # the same steps in the same order as a learner taught directly
    assert once == taught().probability(UNACCENTED_INSULT)


def test_labels_wait_for_the_refresh_interval(session: Session) -> None:
    worker = LearningVietnameseToxicity(refresh_s=3600)
    worker.current(session)
    session.add(ToxicityLabel(language="vi", text=INSULTS[0], is_toxic=True, source="t"))
    session.commit()
    assert worker.current(session).labels_learned == 0
    worker.refresh_s = 0
    assert worker.current(session).labels_learned == 1


# --- a second process -----------------------------------------------------------------

# A worker-like process: its own settings from the environment, its own engine, and the
# learner a toxicity worker holds, asked about one text every 0.1 s.
WORKER = """
import json, sys, time
from config import Settings
from service.db import Database
from workers.toxicity.vi_learning import LearningVietnameseToxicity

settings = Settings.from_env()
db = Database(settings.sqlalchemy_url)
learner = LearningVietnameseToxicity(settings.vi_labels_refresh_s)
while True:
    with db.session() as session:
        model = learner.current(session)
    reading = {"p": model.probability(sys.argv[1]), "labels": model.labels_learned}
    print(json.dumps(reading), flush=True)
    time.sleep(0.1)
"""


@pytest.fixture(params=["postgresql", "sqlite"])
def committed_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own, where commits are real (other processes see them)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/vi.sqlite3"
        upgrade(url)
        yield url
    else:
        with migrated_pg_database("moderation_vi") as url:
            yield url


def test_a_label_is_picked_up_by_another_worker_process_within_the_refresh_interval(
    committed_url: str, redis_url: str, redis_db: redis.Redis
) -> None:
    refresh_s = 1.0
    app = create_app(make_settings(committed_url, redis_url))
    db = app.extensions["db"]
    with db.session() as session:
        token = create_token(session, "mod-vi-proc", "moderator")
        article = make_article(session)
        insults = [
            make_comment(session, article, status=Status.HELD, body=b, language="vi")
            for b in INSULTS
        ]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "MODERATION_DATABASE_URL": committed_url,
        "MODERATION_VI_LABELS_REFRESH_S": str(refresh_s),
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, UNACCENTED_INSULT],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    readings: queue.Queue[dict[str, Any]] = queue.Queue()

    def read() -> None:
        assert worker.stdout is not None
        for line in worker.stdout:
            readings.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    try:
        try:
            first = readings.get(timeout=60)  # the process is up and has read the table
        except queue.Empty:
            worker.kill()
            pytest.fail(f"the worker process did not start: {worker.communicate()[1]}")
        assert first == {"p": 0.5, "labels": 0}

        client = app.test_client()
        for comment in insults:
            response = client.post(
                f"/v1/moderation/comments/{comment.id}/decision",
                json={"action": "reject", "reason": "toxic", "version": comment.version},
                headers=auth(token),
            )
            assert response.status_code == 200
        decided = time.monotonic()

        while True:
            reading = readings.get(timeout=refresh_s + 10)
            if reading["labels"]:
                break
        waited = time.monotonic() - decided
        assert reading["labels"] == len(INSULTS)
        assert reading["p"] > 0.5  # the other process's learner now calls it toxic
        # within the refresh interval, plus the 0.1 s between readings and a slow machine
        assert waited < refresh_s + 1.5, waited
    finally:
        worker.kill()
        worker.wait()
        db.dispose()


def test_0009_adds_and_removes_the_labels_table(committed_url: str) -> None:
    engine = sa.create_engine(committed_url)
    try:
        assert "toxicity_labels" in sa.inspect(engine).get_table_names()
        command.downgrade(alembic_config(committed_url), "0008")
        assert "toxicity_labels" not in sa.inspect(engine).get_table_names()
        upgrade(committed_url)
        assert "toxicity_labels" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
