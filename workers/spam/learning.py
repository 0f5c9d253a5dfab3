"""The spam classifier learning from moderators, the same way in every worker process.

Moderators' decisions are rows in ``spam_labels`` (only ever added). Each worker
process starts from the packaged (or retrained) model and replays the rows it has not
seen, in id order, at most every ``SPAM_LABELS_REFRESH_S``. Each label is one SGD step
(``SpamClassifier.learn``); :class:`workers.online.LabelReplayer` says why every process
reaches the same model, and what a label committed out of id order costs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import sqlalchemy as sa

from service.db import Session
from service.moderation.models import SpamLabel
from workers.online import LabelReplayer, replay
from workers.spam.classifier import ARTIFACT_NAME, SpamClassifier

log = logging.getLogger(__name__)

#: written next to a retrained model: the last label id folded into it
LABELS_FILE = "labels.json"


def load_base(model_dir: str | None) -> tuple[SpamClassifier, int]:
    """The starting model and the id of the last label already in it."""
    if not model_dir:
        return SpamClassifier.load(), 0
    if not (Path(model_dir) / ARTIFACT_NAME).exists():
        # A folder retrained from an earlier model family (its artifact has another
        # name): start from the packaged model and replay every label into it instead.
        log.warning(
            "%s has no %s (retrained from an older spam model?): using the packaged model "
            "and replaying all labels; run `moderation retrain-spam` again",
            model_dir,
            ARTIFACT_NAME,
        )
        return SpamClassifier.load(), 0
    marker = Path(model_dir) / LABELS_FILE
    through = json.loads(marker.read_text())["through_label_id"] if marker.exists() else 0
    return SpamClassifier.load(model_dir), int(through)


def _apply(model: SpamClassifier, session: Session, after_id: int) -> tuple[int, int]:
    """Learn labels with id > ``after_id``; return (the last id applied, how many)."""
    return replay(
        session,
        SpamLabel.id,
        lambda last: sa.select(
            SpamLabel.id, SpamLabel.body, SpamLabel.is_spam, SpamLabel.weight
        ).where(SpamLabel.id > last),
        lambda row: model.learn(row.body, row.is_spam, row.weight),
        after_id,
    )


class LearningSpamClassifier(LabelReplayer[SpamClassifier]):
    """A process's spam model, kept up to date with the moderators' labels."""

    name = "spam model"

    def __init__(self, model_dir: str | None = None, refresh_s: float = 10.0) -> None:
        super().__init__(*load_base(model_dir), refresh_s)

    def apply(self, session: Session, after_id: int) -> tuple[int, int]:
        """Learn the spam labels with id > ``after_id``; (the last id applied, how many)."""
        return _apply(self.model, session, after_id)


def retrain(session: Session, model_dir: str | None, out: str | Path) -> tuple[Path, int]:
    """Fold every label into the model and save it to ``out``; (path, labels applied)."""
    model, through = load_base(model_dir)
    last, learned = _apply(model, session, through)
    path = model.save(out)
    (Path(out) / LABELS_FILE).write_text(json.dumps({"through_label_id": last}))
    return path, learned
