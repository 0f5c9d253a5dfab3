"""Train, evaluate and package the spam classifier; writes the artifact and its report.

    make spam-model       # = python -m training.spam

Runs by hand, from the repository root, on a machine with ``../shared/data`` (never in
CI or ``make run``); commit what it writes::

    python -m training.spam [--data-dir ../shared/data] [--out workers/spam/model]
                            [--report docs/spam-classifier.md]

What it does, in one run, for every candidate (the previous model, the TF-IDF baseline,
the packaged configuration and its variants):

- **Leave one video out.** For each of the three YouTube files, train on the other two,
  the SMS set and two thirds of the extra ham (below), and score the held-out video.
  Never a random split: near-duplicate spam within one video would leak across it.
- **Out-of-fold extra ham.** The extra ham (Jigsaw talk-page comments, Davidson's
  offensive and hate tweets: toxic is not spam) is split into three folds; the rotation
  that holds out a video holds out one fold too and scores it, so every extra-ham text
  gets one score from a model that never saw it. Those scores, and only they, choose
  the ``spam_band`` (``recommend_band``).
- **Held out for good.** Jigsaw rows in no training fold, Davidson's ``neither`` tweets
  and the Civil Comments news posts are never trained on and choose nothing: they give
  the false-alarm rates in the report, scored by the model trained on everything.

The packaged model is a logistic regression over hashed word and character n-grams
(``workers/spam/classifier.py``), fitted here with the rule-based text signals of
``workers.spam.signals`` as a fixed offset: it learns what the signals do not already
say, so ``combine()`` of the two is what the fit calibrated. The data and probe texts
are in ``training.spam_data``, the previous model in ``training.spam_nb``, the report
in ``training.spam_card``. Metrics come from ``sklearn.metrics``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from training import spam_nb
from training.spam_data import (
    ENGLISH_NEWS_HAM,
    HELDOUT_CIVIL,
    HELDOUT_JIGSAW,
    HELDOUT_TWEETS,
    OTHER_SPOT_CHECKS,
    SOURCES,
    VIDEOS,
    VIETNAMESE_HAM,
    Corpus,
    data_files,
    fold_of,
    heldout_files,
    load_corpus,
)
from workers.spam.classifier import (
    DEFAULT_HYPERPARAMETERS,
    MODEL_FAMILY,
    PROVENANCE_NAME,
    SpamClassifier,
    feature_value,
    hashed_features,
    logit,
    sigmoid,
)
from workers.spam.signals import SpamConfig, combine, text_signals

REPO_ROOT = Path(__file__).resolve().parent.parent

#: L2 regularisation, as scikit-learn's LogisticRegression(C=...): the loss weighs C.
#: Measured 3, 10, 30, 100: less regularisation ranked the held-out videos better and
#: held or rejected more of their spam at no cost in held-out false alarms.
C = 100.0
#: Per class, the SMS messages together weigh this much relative to the training
#: comments of that class (unweighted, 87% texting chatter would make "reads like a
#: YouTube comment" spam evidence).
SMS_SHARE = 1.0
#: The Jigsaw talk-page comments together weigh this much relative to the training
#: YouTube ham comments; likewise the Davidson tweets.
DISCUSSION_SHARE = 1.0
TWEETS_SHARE = 1.0

#: Candidate band edges, and what the band may cost the out-of-fold extra ham (each
#: group, combined with the text signals for a new author): at most MAX_REJECT of it
#: auto-rejected (>= high), at most MAX_HOLD held (low <= p < high). The issue's goal on
#: the held-out sets is 0.05% and 0.5%; the budgets keep a margin below it, because the
#: held-out sets are other texts (and one of them another source) than the folds.
BAND_GRID = (*(round(0.5 + i / 100, 2) for i in range(50)), 0.995, 0.998, 0.999)
MAX_REJECT = 0.0003
MAX_HOLD = 0.003
#: The service's default band (config/settings.py), at which the previous model is judged.
SHIPPED_BAND = (0.5, 0.95)

# --- features and signals ------------------------------------------------------------


def feature_matrix(texts: Sequence[str], hyperparameters: dict[str, Any]) -> sp.csr_matrix:
    """The rows the runtime classifier scores: ``hashed_features`` at unit length."""
    hp = hyperparameters
    rows = [hashed_features(t, hp["bits"], hp["char_ngrams"], hp["word_ngrams"]) for t in texts]
    indptr = np.cumsum([0, *(len(r) for r in rows)])
    indices = np.concatenate(rows) if rows else np.empty(0, np.int64)
    data = np.concatenate([np.full(len(r), feature_value(len(r))) for r in rows] or [[]])
    return sp.csr_matrix((data, indices, indptr), shape=(len(texts), 1 << hp["bits"]))


SIGNAL_CONFIG = SpamConfig()


@functools.cache
def _signals(text: str) -> dict[str, Any]:
    return text_signals(text, SIGNAL_CONFIG)


def signal_log_odds(texts: Sequence[str], *, new_author: bool = False) -> np.ndarray:
    """What ``combine()`` adds to each text's classifier log-odds (text signals only)."""
    return np.array(
        [
            sum(
                c["weight"]
                for c in combine(
                    0.5, _signals(t), {}, new_author=new_author, config=SIGNAL_CONFIG
                ).contributions.values()
            )
            for t in texts
        ]
    )


