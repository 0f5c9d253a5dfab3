"""A Vietnamese toxicity learner that learns online from moderators, and its blend with the model.

Why: no Vietnamese toxicity data with a usable licence exists, so the multilingual
model's score for Vietnamese is cross-lingual and poorly calibrated. The site's own
moderators are the training data: every decision on a Vietnamese comment is a row in
``toxicity_labels`` (``service.moderation.services``), approval "not toxic", rejection
for ``toxic`` / ``harassment`` / ``hate`` "toxic".

The learner is a logistic regression over hashed character 2- to 5-grams of the
text's syllables (Vietnamese writes one syllable per space-separated token, so the
n-grams see whole syllables and the joins between them: ``" ngu "``, ``"đồ ng"``),
taken twice, as written and with the diacritics stripped, so that ``do ngu`` typed
without accents shares most features with ``đồ ngu``. Chat spellings are folded first:
``d!t`` -> ``dit``, ``l0n`` -> ``lon``, ``nguuuu`` -> ``ngu``; ``đ.m`` becomes the
syllables ``đ m``, whose n-gram ``" đ m "`` is a feature of its own.

It starts from zero weights (probability 0.5 for everything) and every label is one
SGD step (:func:`workers.online.sgd_step`), replayed in id order in every worker process
(:class:`LearningVietnameseToxicity`), the way the spam classifier learns. There is no
artifact: a process that starts replays every label, which also means a change of the
features here needs no migration of stored weights.

:func:`combine` blends the learner with the model's toxicity score once the learner
has ``min_per_class`` labels of each class. docs/vi-learning.md has the learning curve
on generated data.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from service.comments.text import strip_diacritics
from service.db import Session
from service.moderation.models import ToxicityLabel
from workers.online import (
    LabelReplayer,
    buckets_of,
    char_ngram_hashes,
    linear_log_odds,
    logit,
    replay,
    sgd_step,
    sigmoid,
)
from workers.spam.classifier import normalize

__all__ = [
    "LearningVietnameseToxicity",
    "ToxicityLearner",
    "blend",
    "blend_weight",
    "combine",
    "strip_diacritics",
    "syllables",
]

LANGUAGE = "vi"
FAMILY = "vi-char-lr-1"

# Chat spellings: a symbol or digit standing for a letter between two letters
# ("d!t", "l0n", "c@m"). Only between letters, so "hay quá!" and "2024" are left alone.
_LEET = {"!": "i", "1": "i", "|": "i", "0": "o", "@": "a", "3": "e", "$": "s", "4": "a"}
_LEET_RE = re.compile(r"(?<=[^\W\d_])[!1|0@3$4](?=[^\W\d_])")
# "nguuuu", "đmmm": no Vietnamese word has a letter three times in a row.
_REPEAT_RE = re.compile(r"([^\W\d_])\1{2,}")
_SYLLABLE_RE = re.compile(r"[^\W_]+")


def syllables(text: str) -> list[str]:
    """The text's syllables (its words), lower-cased, with chat spellings folded."""
    text = unicodedata.normalize("NFC", text).lower()
    text = _LEET_RE.sub(lambda m: _LEET[m.group(0)], text)
    text = _REPEAT_RE.sub(r"\1", text)
    # the spam classifier's normalisation: invisible characters, URLs, digits
    return _SYLLABLE_RE.findall(normalize(text))


def vi_features(text: str, bits: int, char_ngrams: tuple[int, int]) -> np.ndarray:
    """The sorted, distinct buckets of the text's character n-grams, accented and stripped."""
    written = " ".join(syllables(text))
    if not written:
        return np.empty(0, dtype=np.int64)
    parts = char_ngram_hashes(f" {written} ", *char_ngrams)
    stripped = strip_diacritics(written)
    if stripped != written:
        # The same hashes as unaccented text's own n-grams, so the two meet in one bucket.
        parts += char_ngram_hashes(f" {stripped} ", *char_ngrams)
    return buckets_of(parts, bits)


