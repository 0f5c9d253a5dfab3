"""The previous spam classifier (naive Bayes over hashed character n-grams), for comparison.

It was the shipped model until ``lr-hash-2.0`` replaced it (docs/spam-classifier.md
compares the two in the same run). Kept here, in training only, so that every retrain
re-measures it on the same held-out data, exactly as it was trained: multinomial naive
Bayes over hashed character 1- to 5-grams of three YouTube videos, the SMS set
(weighted per class) and 3,000 Jigsaw talk-page comments as ham (0.1x the YouTube ham);
``P(spam) = sigmoid(temperature * LLR / sqrt(n_known) + bias)`` with the temperature
fitted on inner held-out videos and the bias pinned to the training prior. Retrained
from the same data it reproduces the artifact that was shipped, count for count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training.spam_data import DISCUSSION_TRAIN, VIDEOS, Corpus, Example, fold_of
from workers.spam.classifier import hashed_features, logit, sigmoid

HYPERPARAMETERS = {"bits": 18, "min_n": 1, "max_n": 5, "alpha": 0.5, "min_count": 2}
#: Per class, the SMS messages together weigh this much relative to the comments.
SMS_SHARE = 1.0
#: The discussion texts together weigh this much relative to the YouTube ham comments.
DISCUSSION_SHARE = 0.1


class NaiveBayes:
    """Calibrated naive Bayes over hashed character n-grams (each counted once per text)."""

    def __init__(self, spam: np.ndarray, ham: np.ndarray, calibration: dict[str, float]):
        self.calibration = calibration
        alpha = HYPERPARAMETERS["alpha"]
        self.known = (spam > 0) | (ham > 0)
        self.ratio = np.where(self.known, np.log(spam + alpha) - np.log(ham + alpha), 0.0)
        smoothing = alpha * len(spam)
        self.total_term = math.log(ham.sum() + smoothing) - math.log(spam.sum() + smoothing)
        self.spam, self.ham = spam, ham

    @staticmethod
    def buckets(text: str) -> np.ndarray:
        hp = HYPERPARAMETERS
        return hashed_features(text, hp["bits"], (hp["min_n"], hp["max_n"]), (0, 0))

    @classmethod
    def train(
        cls, examples: Sequence[tuple[str, bool, float]], calibration: dict[str, float]
    ) -> NaiveBayes:
        size = 1 << HYPERPARAMETERS["bits"]
        tables, seen = [], np.zeros(size)
        for label in (True, False):
            rows = [(cls.buckets(t), w) for t, y, w in examples if y == label]
            idx = np.concatenate([b for b, _ in rows] or [np.empty(0, np.int64)])
            w = np.concatenate([np.full(len(b), w) for b, w in rows] or [np.empty(0)])
            tables.append(np.bincount(idx, weights=w, minlength=size))
            seen += np.bincount(idx, minlength=size)
        spam, ham = (t.astype(np.float32).astype(np.float64) for t in tables)
        rare = seen < HYPERPARAMETERS["min_count"]
        spam[rare] = 0.0
        ham[rare] = 0.0
        return cls(spam, ham, calibration)

    def evidence(self, text: str) -> tuple[float, int]:
        """The NB log-likelihood ratio over known n-grams, and how many were known."""
        buckets = self.buckets(text)
        known = buckets[self.known[buckets]]
        return float(self.ratio[known].sum()) + len(known) * self.total_term, len(known)

    def log_odds(self, text: str) -> float:
        llr, n = self.evidence(text)
        scaled = llr / math.sqrt(n) if n else 0.0
        return self.calibration["temperature"] * scaled + self.calibration["bias"]

    def probability(self, text: str) -> float:
        return sigmoid(self.log_odds(text))


def training_set(corpus: Corpus, held_out: Sequence[str]) -> list[tuple[str, bool, float]]:
    """The previous model's training texts without the ``held_out`` videos and folds."""
    comments = [ex for v, rows in corpus.videos.items() if v not in held_out for ex in rows]
    examples: list[tuple[str, bool, float]] = [(t, y, 1.0) for t, y in comments]
    for cls in (True, False):
        sms_cls = [t for t, y in corpus.sms if y == cls]
        n_cls = sum(1 for _, y in comments if y == cls)
        examples += [(t, cls, SMS_SHARE * n_cls / len(sms_cls)) for t in sms_cls]
    discussion = [
        text
        for name in DISCUSSION_TRAIN
        for i, text in enumerate(corpus.previous_discussion.get(name, ()))
        if fold_of(i) not in held_out
    ]
    if discussion:
        weight = DISCUSSION_SHARE * sum(1 for _, y in comments if not y) / len(discussion)
        examples += [(t, False, weight) for t in discussion]
    return examples


