"""Moderators' spam/ham decisions teach every worker's spam model, without blocking requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from service.comments.models import Status
from service.db import Session
from service.moderation.auth import create_token
from service.moderation.models import SpamLabel
from tests.factories import make_article, make_comment
from workers.spam.learning import LearningSpamClassifier, load_base, retrain

SPAM = [
    "Nhận quà miễn phí, liên hệ ngay shop Hoa Mai để được tư vấn giảm giá sốc",
    "Shop Hoa Mai giảm giá sốc hôm nay, liên hệ ngay để nhận quà miễn phí",
    "Giảm giá sốc tại shop Hoa Mai, nhận quà miễn phí khi liên hệ ngay hôm nay",
]
SIMILAR = "Hôm nay shop Hoa Mai giảm giá sốc, liên hệ ngay nhận quà miễn phí nhé"


def test_spam_rejections_raise_the_score_of_a_similar_text(
    client: FlaskClient, session: Session
) -> None:
    worker = LearningSpamClassifier(refresh_s=0)  # another process, as it were
    before = worker.current(session).probability(SIMILAR)

    token = create_token(session, "mod-learning", "moderator")
    article = make_article(session)
    comments = [make_comment(session, article, status=Status.HELD, body=b) for b in SPAM]
    session.commit()
    for c in comments:
        response = client.post(
            f"/v1/moderation/comments/{c.id}/decision",
            json={"action": "reject", "reason": "spam", "version": c.version},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200

    after = worker.current(session).probability(SIMILAR)
    assert after > before + 0.2, (before, after)
    assert worker.current(session).probability("Bài viết phân tích rất kỹ, cảm ơn tác giả") < 0.5


def test_workers_apply_labels_only_once(session: Session) -> None:
    worker = LearningSpamClassifier(refresh_s=0)
    session.add(SpamLabel(body=SPAM[0], is_spam=True, source="test"))
    session.commit()
    once = worker.current(session).probability(SIMILAR)
    again = worker.current(session).probability(SIMILAR)
    assert once == again
    assert worker.model.labels_learned == 1


def test_retrain_folds_labels_in_and_is_picked_up(session: Session, tmp_path: Path) -> None:
    for body in SPAM:
        session.add(SpamLabel(body=body, is_spam=True, source="test"))
    session.commit()
    path, applied = retrain(session, None, tmp_path / "spam")
    assert applied == 3 and path.exists()
    model, through = load_base(str(tmp_path / "spam"))
    assert through > 0
    live = LearningSpamClassifier(refresh_s=0)
    assert model.probability(SIMILAR) == pytest.approx(live.current(session).probability(SIMILAR))
    # a worker started from the retrained model does not apply the same labels again
    restarted = LearningSpamClassifier(str(tmp_path / "spam"), refresh_s=0)
    assert restarted.current(session).probability(SIMILAR) == pytest.approx(
        model.probability(SIMILAR)
    )


def test_a_folder_from_an_older_model_family_falls_back_to_replaying_every_label(
    session: Session, tmp_path: Path
) -> None:
    session.add(SpamLabel(body=SPAM[0], is_spam=True, source="test"))
    session.commit()
    old = tmp_path / "spam"
    old.mkdir()
    (old / "spam-nb.npz").write_bytes(b"an artifact of the previous naive Bayes model")
    (old / "labels.json").write_text('{"through_label_id": 999999}')
    model, through = load_base(str(old))
    assert through == 0 and model.version == LearningSpamClassifier().model.version
    # so every label is replayed into the packaged model
    worker = LearningSpamClassifier(str(old), refresh_s=0)
    assert worker.current(session).labels_learned == 1
