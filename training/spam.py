"""Train, evaluate and package the spam classifier; writes the artifact and its report.

    make spam-model       # = python -m training.spam

Runs by hand, from the repository root, on a machine with ``../shared/data`` (never in
CI or ``make run``); commit what it writes::

    python -m training.spam [--data-dir ../shared/data] [--out workers/spam/model]
                            [--report docs/spam-classifier.md]

Evaluation is held out by video, never a random split (near-duplicate spam from one
video would leak across a random split): for each YouTube file, train on the other two
plus the SMS set (and two thirds of the discussion ham, below) and test on the held-out
video. The calibration used to score a held-out video is itself fitted on inner held-out
videos (the two training videos, each predicted by a model trained without it), so the
reported thresholds are honest. The packaged model is trained on everything, and its
temperature is fitted on the pooled out-of-video predictions of the three rotation models.

YouTube ham is almost all short song comments, so the model also trains on Wikipedia
talk-page comments from ``jigsaw-toxic-comment-sample`` as *discussion ham* (they are
labelled for toxicity, not spam: we assume they are ham). Each training discussion text
belongs to one of three folds, and a rotation holds a fold out together with its video,
so every training discussion text also gets an out-of-fold score: those scores choose
the discussion weight and the recommended ``spam_band``. Two files (``train.b.*``) are
never trained on, not even by the packaged model; they give the false-alarm rates in
the report, for the classifier alone and combined with the rule-based text signals
(``workers.spam.signals``).

The data and the probe texts are in ``training.spam_data``; the report is written by
``training.spam_card``. Metrics come from ``sklearn.metrics`` (the calibration error from
``sklearn.calibration.calibration_curve``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from training.spam_data import (
    DISCUSSION_DIR,
    DISCUSSION_TRAIN,
    ENGLISH_NEWS_HAM,
    OTHER_SPOT_CHECKS,
    SOURCES,
    VIDEOS,
    VIETNAMESE_HAM,
    Corpus,
    Example,
    data_files,
    fold_of,
    load_corpus,
)
from workers.spam.classifier import (
    DEFAULT_HYPERPARAMETERS,
    MODEL_FAMILY,
    PROVENANCE_NAME,
    SpamClassifier,
    logit,
    scaled_log_odds,
)
from workers.spam.signals import SpamConfig, combine, skeleton, text_signals

REPO_ROOT = Path(__file__).resolve().parent.parent

THRESHOLDS = (0.5, 0.9)
#: Thresholds of the false-alarm tables.
ALARM_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
#: Candidate edges for the recommended spam_band, and what it may cost discussion:
#: at most this share auto-rejected (>= high) and this share held (low <= p < high).
BAND_GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99)
MAX_REJECT = 0.002
MAX_HOLD = 0.03
# Per class, the SMS messages together weigh this much relative to the training comments
# of that class (see training_set). 1.0, equal mass from each medium, is the natural
# balance point; less SMS scores better on the YouTube rotations but flags several times
# more discussion comments (see the design-choice table in the report).
SMS_SHARE = 1.0
#: The training discussion texts together weigh this much relative to the training
#: YouTube ham comments (chosen on the out-of-fold scores; see the report).
DISCUSSION_SHARE = 0.1

# --- calibration ----------------------------------------------------------------------


def fit_calibration(
    llr: np.ndarray,
    n_known: np.ndarray,
    labels: np.ndarray,
    length_norm: str = "none",
    bias: float | None = None,
) -> dict[str, float]:
    """Fit ``sigmoid(temperature * x + bias)`` by minimum log-loss; ``bias`` given: pinned."""
    # Hand-written rather than sklearn's LogisticRegression: that takes neither Platt's
    # soft targets nor a fixed intercept, and this fit is what the shipped calibration is.
    pairs = zip(llr, n_known, strict=True)
    x = np.array([scaled_log_odds(float(v), int(n), length_norm) for v, n in pairs])
    y = np.asarray(labels, dtype=np.float64)
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    # Platt's smoothed targets keep the fit from going infinitely steep on separable data.
    t = np.where(y > 0.5, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    design = np.column_stack([x, np.ones(len(x)) if bias is None else np.zeros(len(x))])
    offset = 0.0 if bias is None else float(bias)
    # Start from a temperature that maps one standard deviation of log-odds to 1.
    w = np.array([1.0 / max(float(np.std(x)), 1e-6), 0.0])
    for _ in range(200):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w + offset, -35.0, 35.0)))
        grad = design.T @ (p - t)
        hess = (design * (p * (1.0 - p) + 1e-12)[:, None]).T @ design + np.eye(2) * 1e-8
        step = np.linalg.solve(hess, grad)
        # Backtrack so the loss never goes up (Newton can overshoot on flat tails).
        loss, scale = _soft_log_loss(design @ w + offset, t), 1.0
        while scale > 1e-8 and _soft_log_loss(design @ (w - scale * step) + offset, t) > loss:
            scale *= 0.5
        w = w - scale * step
        if np.max(np.abs(scale * step)) < 1e-10:
            break
    return {"temperature": float(w[0]), "bias": float(w[1]) + offset}


def _soft_log_loss(z: np.ndarray, t: np.ndarray) -> float:
    # sum of log(1 + e^z) - t*z over soft targets t, computed stably from the log-odds z.
    return float(np.sum(np.logaddexp(0.0, z) - t * z))


# --- metrics: sklearn's, spam the positive class --------------------------------------


@dataclass(frozen=True)
class Scores:
    """Precision/recall/F1 of the spam class at one threshold."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


