"""The pipeline's stages called as functions (real database and Redis, a fake scorer).

The real Detoxify path and real workers are in test_pipeline_integration.py.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from service.comments.models import Comment, Status
from service.db import Session
from service.dispatch import SCORE_TOXICITY
from service.moderation.models import AuditEntry, ToxicityLabel
from service.policy.models import AuthorStanding, WordRule
from service.policy.services import WordListCache
from tests.factories import make_article, make_comment
from tests.helpers import queued
from workers.pipeline.decision import decide
from workers.pipeline.stages import Pipeline, policy_input, run_cheap_stages, score_and_decide
from workers.toxicity.scorer import KeywordScorer, ScorerUnavailable
from workers.toxicity.vi_learning import blend


@pytest.fixture
def pipeline(app: Flask, redis_db: redis.Redis) -> Pipeline:
    p = Pipeline(app.config["SETTINGS"], app.extensions["redis"], app.extensions["dispatcher"])
    p.words = WordListCache(check_every_s=0)  # type: ignore[misc] # rules change within tests
    return p


def submit(session: Session, body: str, article: Any = None, **fields: Any) -> Comment:
    article = article or make_article(session)
    comment = make_comment(session, article, status=Status.PENDING, body=body, **fields)
    session.commit()
    return comment


def audit(session: Session, comment: Comment) -> list[AuditEntry]:
    return list(session.scalars(sa.select(AuditEntry).where(AuditEntry.comment_id == comment.id)))


def score(
    session: Session,
    pipeline: Pipeline,
    comment_id: Any,
    get_scorer: Any,
    token: str = "",
    get_vi_scorer: Any = None,
) -> dict[str, str]:
    """What one ``score_toxicity`` task does for ``comment_id`` (its id the claim's token)."""
    return score_and_decide(
        session,
        pipeline,
        str(comment_id),
        get_scorer,
        session.commit,
        token=token or f"task-{uuid.uuid4()}",
        lease=timedelta(seconds=pipeline.settings.toxicity_lease_s),
        get_vi_scorer=get_vi_scorer,
    )


def run(
    session: Session,
    pipeline: Pipeline,
    comment: Comment,
    scorer: Any = None,
    vi_scorer: Any = None,
) -> str:
    """Both stages, as the two queues would run them; returns the final status."""
    first = run_cheap_stages(session, pipeline, comment.id)
    session.commit()
    if first == "sent_to_toxicity":
        scorer = scorer or KeywordScorer()
        get_vi = (lambda: vi_scorer) if vi_scorer is not None else None
        score(session, pipeline, comment.id, lambda: scorer, get_vi_scorer=get_vi)
    session.expire_all()
    return session.get(Comment, comment.id).status


def rules(comment: Comment) -> list[str]:
    return [r["rule"] for r in comment.reasons]


def test_clean_english_comment_is_scored_and_approved(
    session: Session, pipeline: Pipeline, redis_db: redis.Redis
) -> None:
    comment = submit(session, "A thoughtful analysis of the budget, thank you for writing it.")
    assert run_cheap_stages(session, pipeline, comment.id) == "sent_to_toxicity"
    session.commit()
    [task] = queued(redis_db, "toxicity")
    assert (task.name, task.args) == (SCORE_TOXICITY, [str(comment.id)])

    scorer = KeywordScorer()
    outcome = score(session, pipeline, comment.id, lambda: scorer)
    assert outcome == {str(comment.id): "approved"}
    session.expire_all()
    stored = session.get(Comment, comment.id)
    assert stored.status == Status.APPROVED
    assert stored.scores["toxicity"] == pytest.approx(0.01)
    assert stored.scored_by == {"name": "keyword-fake", "version": "1"}
    assert stored.signals["language"]["code"] == "en"
    assert 0 <= stored.spam_score < 0.5
    assert rules(stored) == ["below_thresholds"]
    assert stored.decided_by == "system:pipeline" and stored.decided_at is not None
    [entry] = audit(session, stored)
    assert (entry.from_status, entry.to_status, entry.actor) == (
        "pending",
        "approved",
        "system:pipeline",
    )
    assert entry.details["reasons"] == stored.reasons


def test_toxic_comment_is_rejected_with_label_score_threshold_and_model(
    session: Session, pipeline: Pipeline
) -> None:
    comment = submit(session, "You are an idiot and so is everyone who agrees with you.")
    assert run(session, pipeline, comment) == Status.REJECTED
    stored = session.get(Comment, comment.id)
    insult = next(r for r in stored.reasons if r.get("label") == "insult")
    assert insult == {
        "rule": "toxicity",
        "effect": "rejected",
        "label": "insult",
        "score": 0.93,
        "threshold": pipeline.settings.toxicity_bands["insult"][1],
        "model": "keyword-fake@1",
    }


class VietnameseKeywords(KeywordScorer):
    name = "vi-keyword-fake"


def test_vietnamese_is_scored_by_the_vietnamese_model_with_its_bands(
    session: Session, pipeline: Pipeline, redis_db: redis.Redis
) -> None:
    english = KeywordScorer()
    vietnamese = VietnameseKeywords({"ngu": {"toxicity": 0.97, "insult": 0.97}}, ("vi",))
    clean = submit(session, "Bài viết hay quá, cảm ơn tác giả!")
    toxic = submit(session, "Đồ ngu, bài viết như rác")
    assert run(session, pipeline, clean, english, vietnamese) == Status.APPROVED
    assert run(session, pipeline, toxic, english, vietnamese) != Status.APPROVED
    stored = session.get(Comment, toxic.id)
    assert stored.language == "vi"
    assert stored.scored_by == {"name": "vi-keyword-fake", "version": "1"}
    [reason] = [r for r in stored.reasons if r["rule"] == "toxicity" and r["label"] == "insult"]
    # decided with the Vietnamese bands, not the English ones
    band = pipeline.settings.toxicity_bands_vi["insult"]
    assert reason["threshold"] in band and reason["model"] == "vi-keyword-fake@1"
    assert english.calls == []  # the English model never saw Vietnamese
    assert vietnamese.calls == [["Bài viết hay quá, cảm ơn tác giả!"], ["Đồ ngu, bài viết như rác"]]


def test_vietnamese_is_held_unscored_without_a_vietnamese_model(
    session: Session, pipeline: Pipeline, redis_db: redis.Redis
) -> None:
    pipeline.settings = dataclasses.replace(pipeline.settings, toxicity_model_vi="")
    scorer = KeywordScorer()
    comment = submit(session, "Bài viết hay quá, cảm ơn tác giả!")
    assert run(session, pipeline, comment, scorer) == Status.HELD
    stored = session.get(Comment, comment.id)
    assert rules(stored) == ["language_unsupported"]
    assert stored.reasons[0]["language"] == "vi"
    assert stored.language == "vi" and stored.scores is None
    assert scorer.calls == [] and queued(redis_db, "toxicity") == []


def test_vietnamese_already_waiting_is_never_given_to_the_english_model(
    session: Session, pipeline: Pipeline
) -> None:
    """Routed while a Vietnamese model was configured, scored by a worker without one."""
    scorer = KeywordScorer()
    comment = submit(session, "Bài viết hay quá, cảm ơn tác giả!")
    assert run_cheap_stages(session, pipeline, comment.id) == "sent_to_toxicity"
    session.commit()
    score(session, pipeline, comment.id, lambda: scorer)
    session.expire_all()
    stored = session.get(Comment, comment.id)
    assert stored.status == Status.HELD and rules(stored) == ["language_unsupported"]
    assert scorer.calls == []


def test_link_spam_is_caught_by_signals(session: Session, pipeline: Pipeline) -> None:
    comment = submit(
        session,
        "Make money from home!! Visit http://bit.ly/easy-cash and http://cash-now.xyz "
        "or WhatsApp +84 912 345 678 today",
    )
    assert run(session, pipeline, comment) == Status.REJECTED
    stored = session.get(Comment, comment.id)
    [spam] = [r for r in stored.reasons if r["rule"] == "spam"]
    assert spam["score"] >= pipeline.settings.spam_band[1]
    assert {"links", "shorteners", "contact_details"} <= set(spam["signals"])
    assert stored.scores is None  # the pipeline stopped before toxicity


def test_banned_author_and_banned_words_stop_first(session: Session, pipeline: Pipeline) -> None:
    session.add(AuthorStanding(author_id="troll", standing="banned"))
    session.add(WordRule(phrase="địt", kind="banned"))
    session.commit()
    banned = submit(session, "Anything at all", author_id="troll")
    assert run(session, pipeline, banned) == Status.REJECTED
    assert rules(session.get(Comment, banned.id)) == ["author_banned"]
    worded = submit(session, "dit me may")  # unaccented evasion of a banned word
    assert run(session, pipeline, worded) == Status.REJECTED
    stored = session.get(Comment, worded.id)
    assert stored.reasons[0] == {"rule": "banned_word", "effect": "rejected", "words": ["địt"]}


def test_suspect_word_and_always_review_hold_after_scoring(
    session: Session, pipeline: Pipeline
) -> None:
    session.add(WordRule(phrase="scam", kind="suspect"))
    session.add(AuthorStanding(author_id="watched", standing="always_review"))
    session.commit()
    c1 = submit(session, "This offer looks like a scam to me, be careful everyone.")
    assert run(session, pipeline, c1) == Status.HELD
    assert rules(session.get(Comment, c1.id)) == ["suspect_word"]
    c2 = submit(session, "I fully agree with the points made in this article.", author_id="watched")
    assert run(session, pipeline, c2) == Status.HELD
    stored = session.get(Comment, c2.id)
    assert rules(stored) == ["author_always_review"]
    assert stored.scores is not None


def test_pre_moderated_article_holds_everything_with_scores(
    session: Session, pipeline: Pipeline
) -> None:
    article = make_article(session, moderation_mode="pre")
    comment = submit(session, "A calm and clean comment about this sensitive story.", article)
    assert run(session, pipeline, comment) == Status.HELD
    stored = session.get(Comment, comment.id)
    assert rules(stored) == ["pre_moderation"]
    assert stored.scores is not None  # moderators see the scores


def test_article_closed_after_submission_rejects(session: Session, pipeline: Pipeline) -> None:
    article = make_article(session)
    comment = submit(session, "Posted just before the article was closed.", article)
    article.comments_open = False
    session.commit()
    assert run(session, pipeline, comment) == Status.REJECTED
    assert rules(session.get(Comment, comment.id)) == ["article_closed"]


def test_scorer_unavailable_holds_never_approves(session: Session, pipeline: Pipeline) -> None:
    comment = submit(session, "A perfectly fine comment about local elections this year.")
    run_cheap_stages(session, pipeline, comment.id)
    session.commit()

    def broken() -> KeywordScorer:
        raise ScorerUnavailable("checkpoint file not found: /models/x.ckpt")

    assert score(session, pipeline, comment.id, broken) == {str(comment.id): "held"}
    session.commit()
    session.expire_all()
    stored = session.get(Comment, comment.id)
    assert (stored.status, rules(stored)) == (Status.HELD, ["scorer_unavailable"])


def test_a_comment_is_decided_exactly_once(session: Session, pipeline: Pipeline) -> None:
    comment = submit(session, "Interesting point about the transport budget this year.")
    assert run(session, pipeline, comment) == Status.APPROVED
    # the same messages delivered again (redelivery, sweeper): nothing changes
    assert run_cheap_stages(session, pipeline, comment.id) == "already_decided"
    scorer = KeywordScorer()
    assert score(session, pipeline, comment.id, lambda: scorer) == {}
    assert scorer.calls == []
    assert len(audit(session, comment)) == 1


def test_repeatedly_failing_comment_is_held_as_scorer_failed(
    session: Session, pipeline: Pipeline, redis_db: redis.Redis
) -> None:
    comment = submit(session, "A comment whose batch keeps crashing the worker for some reason.")
    run_cheap_stages(session, pipeline, comment.id)
    session.commit()
    # claimed (and lost) as often as allowed: the next claim is one too many
    session.execute(
        sa.update(Comment)
        .where(Comment.id == comment.id)
        .values(toxicity_attempts=pipeline.settings.toxicity_max_attempts)
    )
    session.commit()
    scorer = KeywordScorer()
    assert score(session, pipeline, comment.id, lambda: scorer) == {
        str(comment.id): "scorer_failed"
    }
    session.commit()
    session.expire_all()
    assert rules(session.get(Comment, comment.id)) == ["scorer_failed"]
    assert scorer.calls == []


def test_stored_decision_is_rederivable_from_stored_inputs(
    session: Session, pipeline: Pipeline
) -> None:
    for body in [
        "You are an idiot.",
        "Thanks for the clear explanation of the new tax rules.",
        "Bài này viết sai rồi",
        "Free money http://bit.ly/x call 0912345678",
    ]:
        comment = submit(session, body)
        run(session, pipeline, comment)
        stored = session.get(Comment, comment.id)
        model = (
            f"{stored.scored_by['name']}@{stored.scored_by['version']}"
            if stored.scored_by
            else None
        )
        inp = policy_input(
            stored, stored.signals, "normal", toxicity=stored.scores, toxicity_model=model
        )
        again = decide(inp, pipeline.policy)
        assert again.status == stored.status, body
        if stored.scores is not None:
            assert again.reasons == stored.reasons, body


def test_missing_comment_is_harmless(session: Session, pipeline: Pipeline) -> None:
    assert run_cheap_stages(session, pipeline, uuid.uuid4()) == "missing"
    missing = uuid.uuid4()
    scorer = KeywordScorer()
    # a message for a comment that is gone (or was decided) is a no-op: nothing scored
    assert score(session, pipeline, missing, lambda: scorer) == {}
    assert scorer.calls == []
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


def test_vietnamese_word_lists_with_and_without_diacritics(
    session: Session, pipeline: Pipeline
) -> None:
    session.add(WordRule(phrase="đồ chó", kind="banned"))
    session.add(WordRule(phrase="ngu", kind="suspect"))
    session.commit()
    cases = {
        "Mày đúng là đồ chó": ("rejected", ["banned_word"]),
        "may dung la do cho": ("rejected", ["banned_word"]),  # diacritics dropped to evade
        "Bọn nó ngu thật, không hiểu gì cả": ("held", ["suspect_word", "language_unsupported"]),
        "this take is so ngu honestly": ("held", ["suspect_word"]),
        "Chờ một chút, đồ ăn sắp xong": ("held", ["language_unsupported"]),  # chờ is not chó
    }
    for body, (status, expected) in cases.items():
        comment = submit(session, body)
        assert run(session, pipeline, comment) == status, body
        got = [r["rule"] for r in session.get(Comment, comment.id).reasons]
        assert got == expected, (body, got)


def test_moderators_vietnamese_labels_move_the_vietnamese_score(
    session: Session, pipeline: Pipeline
) -> None:
    """Past VI_LABELS_MIN_PER_CLASS labels of each class, the learner is blended in."""
    pipeline.settings = dataclasses.replace(
        pipeline.settings, vi_labels_min_per_class=2, vi_labels_refresh_s=0
    )
    for text, toxic in [
        ("đồ ngu cút đi", True),
        ("ngu như bò, im đi", True),
        ("cảm ơn bài viết hay", False),
        ("bài viết rất hữu ích", False),
    ]:
        session.add(ToxicityLabel(language="vi", text=text, is_toxic=toxic, source="test"))
    session.commit()
    vietnamese = VietnameseKeywords({}, ("vi",))  # scores every text 0.01
    comment = submit(session, "Đồ ngu, cút đi cho nước nó trong")
    run(session, pipeline, comment, KeywordScorer(), vietnamese)
    stored = session.get(Comment, comment.id)
    info = stored.signals["vi_learner"]
    assert info["labels"] == {"not_toxic": 2, "toxic": 2}
    assert info["model_toxicity"] == pytest.approx(0.01)
    assert 0 < info["weight"] <= pipeline.settings.vi_labels_max_weight
    assert info["probability"] > 0.5  # it learned "ngu", "cút"
    # the stored score is the blend, and re-derives from the stored signals
    assert stored.scores["toxicity"] > 0.01
    assert stored.scores["toxicity"] == pytest.approx(
        blend(info["model_toxicity"], info["probability"], info["weight"]), abs=1e-5
    )