def combined(log_odds: np.ndarray, texts: Sequence[str], *, new_author: bool) -> np.ndarray:
    """The service's combined P(spam): ``combine()`` of the classifier and text signals."""
    return np.array(
        [
            combine(
                sigmoid(float(z)), _signals(t), {}, new_author=new_author, config=SIGNAL_CONFIG
            ).probability
            for z, t in zip(log_odds, texts, strict=True)
        ]
    )


# --- the fit --------------------------------------------------------------------------

#: L-BFGS stops when an iteration lowers the loss by less than this fraction.
FTOL = 1e-7


def fit_logistic(
    x: sp.csr_matrix,
    y: np.ndarray,
    sample_weight: np.ndarray,
    offset: np.ndarray,
    c: float = C,
    *,
    bias: float | None = None,
    max_iter: int = 500,
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression with a fixed offset per row: (weights, bias).

    Minimises ``c * sum_i w_i * logloss(y_i, x_i . beta + b + offset_i) + |beta|^2 / 2``
    (scikit-learn's ``LogisticRegression`` objective, weights scaled to mean 1, bias not
    penalised) with L-BFGS; ``bias`` given: ``b`` is pinned to it. Written out because
    scikit-learn's estimators take neither an offset nor a pinned intercept; with a zero
    offset and a free bias it agrees with ``LogisticRegression`` (tested).
    """
    w = np.asarray(sample_weight, dtype=np.float64)
    w = c * w / w.mean()
    sign = np.where(y, 1.0, -1.0)
    # Only the columns these rows use: the others' weights stay 0 (their gradient is their
    # own penalty), and a shorter vector keeps the products in cache.
    shape = x.shape
    columns = np.unique(x.indices)
    x = x[:, columns]
    xt = x.T.tocsr()
    dim = x.shape[1]
    free_bias = bias is None

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        beta = theta[:dim]
        b = theta[dim] if free_bias else bias
        margin = sign * (x @ beta + b + offset)
        g = -sign * expit(-margin) * w
        grad = np.empty_like(theta)
        grad[:dim] = xt @ g + beta
        if free_bias:
            grad[dim] = g.sum()
        return float(np.dot(w, np.logaddexp(0.0, -margin)) + 0.5 * beta @ beta), grad

    result = minimize(
        loss_and_grad,
        np.zeros(dim + 1 if free_bias else dim),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": 1e-5, "ftol": FTOL},
    )
    _log(f"    fit: {result.nit} iterations, {result.message}")
    weights = np.zeros(shape[1])
    weights[columns] = result.x[:dim]
    return weights, float(result.x[dim] if free_bias else bias)


# --- the training pool ----------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One way of training the hashed logistic regression."""

    label: str
    hyperparameters: dict = field(default_factory=lambda: dict(DEFAULT_HYPERPARAMETERS))
    c: float = C
    sms_share: float = SMS_SHARE
    discussion_share: float = DISCUSSION_SHARE
    tweets_share: float = TWEETS_SHARE
    #: fit with the text signals as a fixed offset (False: the classifier on its own)
    signal_offset: bool = True
    #: pin the bias to the logit of the training texts' spam share (False: fitted)
    pin_bias: bool = True
    #: how the report refers to it
    key: str = "packaged"


@dataclass
class Pool:
    """Every training text, with what a rotation needs to pick and weigh it."""

    texts: list[str]
    labels: np.ndarray
    #: "video", "sms", "discussion" or "tweets"
    source: np.ndarray
    #: the video of a video row; the video whose rotation holds out a discussion or tweet
    #: row (its fold); "" for SMS
    part: np.ndarray
    #: combine()'s text-signal log-odds, established author
    offset: np.ndarray

    def rows(self, source: str) -> np.ndarray:
        return self.source == source


def build_pool(corpus: Corpus) -> Pool:
    """Stack the videos, the SMS set and the extra ham in one pool."""
    texts: list[str] = []
    labels: list[bool] = []
    source: list[str] = []
    part: list[str] = []
    for video, rows in corpus.videos.items():
        texts += [t for t, _ in rows]
        labels += [y for _, y in rows]
        source += ["video"] * len(rows)
        part += [video] * len(rows)
    texts += [t for t, _ in corpus.sms]
    labels += [y for _, y in corpus.sms]
    source += ["sms"] * len(corpus.sms)
    part += [""] * len(corpus.sms)
    for name, extra in (("discussion", corpus.discussion), ("tweets", corpus.tweets)):
        texts += extra
        labels += [False] * len(extra)
        source += [name] * len(extra)
        part += [fold_of(i) for i in range(len(extra))]
    return Pool(
        texts,
        np.array(labels, dtype=bool),
        np.array(source),
        np.array(part),
        signal_log_odds(texts),
    )


def sample_weights(pool: Pool, config: Config, held_out: str | None) -> np.ndarray:
    """Each pool row's weight in the rotation that holds out ``held_out`` (0: not in it).

    Training comments weigh 1. Per class, the SMS messages together weigh ``sms_share``
    times the training comments of that class. The extra ham rows not in the held-out
    fold together weigh ``discussion_share`` (``tweets_share``) times the training
    YouTube ham comments, each row the same.
    """
    w = np.zeros(len(pool.texts))
    comments = pool.rows("video") & (pool.part != held_out)
    w[comments] = 1.0
    n_class = {cls: int(np.sum(comments & (pool.labels == cls))) for cls in (True, False)}
    for cls in (True, False):
        sms = pool.rows("sms") & (pool.labels == cls)
        if config.sms_share and sms.any():
            w[sms] = config.sms_share * n_class[cls] / sms.sum()
    for source, share in (
        ("discussion", config.discussion_share),
        ("tweets", config.tweets_share),
    ):
        keep = pool.rows(source) & (pool.part != held_out)
        if share and keep.any():
            w[keep] = share * n_class[False] / keep.sum()
    return w


# --- candidates -----------------------------------------------------------------------


@dataclass
class Scores:
    """One candidate's classifier log-odds on everything the report judges."""

    key: str
    label: str
    #: held-out video -> log-odds by the rotation model that never saw it
    videos: dict[str, np.ndarray]
    #: extra-ham source ("discussion", "tweets") -> out-of-fold log-odds of its rows
    rule: dict[str, np.ndarray]
    #: held-out set -> log-odds by the model trained on everything
    heldout: dict[str, np.ndarray]
    #: the band to judge it at; None: recommend_band on its out-of-fold scores
    band: tuple[float, float] | None = None
    seconds: float = 0.0


@dataclass
class Fitted:
    """A fitted hashed logistic regression (training-time scores come from ``x @ w + b``)."""

    weights: np.ndarray
    bias: float

    def log_odds(self, x: sp.csr_matrix) -> np.ndarray:
        return x @ self.weights + self.bias


class Data:
    """The corpus, its pool and their feature matrices (built once per hyperparameters)."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.pool = build_pool(corpus)
        self._matrices: dict[str, tuple[sp.csr_matrix, dict[str, sp.csr_matrix]]] = {}

    def matrices(self, hp: dict[str, Any]) -> tuple[sp.csr_matrix, dict[str, sp.csr_matrix]]:
        """(the pool's rows, held-out set -> its rows) for these feature hyperparameters."""
        key = json.dumps({k: hp[k] for k in ("bits", "char_ngrams", "word_ngrams")})
        if key not in self._matrices:
            self._matrices[key] = (
                feature_matrix(self.pool.texts, hp),
                {n: feature_matrix(t, hp) for n, t in self.corpus.heldout.items()},
            )
        return self._matrices[key]


def fit_config(data: Data, config: Config, held_out: str | None) -> Fitted:
    """Fit ``config`` on the pool rows of the rotation that holds out ``held_out``."""
    x, _ = data.matrices(config.hyperparameters)
    pool = data.pool
    w = sample_weights(pool, config, held_out)
    rows = w > 0
    offset = pool.offset[rows] if config.signal_offset else np.zeros(int(rows.sum()))
    bias = pinned_bias(pool.labels[rows]) if config.pin_bias else None
    weights, bias = fit_logistic(x[rows], pool.labels[rows], w[rows], offset, config.c, bias=bias)
    return Fitted(weights, bias)


def pinned_bias(labels: np.ndarray) -> float:
    """logit of the spam share of the training texts, each text counted once.

    So a text with no known feature (empty, or a script never seen) scores that share
    before the signals, rather than wherever an unpenalised intercept happens to settle
    (with C = 100 it settled near -9: "no evidence" read as certain ham, and a label for
    a text in an unseen language could hardly move it).
    """
    return logit(float(np.mean(labels)))


def evaluate_config(data: Data, config: Config) -> tuple[Scores, Fitted]:
    """Leave-one-video-out and out-of-fold scores, and the model trained on everything."""
    started = time.perf_counter()
    x, heldout_x = data.matrices(config.hyperparameters)
    pool = data.pool
    videos: dict[str, np.ndarray] = {}
    rule = {s: np.full(int(pool.rows(s).sum()), np.nan) for s in ("discussion", "tweets")}
    for video in VIDEOS:
        model = fit_config(data, config, video)
        videos[video] = model.log_odds(x[pool.rows("video") & (pool.part == video)])
        for source, scores in rule.items():
            in_fold = pool.part[pool.rows(source)] == video
            scores[in_fold] = model.log_odds(x[pool.rows(source)][in_fold])
        auc = roc_auc_score(_video_labels(data, video), videos[video])
        _log(f"  {config.label}: {video} AUC {auc:.4f}")
    final = fit_config(data, config, None)
    heldout = {name: final.log_odds(m) for name, m in heldout_x.items()}
    seconds = time.perf_counter() - started
    return Scores(config.key, config.label, videos, rule, heldout, seconds=seconds), final


def evaluate_previous(data: Data) -> tuple[Scores, spam_nb.NaiveBayes]:
    """The previous model (training.spam_nb), retrained as it was shipped."""
    started = time.perf_counter()
    corpus = data.corpus
    rot = spam_nb.rotations(corpus)
    videos = {
        r.video: np.array([r.model.log_odds(t) for t, _ in corpus.videos[r.video]]) for r in rot
    }
    final = spam_nb.fit_final(corpus, rot)
    heldout = {
        n: np.array([final.log_odds(t) for t in texts]) for n, texts in corpus.heldout.items()
    }
    # It trained on some of today's extra-ham rows, so it has no out-of-fold scores on
    # them: it is judged at the band it shipped with.
    scores = Scores(
        "previous",
        "previous model: naive Bayes, character 1-5-grams",
        videos,
        {},
        heldout,
        band=SHIPPED_BAND,
        seconds=time.perf_counter() - started,
    )
    return scores, final


def baseline_pipeline() -> Any:
    """The issue's 20-line baseline: TF-IDF character 2-5-grams, logistic regression."""
    return make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        LogisticRegression(max_iter=1000),
    )


def evaluate_baseline(data: Data) -> Scores:
    """The baseline trained on the YouTube videos only (it sees no extra ham at all)."""
    started = time.perf_counter()
    corpus, pool = data.corpus, data.pool
    videos: dict[str, np.ndarray] = {}
    rule = {s: np.full(int(pool.rows(s).sum()), np.nan) for s in ("discussion", "tweets")}
    extra = {s: [t for t, keep in zip(pool.texts, pool.rows(s), strict=True) if keep] for s in rule}
    for video in VIDEOS:
        train = [ex for v in VIDEOS if v != video for ex in corpus.videos[v]]
        model = baseline_pipeline().fit([t for t, _ in train], [y for _, y in train])
        videos[video] = model.decision_function([t for t, _ in corpus.videos[video]])
        for source, scores in rule.items():
            # Never trained on any of it; scored by rotation, like the others' folds.
            in_fold = pool.part[pool.rows(source)] == video
            scores[in_fold] = model.decision_function(
                [t for t, keep in zip(extra[source], in_fold, strict=True) if keep]
            )
    everything = [ex for v in VIDEOS for ex in corpus.videos[v]]
    final = baseline_pipeline().fit([t for t, _ in everything], [y for _, y in everything])
    heldout = {n: final.decision_function(texts) for n, texts in corpus.heldout.items()}
    return Scores(
        "baseline",
        "baseline: TF-IDF character 2-5-grams + logistic regression, the videos only",
        videos,
        rule,
        heldout,
        seconds=time.perf_counter() - started,
    )


# --- judging --------------------------------------------------------------------------


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
class Judged:
    """A candidate's figures as the report shows them (combined scores, new author)."""

    scores: Scores
    band: tuple[float, float]
    #: video -> ROC-AUC of the classifier alone, and of the combined score
    auc: dict[str, float]
    auc_combined: dict[str, float]
    #: video -> (share of spam held or rejected, share of spam rejected, share of ham
    #: held or rejected, share of ham rejected)
    at_band: dict[str, tuple[float, float, float, float]]
    #: extra-ham source -> (held, rejected) out of fold
    rule: dict[str, tuple[float, float]]
    #: held-out set -> author ("new", "established") -> (held, rejected)
    heldout: dict[str, dict[str, tuple[float, float]]]

    @property
    def macro_auc(self) -> float:
        return float(np.mean(list(self.auc.values())))

    @property
    def macro_auc_combined(self) -> float:
        return float(np.mean(list(self.auc_combined.values())))

    def macro_at_band(self, i: int) -> float:
        return float(np.mean([v[i] for v in self.at_band.values()]))


def held_and_rejected(p: np.ndarray, band: tuple[float, float]) -> tuple[float, float]:
    """Shares of ``p`` in [low, high) and at or above high."""
    low, high = band
    return float(np.mean((p >= low) & (p < high))), float(np.mean(p >= high))


def judge(data: Data, scores: Scores) -> Judged:
    """Combine a candidate's scores with the text signals, choose its band, measure it."""
    corpus, pool = data.corpus, data.pool
    extra_texts = {
        s: [t for t, keep in zip(pool.texts, pool.rows(s), strict=True) if keep]
        for s in scores.rule
    }
    rule_p = {s: combined(z, extra_texts[s], new_author=True) for s, z in scores.rule.items()}
    band = scores.band or recommend_band(list(rule_p.values()))
    auc, auc_combined, at_band = {}, {}, {}
    for video, z in scores.videos.items():
        texts = [t for t, _ in corpus.videos[video]]
        y = _video_labels(data, video)
        auc[video] = float(roc_auc_score(y, z))
        # Combined log-odds as combine() forms them (before its rounding to 4 digits).
        auc_combined[video] = float(roc_auc_score(y, z + signal_log_odds(texts, new_author=True)))
        p = combined(z, texts, new_author=True)
        spam_held, spam_rej = held_and_rejected(p[y], band)
        ham_held, ham_rej = held_and_rejected(p[~y], band)
        at_band[video] = (spam_held + spam_rej, spam_rej, ham_held + ham_rej, ham_rej)
    heldout = {
        name: {
            author: held_and_rejected(
                combined(z, corpus.heldout[name], new_author=author == "new"), band
            )
            for author in ("new", "established")
        }
        for name, z in scores.heldout.items()
    }
    rule = {s: held_and_rejected(p, band) for s, p in rule_p.items()}
    return Judged(scores, band, auc, auc_combined, at_band, rule, heldout)


def _video_labels(data: Data, video: str) -> np.ndarray:
    return np.array([y for _, y in data.corpus.videos[video]], dtype=bool)


#: Variants of the packaged configuration, each changing one thing.
VARIANTS: tuple[Config, ...] = (
    Config(
        "without the signal offset (the classifier fitted on its own)",
        signal_offset=False,
        key="no_offset",
    ),
    Config(
        "character n-grams only (no word n-grams)",
        hyperparameters={**DEFAULT_HYPERPARAMETERS, "word_ngrams": [0, 0]},
        key="char_only",
    ),
    Config("without the Davidson tweets as ham", tweets_share=0.0, key="no_tweets"),
)

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


def to_classifier(
    fitted: Fitted, hp: dict[str, Any], provenance: dict[str, Any] | None = None
) -> SpamClassifier:
    """The runtime classifier of a fit, its weights rounded to float16 (as stored)."""
    weights = fitted.weights.astype(np.float16).astype(np.float64)
    return SpamClassifier(weights, fitted.bias, hp, provenance=provenance)


def learning_effect(
    model: SpamClassifier, text: str, similar: str, is_spam: bool
) -> tuple[float, float, float, float]:
    """(text before, after one learn(); similar text before, after)."""
    learner = model.copy()
    before = (learner.probability(text), learner.probability(similar))
    learner.learn(text, is_spam)
    return before[0], learner.probability(text), before[1], learner.probability(similar)


# --- main -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "workers" / "spam" / "model")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "docs" / "spam-classifier.md")
    parser.add_argument(
        "--no-variants", action="store_true", help="skip the variant rows (a quicker run)"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    corpus = load_corpus(args.data_dir)
    for name in (HELDOUT_JIGSAW, HELDOUT_TWEETS, HELDOUT_CIVIL):
        if name not in corpus.heldout:
            _log(f"{name}: absent, left out of the false-alarm check")
    data = Data(corpus)
    hp = dict(DEFAULT_HYPERPARAMETERS)
    data.matrices(hp)
    _log(f"features in {time.perf_counter() - started:.0f} s")

    main_config = Config("**packaged: hashed word + character n-grams, logistic regression**")
    main_scores, final = evaluate_config(data, main_config)
    candidates: list[Scores] = [main_scores]
    previous_scores, _ = evaluate_previous(data)
    candidates.append(previous_scores)
    baseline = evaluate_baseline(data)
    candidates.append(baseline)
    # The same baseline models at the band the service shipped with (no refit).
    candidates.append(
        replace(
            baseline,
            key="baseline_shipped_band",
            label=f"the same baseline at the previous default band {SHIPPED_BAND[0]:g}:"
            f"{SHIPPED_BAND[1]:g}",
            band=SHIPPED_BAND,
            seconds=0.0,
        )
    )
    if not args.no_variants:
        for config in VARIANTS:
            if config.tweets_share == 0 and not corpus.tweets:
                continue
            candidates.append(evaluate_config(data, config)[0])
    judged = [judge(data, s) for s in candidates]
    for j in judged:
        _log(
            f"{j.scores.label}: AUC {j.macro_auc:.4f} / combined {j.macro_auc_combined:.4f}, "
            f"band {j.band}, spam {j.macro_at_band(0):.3f} / {j.macro_at_band(1):.3f}, "
            f"held-out {j.heldout}"
        )
    shipped = judged[0]

    pool = data.pool
    everything = sample_weights(pool, main_config, None)
    n_spam = int(np.sum(pool.labels & (everything > 0)))
    provenance = {
        "family": MODEL_FAMILY,
        "training_command": "python -m training.spam",
        "trained_examples": {
            "spam": n_spam,
            "ham": int(np.sum(everything > 0)) - n_spam,
            "youtube": {v: len(corpus.videos[v]) for v in VIDEOS},
            "sms": len(corpus.sms),
            "discussion": len(corpus.discussion),
            "tweets": len(corpus.tweets),
            "shares": {
                "sms": SMS_SHARE,
                "discussion": DISCUSSION_SHARE if corpus.discussion else 0.0,
                "tweets": TWEETS_SHARE if corpus.tweets else 0.0,
            },
        },
        "regularisation_C": C,
        "signal_offset": "combine() text signals, default SpamConfig, established author",
        "data_files_sha256": {
            str(p.relative_to(args.data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in data_files(args.data_dir, corpus)
        },
        "heldout_files_sha256": {
            str(p.relative_to(args.data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in heldout_files(args.data_dir, corpus)
        },
        "sources": SOURCES,
        "leave_one_video_out": {
            "macro_roc_auc": shipped.macro_auc,
            "macro_roc_auc_combined_new_author": shipped.macro_auc_combined,
            "spam_held_or_rejected": shipped.macro_at_band(0),
            "spam_rejected": shipped.macro_at_band(1),
        },
        "heldout_held_rejected_new_author": {n: v["new"] for n, v in shipped.heldout.items()},
        "recommended_spam_band": list(shipped.band),
        "report": "docs/spam-classifier.md",
    }
    model = to_classifier(final, hp, provenance)
    artifact = model.save(args.out)
    loaded = SpamClassifier.load(args.out)
    probe = [t for t, _ in corpus.sms[:500]] + [t for v in VIDEOS for t, _ in corpus.videos[v]]
    if loaded.probabilities(probe) != model.probabilities(probe):
        raise RuntimeError("save/load round trip changed the scores")
    # The runtime (numpy, per text) against the training-time scores (sparse matrix).
    training_time = final.log_odds(feature_matrix(probe, hp))
    runtime = np.array([loaded.log_odds(t) for t in probe])
    max_drift = float(np.max(np.abs(training_time - runtime)))
    if max_drift > 1e-2:
        raise RuntimeError(f"runtime scores drift {max_drift} from the training-time ones")
    provenance_json = json.loads((args.out / PROVENANCE_NAME).read_text(encoding="utf-8"))

    scratch = loaded.copy()
    t0 = time.perf_counter()
    for text in probe[:200]:
        scratch.learn(text, True)
    learn_s = (time.perf_counter() - t0) / 200

    ctx: dict[str, Any] = {
        "corpus": corpus,
        "data": data,
        "judged": judged,
        "by_key": {j.scores.key: j for j in judged},
        "shipped": shipped,
        "loaded": loaded,
        "max_drift": max_drift,
        "n_probe": len(probe),
        "n_training_rows": int(np.sum(everything > 0)),
        "n_spam": n_spam,
        "artifact_bytes": artifact.stat().st_size,
        "artifact_sha256": provenance_json["artifact_sha256"],
        "stored_weights": provenance_json["stored_weights"],
        "load_s": time_load(args.out),
        "texts_per_s": time_scoring(loaded, probe[500:]),
        "learn_s": learn_s,
        "mean_chars": float(np.mean([len(t) for t in probe[500:]])),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "cpus": _cpu_count(),
        "memory_mb": 8 * (1 << int(hp["bits"])) / 2**20,
        "spot_checks": [
            (
                t,
                loaded.probability(t),
                float(combined(np.array([loaded.log_odds(t)]), [t], new_author=True)[0]),
            )
            for t in VIETNAMESE_HAM + ENGLISH_NEWS_HAM + OTHER_SPOT_CHECKS
        ],
        "learning": [
            (
                text,
                similar,
                is_spam,
                *learning_effect(loaded, text, similar, is_spam),
            )
            for text, similar, is_spam in LEARNING_PROBES
        ],
        "top_heldout": top_heldout(data, main_scores, shipped.band),
    }
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


#: (labelled text, a similar unlabelled text, label): what one learn() does, in the report.
LEARNING_PROBES = (
    (
        "Liên hệ zalo 0912345678 để nhận quà miễn phí",
        "Nhận quà miễn phí, liên hệ zalo ngay nhé",
        True,
    ),
    (
        "Kiếm tiền online 5 triệu/ngày, inbox mình nhé",
        "Kiếm tiền online tại nhà 3 triệu/ngày, inbox ngay",
        True,
    ),
    (
        "Please follow up on this story next month.",
        "Please follow up on this story next week.",
        False,
    ),
)


def top_heldout(
    data: Data, scores: Scores, band: tuple[float, float], n: int = 12
) -> list[tuple[str, str, float]]:
    """The held-out texts the packaged model rejects or holds, highest first (new author)."""
    rows = []
    for name, z in scores.heldout.items():
        texts = data.corpus.heldout[name]
        p = combined(z, texts, new_author=True)
        rows += [(name, texts[i], float(p[i])) for i in np.flatnonzero(p >= band[0])]
    return sorted(rows, key=lambda r: -r[2])[:n]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    # Run the copy imported as training.spam, the one training.spam_card imports, rather
    # than this __main__ one: a second copy would score every text's signals twice.
    from training.spam import main as _main

    raise SystemExit(_main())
