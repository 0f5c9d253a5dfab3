"""Online logistic regression over hashed n-grams: the parts every such model shares.

Two models learn from moderators this way: the spam classifier
(:mod:`workers.spam.classifier`) and the Vietnamese toxicity learner
(:mod:`workers.toxicity.vi_learning`). Both map a text to the distinct buckets of its
hashed n-grams, give each present bucket the same value (binary features at unit
length), score ``sigmoid(weights . x + bias)`` and take one SGD step on the logistic
loss per moderator label. Both replay an append-only labels table in id order, so
every worker process applies the same steps in the same order and reaches the same
weights. The hashing, the step and the replay live here, once.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
import sqlalchemy as sa

from service.db import Session

log = logging.getLogger(__name__)

# --- hashing ------------------------------------------------------------------------
# 64-bit polynomial rolling hash over code points, finished with murmur3's fmix64.
# Plain numpy uint64 arithmetic wraps mod 2**64 identically on every platform, so the
# buckets are the same in every process (unlike Python's salted hash()).
_MULT = np.uint64(0x100000001B3)
_FMIX1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT33 = np.uint64(33)
_SPACE = 32
# Word n-grams get seeds of their own, so they never share buckets with character
# n-grams on purpose (only by chance, like any two features).
_WORD_SEEDS = (np.uint64(0xD6E8FEB86659FD93), np.uint64(0xA0761D6478BD642F))


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _SHIFT33)
    h = h * _FMIX1
    h = h ^ (h >> _SHIFT33)
    h = h * _FMIX2
    return h ^ (h >> _SHIFT33)


def _ngram_seed(n: int) -> np.uint64:
    # Distinct per n, so n-grams of different lengths whose polynomials happen to coincide
    # (e.g. with leading NUL code points) still land in unrelated buckets.
    return np.uint64((0x9E3779B97F4A7C15 * n) & 0xFFFFFFFFFFFFFFFF)


_CHAR_SEEDS = tuple(_ngram_seed(n) for n in range(16))


def char_ngram_hashes(padded: str, char_min: int, char_max: int) -> list[np.ndarray]:
    """Raw 64-bit values of the character n-grams of ``padded``, one array per n.

    ``padded`` is normalised text with one space before and after it, so that the start
    and end of the text read like any word boundary. The values become buckets with
    :func:`buckets_of`.
    """
    parts: list[np.ndarray] = []
    if not char_max:
        return parts
    cps = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    h = cps
    for n in range(1, char_max + 1):
        if n > 1:
            if len(h) < 2:
                break
            h = h[:-1] * _MULT + cps[n - 1 :]
        if n < char_min:
            continue
        # A lone space is in every text and says nothing; skip it so that an unknown
        # script really has no known features.
        grams = h[cps != _SPACE] if n == 1 else h
        parts.append(grams ^ _CHAR_SEEDS[n])
    return parts


def word_ngram_hashes(words: Sequence[str], word_min: int, word_max: int) -> list[np.ndarray]:
    """Raw 64-bit values of the word 1- and 2-grams of ``words`` (``word_max`` <= 2)."""
    parts: list[np.ndarray] = []
    if not word_max:
        return parts
    # crc32 is a fixed function of the bytes (zlib's, the same everywhere). A pair of
    # 32-bit values maps one-to-one onto crc1 * _MULT + crc2 (_MULT > 2**32).
    crcs = np.array([zlib.crc32(w.encode()) for w in words], np.uint64)
    if word_min <= 1 and len(crcs):
        parts.append(crcs ^ _WORD_SEEDS[0])
    if word_max >= 2 and len(crcs) > 1:
        parts.append((crcs[:-1] * _MULT + crcs[1:]) ^ _WORD_SEEDS[1])
    return parts


def buckets_of(parts: Iterable[np.ndarray], bits: int) -> np.ndarray:
    """The sorted, distinct ``bits``-bit buckets of raw n-gram values."""
    parts = list(parts)
    if not parts:
        return np.empty(0, dtype=np.int64)
    # Each kind of n-gram has its raw value xor its own seed; one fmix64 over all of
    # them spreads every bit, and the top ``bits`` bits are the bucket.
    buckets = _fmix64(np.concatenate(parts)) >> np.uint64(64 - bits)
    return np.unique(buckets.astype(np.int64))


# --- the linear model ---------------------------------------------------------------


def feature_value(n_features: int) -> float:
    """Each present feature's value: binary features scaled to unit (L2) length."""
    return 1.0 / math.sqrt(n_features) if n_features else 0.0