def pinned_bias(examples: Sequence[tuple[str, bool, float]]) -> float:
    """logit of the spam share of the training texts, each counted once."""
    return logit(sum(1 for _, y, _ in examples if y) / len(examples))


def fit_temperature(
    evidence: Sequence[tuple[float, int]], labels: np.ndarray, bias: float
) -> dict[str, float]:
    """Platt scaling of ``LLR / sqrt(n)`` with Platt's smoothed targets and a pinned bias."""
    x = np.array([llr / math.sqrt(n) if n else 0.0 for llr, n in evidence])
    y = np.asarray(labels, dtype=np.float64)
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    t = np.where(y > 0.5, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(w: float) -> float:
        return float(np.sum(np.logaddexp(0.0, w * x + bias) - t * (w * x + bias)))

    w = 1.0 / max(float(np.std(x)), 1e-6)
    for _ in range(200):  # Newton's method on one parameter, backtracking
        p = 1.0 / (1.0 + np.exp(-np.clip(w * x + bias, -35.0, 35.0)))
        step = float(np.dot(x, p - t)) / (float(np.dot(x * x, p * (1 - p))) + 1e-12)
        scale = 1.0
        while scale > 1e-8 and loss(w - scale * step) > loss(w):
            scale *= 0.5
        w -= scale * step
        if abs(scale * step) < 1e-10:
            break
    return {"temperature": w, "bias": bias}


@dataclass
class Rotation:
    """One held-out video scored by the previous model's rotation model."""

    video: str
    model: NaiveBayes
    evidence: list[tuple[float, int]]
    labels: np.ndarray


def rotations(corpus: Corpus) -> list[Rotation]:
    """Leave-one-video-out, the temperature fitted on inner held-out videos (as shipped)."""
    result = []
    for test in VIDEOS:
        inner_evidence: list[tuple[float, int]] = []
        inner_labels: list[np.ndarray] = []
        for inner in (v for v in VIDEOS if v != test):
            inner_model = NaiveBayes.train(training_set(corpus, (test, inner)), {})
            inner_evidence += [inner_model.evidence(t) for t, _ in corpus.videos[inner]]
            inner_labels.append(_labels(corpus.videos[inner]))
        train = training_set(corpus, (test,))
        calibration = fit_temperature(
            inner_evidence, np.concatenate(inner_labels), pinned_bias(train)
        )
        model = NaiveBayes.train(train, calibration)
        evidence = [model.evidence(t) for t, _ in corpus.videos[test]]
        result.append(Rotation(test, model, evidence, _labels(corpus.videos[test])))
    return result


def fit_final(corpus: Corpus, rot: Sequence[Rotation]) -> NaiveBayes:
    """Train on everything; temperature from the pooled rotation evidence, bias pinned."""
    everything = training_set(corpus, ())
    calibration = fit_temperature(
        [e for r in rot for e in r.evidence],
        np.concatenate([r.labels for r in rot]),
        pinned_bias(everything),
    )
    return NaiveBayes.train(everything, calibration)


def _labels(examples: Sequence[Example]) -> np.ndarray:
    return np.array([y for _, y in examples], dtype=bool)