@dataclass
class ToxicityLearner:
    """P(toxic) = sigmoid(weights . features(text)), learning one label at a time."""

    bits: int = 20
    char_ngrams: tuple[int, int] = (2, 5)
    #: one label moves its own text's log-odds by ``learning_rate * (label - p)`` and a
    #: similar text's by that times their cosine similarity (unit-length features)
    learning_rate: float = 2.0
    #: fixed: moderators label what the pipeline held, not a sample of the site's
    #: traffic, so the class balance of the labels says nothing about new comments
    bias: float = 0.0
    weights: np.ndarray = field(init=False, repr=False)
    #: labels learned per class: [not toxic, toxic]
    counts: list[int] = field(default_factory=lambda: [0, 0])

    def __post_init__(self) -> None:
        self.weights = np.zeros(1 << self.bits)

    @property
    def labels_learned(self) -> int:
        return self.counts[0] + self.counts[1]

    @property
    def version(self) -> str:
        return f"{FAMILY}+{self.labels_learned}labels"

    def features(self, text: str) -> np.ndarray:
        return vi_features(text, self.bits, self.char_ngrams)

    def log_odds(self, text: str) -> float:
        return linear_log_odds(self.weights, self.features(text), self.bias)

    def probability(self, text: str) -> float:
        """P(toxic) in [0, 1]; 0.5 until labels have taught it anything about the text."""
        return sigmoid(self.log_odds(text))

    def probabilities(self, texts: list[str]) -> list[float]:
        return [self.probability(t) for t in texts]

    def learn(self, text: str, is_toxic: bool) -> None:
        """One SGD step on the logistic loss of this label (a moderator's decision)."""
        sgd_step(self.weights, self.features(text), self.bias, is_toxic, self.learning_rate)
        self.counts[int(is_toxic)] += 1


def blend_weight(counts: list[int], min_per_class: int, max_weight: float) -> float:
    """The learner's weight: 0 below ``min_per_class`` labels of either class, then growing.

    With ``n`` the smaller class's count and ``m`` = ``min_per_class``, the weight is
    ``max_weight * (1 - (m - 1) / n)``: small at ``n = m`` (so the score does not jump
    when the m-th label arrives), about half the cap at ``n = 2m`` and 90% at ``n = 10m``.
    """
    n = min(counts)
    if n < min_per_class or n == 0:
        return 0.0
    return max_weight * (1.0 - (min_per_class - 1) / n)


def blend(model_toxicity: float, learner_probability: float, weight: float) -> float:
    """The weighted average of the two in log-odds; ``weight`` 0 gives the model's score."""
    if weight <= 0:
        return model_toxicity
    z = (1.0 - weight) * logit(model_toxicity) + weight * logit(learner_probability)
    return sigmoid(z)


def combine(
    learner: ToxicityLearner,
    model_toxicity: float,
    text: str,
    *,
    min_per_class: int = 25,
    max_weight: float = 0.5,
) -> tuple[float, dict[str, Any]]:
    """The toxicity score of a Vietnamese comment, and what went into it (for its signals).

    Returns the model's score unchanged until the learner has ``min_per_class`` labels
    of each class, then :func:`blend` of the two with :func:`blend_weight`. Pure: the
    learner is only read. ``blend(info["model_toxicity"], info["probability"],
    info["weight"])`` re-derives the score from the stored signals.

    In the toxicity stage, with the process's :class:`LearningVietnameseToxicity`
    (one per process, like the spam model)::

        learner = pipeline.vi_learner.current(session)   # applies new labels, at most
        score, info = combine(                            # every VI_LABELS_REFRESH_S
            learner,
            scores["toxicity"],
            comment.body,
            min_per_class=settings.vi_labels_min_per_class,
            max_weight=settings.vi_labels_max_weight,
        )
        signals["vi_learner"] = info
    """
    probability = learner.probability(text)
    weight = blend_weight(learner.counts, min_per_class, max_weight)
    score = blend(model_toxicity, probability, weight)
    info = {
        "version": learner.version,
        "labels": {"not_toxic": learner.counts[0], "toxic": learner.counts[1]},
        "min_per_class": min_per_class,
        "probability": probability,
        "weight": weight,
        "model_toxicity": model_toxicity,
        "toxicity": score,
    }
    return score, info


def _apply(learner: ToxicityLearner, session: Session, after_id: int) -> tuple[int, int]:
    """Learn the Vietnamese labels with id > ``after_id``; (the last id applied, how many)."""
    return replay(
        session,
        ToxicityLabel.id,
        lambda last: sa.select(ToxicityLabel.id, ToxicityLabel.text, ToxicityLabel.is_toxic).where(
            ToxicityLabel.language == LANGUAGE, ToxicityLabel.id > last
        ),
        lambda row: learner.learn(row.text, row.is_toxic),
        after_id,
    )


class LearningVietnameseToxicity(LabelReplayer[ToxicityLearner]):
    """A process's Vietnamese learner, kept up to date with the moderators' labels.

    Every process starts from zero weights and replays every label once, then the new
    ones at most every ``refresh_s`` (``VI_LABELS_REFRESH_S``). A reversed decision is a
    later row with the opposite label: a later step, which moves the model last; the
    earlier row stays and still counts toward ``counts``.
    """

    name = "Vietnamese toxicity learner"

    def __init__(self, refresh_s: float = 5.0, learner: ToxicityLearner | None = None) -> None:
        super().__init__(learner or ToxicityLearner(), 0, refresh_s)

    def apply(self, session: Session, after_id: int) -> tuple[int, int]:
        """Learn the Vietnamese labels with id > ``after_id``; (the last id applied, how many)."""
        return _apply(self.model, session, after_id)