def logit(p: float, eps: float = 1e-6) -> float:
    """log(p / (1 - p)), with ``p`` clipped to [eps, 1 - eps] so 0 and 1 stay finite."""
    p = min(max(p, eps), 1.0 - eps)
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    """1 / (1 + e^-z), without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def linear_log_odds(weights: np.ndarray, buckets: np.ndarray, bias: float) -> float:
    """``weights . x + bias`` for the unit-length binary features ``buckets``."""
    return float(weights[buckets].sum()) * feature_value(len(buckets)) + bias


def sgd_step(
    weights: np.ndarray,
    buckets: np.ndarray,
    bias: float,
    label: bool,
    learning_rate: float,
    weight: float = 1.0,
) -> float:
    """One SGD step on the logistic loss of one label, in place; returns P before it.

    The same step as ``SGDClassifier(loss="log_loss", penalty=None,
    learning_rate="constant", eta0=learning_rate, fit_intercept=False).partial_fit``
    with ``sample_weight=weight``: only this text's features move, the bias stays.
    """
    if weight <= 0 or not math.isfinite(weight):
        raise ValueError("weight must be a positive finite number")
    value = feature_value(len(buckets))
    p = sigmoid(linear_log_odds(weights, buckets, bias))
    weights[buckets] += learning_rate * weight * (float(label) - p) * value
    return p


# --- replaying a labels table -------------------------------------------------------


def replay(
    session: Session,
    id_column: Any,
    query: Callable[[int], sa.Select[Any]],
    learn: Callable[[Any], None],
    after_id: int,
    limit: int = 5000,
) -> tuple[int, int]:
    """Feed ``learn`` every row of ``query(last_id)`` with id > ``after_id``, in id order.

    ``query(last_id)`` selects the label rows after ``last_id`` (it must filter on
    ``id_column > last_id``); pages of ``limit`` rows are read until one comes back
    short. Returns (the last id applied, how many rows).
    """
    last, count = after_id, 0
    while True:
        rows = session.execute(query(last).order_by(id_column).limit(limit)).all()
        for row in rows:
            learn(row)
            last = row.id
        count += len(rows)
        if len(rows) < limit:
            return last, count


M = TypeVar("M")


class LabelReplayer(ABC, Generic[M]):
    """A process's model, kept up to date with an append-only labels table.

    Each worker process starts from the same weights and replays the rows it has not
    seen, in id order, at most every ``refresh_s``. Steps do not commute, but every
    process applies the same steps in the same order, so every process reaches the same
    model, bit for bit. A request that adds a label never waits for any of this.

    Ids are assigned in commit order only roughly: a label committed late with a smaller
    id than one already applied is skipped by the processes that are past it. Labels are
    rare and each is one small step, so this is accepted rather than paid for with a lock.
    """

    #: what the log lines call the model
    name = "model"

    def __init__(self, model: M, through: int, refresh_s: float) -> None:
        self.model = model
        self.through = through
        self.refresh_s = refresh_s
        self._checked_at = float("-inf")

    @abstractmethod
    def apply(self, session: Session, after_id: int) -> tuple[int, int]:
        """Learn the labels with id > ``after_id``; (the last id applied, how many)."""

    def current(self, session: Session) -> M:
        """The model with every label up to ``refresh_s`` ago applied."""
        now = time.monotonic()
        if now - self._checked_at >= self.refresh_s:
            self.through, learned = self.apply(session, self.through)
            self._checked_at = now
            if learned:
                log.info("%s learned %d label(s), through id %d", self.name, learned, self.through)
        return self.model
