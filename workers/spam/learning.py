"""The spam classifier learning from moderators, the same way in every worker process.

Moderators' decisions are rows in ``spam_labels`` (only ever added). Each worker
process starts from the packaged (or retrained) model and replays the rows it has not
seen, in id order, at most every ``SPAM_LABELS_REFRESH_S``. Each label is one SGD step
(``SpamClassifier.learn``); steps do not commute, but every process applies the same
steps in the same (id) order to the same starting weights, so every process reaches the
same model, bit for bit. A request that adds a label never waits for any of this.

Ids are assigned in commit order only roughly: a label committed late with a smaller id
than one already applied is skipped by the processes that are past it. Labels are rare
and each is one small step, so this is accepted rather than paid for with a lock.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import sqlalchemy as sa

from service.db import Session
from service.moderation.models import SpamLabel
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


def _apply(
    model: SpamClassifier, session: Session, after_id: int, limit: int = 5000
) -> tuple[int, int]:
    """Learn labels with id > ``after_id``; return (the last id applied, how many)."""
    last, count = after_id, 0
    while True:
        rows = session.execute(
            sa.select(SpamLabel.id, SpamLabel.body, SpamLabel.is_spam, SpamLabel.weight)
            .where(SpamLabel.id > last)
            .order_by(SpamLabel.id)
            .limit(limit)
        ).all()
        for row in rows:
            model.learn(row.body, row.is_spam, row.weight)
            last = row.id
        count += len(rows)
        if len(rows) < limit:
            return last, count


class LearningSpamClassifier:
    """A process's spam model, kept up to date with the moderators' labels."""

    def __init__(self, model_dir: str | None = None, refresh_s: float = 10.0) -> None:
        self.model, self.through = load_base(model_dir)
        self.refresh_s = refresh_s
        self._checked_at = float("-inf")

    def current(self, session: Session) -> SpamClassifier:
        """The model with every label up to a few seconds ago applied."""
        now = time.monotonic()
        if now - self._checked_at >= self.refresh_s:
            self.through, learned = _apply(self.model, session, self.through)
            self._checked_at = now
            if learned:
                log.info("spam model learned %d label(s), through id %d", learned, self.through)
        return self.model


def retrain(session: Session, model_dir: str | None, out: str | Path) -> tuple[Path, int]:
    """Fold every label into the model and save it to ``out``; (path, labels applied)."""
    model, through = load_base(model_dir)
    last, learned = _apply(model, session, through)
    path = model.save(out)
    (Path(out) / LABELS_FILE).write_text(json.dumps({"through_label_id": last}))
    return path, learned