def prf(probabilities: np.ndarray, labels: np.ndarray, threshold: float) -> Scores:
    """Precision, recall and F1 with spam as the positive class; ``p >= threshold`` is spam.

    No predicted spam at all: precision 1.0 (nothing wrongly rejected), not undefined.
    """
    predicted = probabilities >= threshold
    _, fp, fn, tp = confusion_matrix(labels, predicted, labels=[False, True]).ravel()
    # zero_division=1.0 is for precision; it would also make recall and F1 1.0 when the
    # labels hold no spam, which no held-out video does.
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predicted, average="binary", pos_label=True, zero_division=1.0
    )
    return Scores(float(precision), float(recall), float(f1), int(tp), int(fp), int(fn))


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 10
) -> float:
    """ECE: each bin's |spam share - mean P(spam)|, weighted by its size; equal-width bins.

    sklearn has no ECE. ``calibration_curve`` gives both means for every non-empty bin;
    the sizes come from the same edges (a probability on an edge is in the bin below it).
    """
    observed, predicted = calibration_curve(labels, probabilities, n_bins=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    sizes = np.bincount(np.searchsorted(edges[1:-1], probabilities), minlength=n_bins)
    return float(np.sum(sizes[sizes > 0] * np.abs(observed - predicted)) / len(labels))


# --- evaluation -----------------------------------------------------------------------


def evidence(model: SpamClassifier, examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    """NB log-likelihood ratios and known-n-gram counts of ``examples``."""
    pairs = [model.evidence(text) for text, _ in examples]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=np.int64)


def labels_of(examples: Sequence[Example]) -> np.ndarray:
    """The is_spam column as a boolean array."""
    return np.array([is_spam for _, is_spam in examples], dtype=bool)


@dataclass(frozen=True)
class Config:
    """One way of training and calibrating, as evaluated by ``rotations``."""

    label: str
    hyperparameters: dict
    sms_share: float | None = SMS_SHARE  # None: SMS unweighted
    pin_bias: bool = True  # bias = logit(class prior); False: fitted
    discussion_share: float = DISCUSSION_SHARE  # 0: no discussion ham
    discussion_files: tuple[str, ...] = DISCUSSION_TRAIN
    tweets_share: float = 0.0  # Davidson tweets as ham; 0: none
    #: False: the pinned prior counts only the YouTube and SMS texts, as before the
    #: discussion ham was added (separates its effect on the bias from the counts').
    prior_counts_discussion: bool = True


def extra_ham(corpus: Corpus, held_out: Sequence[str], config: Config) -> list[list[str]]:
    """The discussion (and tweet) ham texts whose fold is not held out, with a share each."""
    discussion = [
        text
        for name in config.discussion_files
        for i, text in enumerate(corpus.discussion.get(name, ()))
        if fold_of(i) not in held_out
    ]
    tweets = [text for i, text in enumerate(corpus.tweets) if fold_of(i) not in held_out]
    return [discussion if config.discussion_share else [], tweets if config.tweets_share else []]


def training_set(
    corpus: Corpus, held_out: Sequence[str], config: Config
) -> list[tuple[str, bool, float]]:
    """Every video not in ``held_out``, the SMS set and the extra ham, weighted.

    Within each class the SMS messages together weigh ``sms_share`` times the training
    comments of that class. Unweighted, SMS is 5,574 of ~6,300 texts and 87% of its ham
    is texting chatter, so "reads like a YouTube comment rather than an SMS" turns into
    spam evidence (YouTube is a third of the spam but a fourteenth of the ham);
    weighting per class removes that medium-versus-class confound. ``sms_share`` 0: no
    SMS; None: unweighted.

    The discussion ham (the folds not in ``held_out``) together weighs
    ``discussion_share`` times the training YouTube ham comments, each text the same;
    likewise the tweets with ``tweets_share``.
    """
    videos, sms = corpus.videos, corpus.sms
    comments = [ex for v, rows in videos.items() if v not in held_out for ex in rows]
    examples: list[tuple[str, bool, float]] = [(t, y, 1.0) for t, y in comments]
    if config.sms_share != 0:
        for cls in (True, False):
            sms_cls = [t for t, y in sms if y == cls]
            if config.sms_share is None:
                weight = 1.0
            else:
                n_cls = sum(1 for _, y in comments if y == cls)
                weight = config.sms_share * n_cls / len(sms_cls)
            examples += [(t, cls, weight) for t in sms_cls]
    n_ham_comments = sum(1 for _, y in comments if not y)
    shares = (config.discussion_share, config.tweets_share)
    for texts, share in zip(extra_ham(corpus, held_out, config), shares, strict=True):
        if texts:
            weight = share * n_ham_comments / len(texts)
            examples += [(t, False, weight) for t in texts]
    return examples


def class_prior(examples: Sequence[tuple[str, bool, float]]) -> float:
    """Spam share of the labelled texts, unweighted (each text counts once)."""
    return sum(1 for _, y, _ in examples if y) / len(examples)


def pinned_bias(corpus: Corpus, held_out: Sequence[str], config: Config) -> float:
    """logit of the class prior of the training texts, each text counted once.

    The tweets never count (24,783 of them would drag the prior to 4% on their own);
    the discussion texts count unless ``prior_counts_discussion`` is False.
    """
    config = dataclasses.replace(
        config,
        tweets_share=0.0,
        discussion_share=config.discussion_share if config.prior_counts_discussion else 0.0,
    )
    return logit(class_prior(training_set(corpus, held_out, config)))


@dataclass
class Rotation:
    """One held-out video: labels, NB evidence and honestly calibrated probabilities."""

    video: str
    labels: np.ndarray
    llr: np.ndarray
    n_known: np.ndarray
    probabilities: np.ndarray
    calibration: dict[str, float]
    #: discussion file -> (indices of this rotation's fold, their probabilities)
    out_of_fold: dict[str, tuple[np.ndarray, np.ndarray]]


def rotations(corpus: Corpus, config: Config) -> list[Rotation]:
    """Leave-one-video-out evaluation with nested (inner leave-one-video-out) calibration.

    A rotation also holds out its fold of the discussion ham and scores it, whether or
    not ``config`` trains on discussion ham, so configurations compare on the same texts.
    """
    hp = config.hyperparameters
    videos = corpus.videos
    result = []
    for test in VIDEOS:
        train_set = training_set(corpus, (test,), config)
        # Inner rotations: each training video scored by a model that never saw it; the
        # temperature (and bias, if fitted) for the outer model comes from those scores.
        inner_llr, inner_n, inner_y = [], [], []
        for inner in (v for v in VIDEOS if v != test):
            inner_model = SpamClassifier.train(training_set(corpus, (test, inner), config), **hp)
            llr, n = evidence(inner_model, videos[inner])
            inner_llr.append(llr)
            inner_n.append(n)
            inner_y.append(labels_of(videos[inner]))
        calibration = fit_calibration(
            np.concatenate(inner_llr),
            np.concatenate(inner_n),
            np.concatenate(inner_y),
            hp["length_norm"],
            bias=pinned_bias(corpus, (test,), config) if config.pin_bias else None,
        )
        model = SpamClassifier.train(train_set, **hp, calibration=calibration)
        llr, n = evidence(model, videos[test])
        probabilities = np.array(
            [model.calibrate(float(x), int(k)) for x, k in zip(llr, n, strict=True)]
        )
        out_of_fold = {}
        for name, texts in corpus.discussion.items():
            idx = np.array([i for i in range(len(texts)) if fold_of(i) == test], dtype=np.int64)
            out_of_fold[name] = (idx, np.array(model.probabilities([texts[i] for i in idx])))
        result.append(
            Rotation(
                test,
                labels_of(videos[test]),
                llr,
                n,
                probabilities,
                calibration,
                out_of_fold,
            )
        )
    return result


def out_of_fold(rot: Sequence[Rotation]) -> dict[str, np.ndarray]:
    """Each training discussion text's score by the rotation model that held it out."""
    result: dict[str, np.ndarray] = {}
    for name in rot[0].out_of_fold if rot else ():
        size = sum(len(r.out_of_fold[name][0]) for r in rot)
        p = np.full(size, np.nan)
        for r in rot:
            idx, probabilities = r.out_of_fold[name]
            p[idx] = probabilities
        result[name] = p
    return result


@dataclass(frozen=True)
class Summary:
    """Macro averages over the rotations, and pooled calibration quality."""

    auc: float
    at: dict[float, tuple[float, float, float]]  # threshold -> macro (P, R, F1)
    log_loss: float
    ece: float


def macro_prf(
    rot: Sequence[Rotation], thresholds: Sequence[float], probabilities: Sequence[np.ndarray]
) -> dict[float, tuple[float, float, float]]:
    """Macro (P, R, F1) over the rotations at each threshold, for given per-video scores."""
    at = {}
    for t in thresholds:
        scores = [prf(p, r.labels, t) for p, r in zip(probabilities, rot, strict=True)]
        at[t] = (
            float(np.mean([s.precision for s in scores])),
            float(np.mean([s.recall for s in scores])),
            float(np.mean([s.f1 for s in scores])),
        )
    return at


def summarise(rot: Sequence[Rotation]) -> Summary:
    """Macro-average the rotations; log-loss and ECE over the pooled held-out comments."""
    p = np.concatenate([r.probabilities for r in rot])
    y = np.concatenate([r.labels for r in rot])
    return Summary(
        auc=float(np.mean([roc_auc_score(r.labels, r.probabilities) for r in rot])),
        at=macro_prf(rot, THRESHOLDS, [r.probabilities for r in rot]),
        log_loss=float(log_loss(y, p)),
        ece=expected_calibration_error(p, y),
    )


def fit_final(corpus: Corpus, config: Config, rot: Sequence[Rotation]) -> SpamClassifier:
    """Train on everything; temperature from the pooled rotation evidence, bias pinned."""
    everything = training_set(corpus, (), config)
    calibration = fit_calibration(
        np.concatenate([r.llr for r in rot]),
        np.concatenate([r.n_known for r in rot]),
        np.concatenate([r.labels for r in rot]),
        config.hyperparameters["length_norm"],
        bias=pinned_bias(corpus, (), config) if config.pin_bias else None,
    )
    return SpamClassifier.train(everything, **config.hyperparameters, calibration=calibration)


# --- false alarms: the classifier alone and combined with the text signals ------------

SIGNAL_CONFIG = SpamConfig()


@functools.cache
def _signals(text: str) -> dict[str, Any]:
    return text_signals(text, SIGNAL_CONFIG)


def combined(
    probabilities: Sequence[float], texts: Sequence[str], *, new_author: bool
) -> np.ndarray:
    """The service's combined P(spam): classifier + text signals, no behaviour signals."""
    return np.array(
        [
            combine(
                float(p), _signals(t), {}, new_author=new_author, config=SIGNAL_CONFIG
            ).probability
            for p, t in zip(probabilities, texts, strict=True)
        ]
    )


def rates(probabilities: np.ndarray, thresholds: Sequence[float]) -> dict[float, float]:
    """Share of ``probabilities`` at or above each threshold (false alarms, for ham)."""
    return {t: float(np.mean(probabilities >= t)) for t in thresholds}


def by_kind(by_file: dict[str, Any], kind: str) -> list:
    """Concatenate the ``.ok.`` (non-toxic) or ``.bad.`` (toxic) files' items, in order."""
    return [x for name in sorted(by_file) if f".{kind}." in name for x in by_file[name]]


def recommend_band(groups: Sequence[np.ndarray]) -> tuple[float, float]:
    """The lowest (low, high) in BAND_GRID that every group of ham scores stays within.

    ``high``: at most MAX_REJECT of each group reaches it; ``low``: at most MAX_HOLD of
    each group lands in [low, high).
    """
    eps = 1e-12

    def rejects_few(t: float) -> bool:
        return all(np.mean(p >= t) <= MAX_REJECT + eps for p in groups)

    high = next((t for t in BAND_GRID if rejects_few(t)), BAND_GRID[-1])

    def holds_few(t: float) -> bool:
        return all(np.mean((p >= t) & (p < high)) <= MAX_HOLD + eps for p in groups)

    low = next((t for t in BAND_GRID if t <= high and holds_few(t)), high)
    return low, high


@dataclass
class Evaluation:
    """A configuration's rotations, summary, final model and discussion scores."""

    config: Config
    rotations: list[Rotation]
    summary: Summary
    model: SpamClassifier
    #: training discussion file -> out-of-fold P(spam) (the validation scores)
    validation: dict[str, np.ndarray]
    #: held-out discussion file -> the final model's P(spam)
    heldout: dict[str, np.ndarray]

    def validation_rates(self, corpus: Corpus, kind: str, *, new_author: bool | None = None):
        """Out-of-fold flag rates of the non-toxic ("ok") or toxic ("bad") discussion.

        ``new_author`` None: the classifier alone; else combined with the text signals.
        """
        p = np.array(by_kind(self.validation, kind))
        if new_author is not None:
            p = combined(p, by_kind(corpus.discussion, kind), new_author=new_author)
        return rates(p, ALARM_THRESHOLDS)


def evaluate(corpus: Corpus, config: Config) -> Evaluation:
    """Rotations, final model and the discussion scores for one configuration."""
    rot = rotations(corpus, config)
    model = fit_final(corpus, config, rot)
    heldout = {name: np.array(model.probabilities(t)) for name, t in corpus.heldout.items()}
    return Evaluation(config, rot, summarise(rot), model, out_of_fold(rot), heldout)


# --- timing ---------------------------------------------------------------------------


def time_load(directory: Path, repeats: int = 20) -> float:
    """Median seconds to load the artifact from ``directory``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        SpamClassifier.load(directory)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_scoring(model: SpamClassifier, texts: Sequence[str], seconds: float = 2.0) -> float:
    """Texts scored per second, one process, one thread."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.probabilities(texts)
        done += len(texts)
    return done / (time.perf_counter() - start)


# --- analysis for the report ----------------------------------------------------------


def _shingles(text: str) -> frozenset[str]:
    s = skeleton(text)
    return frozenset(s[i : i + 5] for i in range(len(s) - 4))


def near_duplicate_count(
    texts: Sequence[str], reference: Sequence[str], threshold: float = 0.5
) -> int:
    """How many ``texts`` have a near-duplicate in ``reference``.

    Near-duplicate: Jaccard similarity of the letter 5-shingles (``signals.skeleton``,
    so case, digits and punctuation do not count) at least ``threshold``.
    """
    refs = [s for s in map(_shingles, reference) if s]
    index: dict[str, list[int]] = {}
    for j, s in enumerate(refs):
        for gram in s:
            index.setdefault(gram, []).append(j)
    count = 0
    for text in texts:
        s = _shingles(text)
        shared: dict[int, int] = {}
        for gram in s:
            for j in index.get(gram, ()):
                shared[j] = shared.get(j, 0) + 1
        count += any(c / (len(s) + len(refs[j]) - c) >= threshold for j, c in shared.items())
    return count


#: combine()'s signal names -> the SignalWeights field that weighs them.
SIGNAL_WEIGHT_FIELDS = {
    "links": "per_link",
    "shorteners": "shortener",
    "contact_details": "contact",
    "link_ratio": "link_heavy",
    "uppercase_ratio": "shouting",
    "repeated_chars": "repeated_chars",
    "new_author": "new_author",
}


@dataclass
class SignalStats:
    """How often one signal fires on a group of texts, and how many verdicts it decides."""

    name: str
    weight: float
    #: group -> share of its texts on which the signal fires
    fired: dict[str, float]
    #: group -> (texts it lifts across the band's low edge, across the high edge)
    decided: dict[str, tuple[int, int]]


def signal_stats(
    groups: Sequence[tuple[str, Sequence[float], Sequence[str]]], band: tuple[float, float]
) -> list[SignalStats]:
    """Each signal's firing rate and decisive verdicts (combined, new author) per group.

    A verdict is decided by a signal when the combined probability reaches a band edge
    with the signal's weight and would stay below it with that weight set to 0.
    """
    weights = SIGNAL_CONFIG.weights
    result = []
    for name, weight_field in SIGNAL_WEIGHT_FIELDS.items():
        without = dataclasses.replace(
            SIGNAL_CONFIG, weights=dataclasses.replace(weights, **{weight_field: 0.0})
        )
        fired: dict[str, float] = {}
        decided: dict[str, tuple[int, int]] = {}
        for label, probabilities, texts in groups:
            n_fired, lifted = 0, [0, 0]
            for p, text in zip(probabilities, texts, strict=True):
                full = combine(float(p), _signals(text), {}, new_author=True, config=SIGNAL_CONFIG)
                if name not in full.contributions:
                    continue
                n_fired += 1
                less = combine(float(p), _signals(text), {}, new_author=True, config=without)
                for k, edge in enumerate(band):
                    lifted[k] += full.probability >= edge > less.probability
            fired[label] = n_fired / len(texts)
            decided[label] = (lifted[0], lifted[1])
        result.append(SignalStats(name, getattr(weights, weight_field), fired, decided))
    return result


# --- design choices and the operating point -------------------------------------------

ABLATIONS: tuple[tuple[str, dict, dict], ...] = (
    # (label, hyperparameter overrides, Config overrides)
    ("without discussion ham (the previous model)", {}, {"discussion_share": 0.0}),
    ("discussion ham weighs 0.05x the YouTube ham", {}, {"discussion_share": 0.05}),
    ("discussion ham weighs 0.2x the YouTube ham", {}, {"discussion_share": 0.2}),
    ("discussion ham weighs 0.5x the YouTube ham", {}, {"discussion_share": 0.5}),
    (
        "non-toxic discussion only (no toxic comments as ham)",
        {},
        {"discussion_files": DISCUSSION_TRAIN[:1]},
    ),
    (
        "pinned prior counts only YouTube + SMS (bias as before)",
        {},
        {"prior_counts_discussion": False},
    ),
    ("plus the Davidson tweets as ham, 0.1x", {}, {"tweets_share": 0.1}),
    ("bias fitted on the inner videos, not pinned", {}, {"pin_bias": False}),
    ("plain NB log-odds (no sqrt length scaling)", {"length_norm": "none"}, {}),
    ("SMS weighs 0.25 of the comments", {}, {"sms_share": 0.25}),
    ("SMS weighs 0.5 of the comments", {}, {"sms_share": 0.5}),
    ("SMS unweighted", {}, {"sms_share": None}),
    ("no SMS at all", {}, {"sms_share": 0.0}),
    ("n-gram counts instead of presence", {"binary": False}, {}),
    ("smoothing alpha 1.0", {"alpha": 1.0}, {}),
    ("2^16 buckets", {"bits": 16}, {}),
    ("2^20 buckets", {"bits": 20}, {}),
)


def youtube_combined(
    rot: Sequence[Rotation], corpus: Corpus, *, new_author: bool
) -> list[np.ndarray]:
    """The held-out videos' combined probabilities (rotation model + text signals)."""
    return [
        combined(r.probabilities, [t for t, _ in corpus.videos[r.video]], new_author=new_author)
        for r in rot
    ]


@dataclass
class OperatingPoint:
    """The band a configuration's own out-of-fold discussion scores recommend, and its cost."""

    band: tuple[float, float]
    #: band edge -> macro (P, R, F1) over the held-out videos, combined, new author
    youtube: dict[float, tuple[float, float, float]]


def operating_point(ev: Evaluation, corpus: Corpus) -> OperatingPoint:
    """Recommend a band from ``ev``'s out-of-fold discussion scores; YouTube recall there."""
    groups = [
        combined(
            np.array(by_kind(ev.validation, k)), by_kind(corpus.discussion, k), new_author=True
        )
        for k in ("ok", "bad")
    ]
    band = recommend_band(groups)
    youtube = youtube_combined(ev.rotations, corpus, new_author=True)
    return OperatingPoint(band, macro_prf(ev.rotations, band, youtube))


# --- main -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "workers" / "spam" / "model")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "docs" / "spam-classifier.md")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    hp = dict(DEFAULT_HYPERPARAMETERS)
    corpus = load_corpus(args.data_dir)
    if not corpus.discussion:
        _log(f"{DISCUSSION_DIR} absent: training without discussion ham")
    if not corpus.heldout:
        _log(f"{DISCUSSION_DIR} held-out files absent: skipping the false-alarm check")

    main_config = Config("packaged configuration", hp)
    main_eval = evaluate(corpus, main_config)
    _log(f"packaged configuration: {main_eval.summary.at}")
    ablations: list[tuple[str, Evaluation, OperatingPoint | None]] = []
    evaluations = [("**packaged configuration**", main_eval)]
    for label, hp_over, config_over in ABLATIONS:
        needs_discussion = any(k.startswith(("discussion", "prior")) for k in config_over)
        if (needs_discussion and not corpus.discussion) or (
            "tweets_share" in config_over and not corpus.tweets
        ):
            continue
        ev = evaluate(corpus, Config(label, {**hp, **hp_over}, **config_over))
        evaluations.append((label, ev))
        _log(f"{label}: {ev.summary.at}")
    ops: dict[int, OperatingPoint] = {}
    for label, ev in evaluations:
        op = operating_point(ev, corpus) if corpus.discussion else None
        ablations.append((label, ev, op))
        if op:
            ops[id(ev)] = op
            _log(f"{label}: band {op.band}, YouTube combined {op.youtube}")
    before = next(
        (
            ev
            for label, ev in evaluations
            if ev.config.discussion_share == 0
            and ev.config.sms_share == SMS_SHARE
            and ev.config.hyperparameters == hp
        ),
        main_eval,
    )
    sms_model = SpamClassifier.train(corpus.sms, **hp)
    sms_only_auc = {}
    for v in VIDEOS:
        llr, _ = evidence(sms_model, corpus.videos[v])
        sms_only_auc[v] = float(roc_auc_score(labels_of(corpus.videos[v]), llr))

    everything = training_set(corpus, (), main_config)
    prior = class_prior(everything)
    n_spam = sum(1 for _, y, _ in everything if y)
    discussion_texts = [t for texts in corpus.discussion.values() for t in texts]
    n_ham_comments = sum(1 for rows in corpus.videos.values() for _, y in rows if not y)
    discussion_weight = (
        DISCUSSION_SHARE * n_ham_comments / len(discussion_texts) if discussion_texts else 0.0
    )
    band = ops[id(main_eval)].band if corpus.discussion else (0.5, 0.9)
    heldout_rates = {
        name: {
            "classifier": rates(p, ALARM_THRESHOLDS),
            "combined_established_author": rates(
                combined(p, corpus.heldout[name], new_author=False), ALARM_THRESHOLDS
            ),
            "combined_new_author": rates(
                combined(p, corpus.heldout[name], new_author=True), ALARM_THRESHOLDS
            ),
        }
        for name, p in main_eval.heldout.items()
    }
    model = main_eval.model
    model.provenance = {
        "family": MODEL_FAMILY,
        "training_command": "python -m training.spam",
        "trained_examples": {
            "spam": n_spam,
            "ham": len(everything) - n_spam,
            "youtube": {v: len(corpus.videos[v]) for v in VIDEOS},
            "sms": len(corpus.sms),
            "sms_share": SMS_SHARE,
            "discussion": {name: len(t) for name, t in corpus.discussion.items()},
            "discussion_share": DISCUSSION_SHARE if corpus.discussion else 0.0,
            "discussion_weight_per_text": discussion_weight,
        },
        "class_prior": prior,
        "data_files_sha256": {
            str(p.relative_to(args.data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in data_files(args.data_dir, corpus)
        },
        "heldout_files_sha256": {
            f"{DISCUSSION_DIR}/{name}": hashlib.sha256(
                (args.data_dir / DISCUSSION_DIR / name).read_bytes()
            ).hexdigest()
            for name in corpus.heldout
        },
        "sources": SOURCES,
        "calibration_scheme": "Platt scaling (temperature only) on the pooled "
        "leave-one-video-out evidence of models trained on two videos + SMS + two thirds "
        "of the discussion ham; bias pinned to logit(class_prior), so a text with no known "
        "n-gram scores class_prior",
        "heldout_macro": {
            str(t): dict(zip(("precision", "recall", "f1"), main_eval.summary.at[t], strict=True))
            for t in THRESHOLDS
        },
        "heldout_discussion_flag_rates": {
            name: {kind: {str(t): v for t, v in r.items()} for kind, r in by.items()}
            for name, by in heldout_rates.items()
        }
        or None,
        "recommended_spam_band": list(band),
        "report": "docs/spam-classifier.md",
    }
    artifact = model.save(args.out)
    loaded = SpamClassifier.load(args.out)
    probe = [text for v in VIDEOS for text, _ in corpus.videos[v]]
    if loaded.probabilities(probe) != model.probabilities(probe):
        raise RuntimeError("save/load round trip changed the scores")
    provenance = json.loads((args.out / PROVENANCE_NAME).read_text(encoding="utf-8"))

    scratch = loaded.copy()
    t0 = time.perf_counter()
    for text in probe[:200]:
        scratch.learn(text, True)
    learn_s = (time.perf_counter() - t0) / 200

    drifted = loaded.copy()
    for _ in range(3):
        drifted.learn("Liên hệ zalo 0912345678 để nhận quà miễn phí", True)
    vi_drift = max(
        after - before
        for before, after in zip(
            loaded.probabilities(VIETNAMESE_HAM), drifted.probabilities(VIETNAMESE_HAM), strict=True
        )
    )

    ctx: dict[str, Any] = {
        "corpus": corpus,
        "mean_p": float(np.mean(np.concatenate([r.probabilities for r in main_eval.rotations]))),
        "mean_y": float(np.mean(np.concatenate([r.labels for r in main_eval.rotations]))),
        "vi_drift": vi_drift,
        "main": main_eval,
        "before": before,
        "band": band,
        "main_op": ops.get(id(main_eval)),
        "before_op": ops.get(id(before)),
        "loaded": loaded,
        "ablations": ablations,
        "sms_only_auc": sms_only_auc,
        "n_discussion": len(discussion_texts),
        "discussion_weight": discussion_weight,
        "n_examples": len(everything),
        "n_spam": n_spam,
        "n_comments": len(probe),
        "prior": prior,
        "prior_without_discussion": class_prior(
            training_set(corpus, (), dataclasses.replace(main_config, discussion_share=0.0))
        ),
        "artifact_bytes": artifact.stat().st_size,
        "artifact_sha256": provenance["artifact_sha256"],
        "stored_buckets": provenance["stored_buckets"],
        "occupancy": provenance["stored_buckets"] / (1 << int(hp["bits"])),
        "load_s": time_load(args.out),
        "texts_per_s": time_scoring(loaded, probe),
        "learn_s": learn_s,
        "mean_chars": float(np.mean([len(t) for t in probe])),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "cpus": _cpu_count(),
        "memory_mb": 25 * (1 << int(hp["bits"])) / 2**20,
        "spot_checks": [
            (
                t,
                loaded.evidence(t)[1],
                loaded.probability(t),
                float(combined([loaded.probability(t)], [t], new_author=True)[0]),
            )
            for t in VIETNAMESE_HAM + ENGLISH_NEWS_HAM + OTHER_SPOT_CHECKS
        ],
        "n_tweets": len(corpus.tweets),
        "tweets_with_links": (
            sum("http" in t for t in corpus.tweets) / len(corpus.tweets) if corpus.tweets else 0.0
        ),
    }
    if corpus.discussion and corpus.heldout:
        ok_name = next(n for n in corpus.heldout if ".ok." in n)
        ctx["heldout_reject_09"] = heldout_rates[ok_name]["combined_new_author"][0.9]
        ctx["near_duplicates"] = tuple(
            near_duplicate_count(by_kind(corpus.heldout, kind), discussion_texts)
            for kind in ("ok", "bad")
        )
        groups = [
            (
                "YouTube spam",
                [p for r in main_eval.rotations for p in r.probabilities[r.labels]],
                [t for r in main_eval.rotations for t, y in corpus.videos[r.video] if y],
            ),
            (
                "YouTube ham",
                [p for r in main_eval.rotations for p in r.probabilities[~r.labels]],
                [t for r in main_eval.rotations for t, y in corpus.videos[r.video] if not y],
            ),
            (
                "non-toxic talk",
                by_kind(main_eval.heldout, "ok"),
                by_kind(corpus.heldout, "ok"),
            ),
            ("toxic talk", by_kind(main_eval.heldout, "bad"), by_kind(corpus.heldout, "bad")),
        ]
        ctx["signal_stats"] = signal_stats(groups, band)
        ctx["signal_group_sizes"] = {label: len(texts) for label, _, texts in groups}
    ctx["elapsed_s"] = time.perf_counter() - started
    args.report.parent.mkdir(parents=True, exist_ok=True)
    # Imported here: the card imports this module's helpers.
    from training.spam_card import render_report

    args.report.write_text(render_report(ctx), encoding="utf-8")
    _log(
        f"wrote {artifact} ({ctx['artifact_bytes']} bytes, version {loaded.version}) and "
        f"{args.report} in {time.perf_counter() - started:.1f} s"
    )
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    # Run the copy imported as training.spam, the one training.spam_card imports, rather
    # than this __main__ one: a second copy would score every text's signals twice.
    from training.spam import main as _main

    raise SystemExit(_main())
