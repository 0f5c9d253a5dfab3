"""A logistic regression spam classifier over hashed word and character n-grams (numpy only).

Why this model: a linear model over hashed features needs no vocabulary, so a text in
any script maps to features, and a moderator's "this is spam" / "this is ham" decision
is one stochastic gradient step on the logistic loss (what scikit-learn's
``SGDClassifier.partial_fit`` does), applied to the few weights of that text's
features. Every worker process replays the same labels in the same order (their ids)
from the same artifact, so every process ends up with the same weights.

Features: character 1- to 5-grams (they see Vietnamese diacritics, URLs and
phone-number shapes as well as English) and word 1- and 2-grams (they see phrases:
"check out", "my channel", "subscribe"), each present once per text, hashed with fixed
functions into ``2**bits`` buckets and scaled to unit length. Buckets that training never
saw have weight 0, so an unseen script adds no evidence and scores ``sigmoid(bias)``.

The weights are fitted by ``training/spam.py`` (scikit-learn and scipy live there, never
here) together with the rule-based text signals of ``workers.spam.signals``: the model
learns what the signals do not already say, so that ``combine()`` of the two is the
calibrated log-odds. docs/spam-classifier.md has the evaluation.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workers.online import (
    buckets_of,
    char_ngram_hashes,
    feature_value,
    linear_log_odds,
    logit,
    sgd_step,
    sigmoid,
    word_ngram_hashes,
)

__all__ = [
    "MODEL_DIR",
    "SpamClassifier",
    "feature_value",
    "hashed_features",
    "logit",
    "normalize",
    "sigmoid",
]

#: Where the packaged artifact lives; found relative to this module, never via ../shared.
MODEL_DIR = Path(__file__).resolve().parent / "model"
ARTIFACT_NAME = "spam-lr.npz"
PROVENANCE_NAME = "spam-lr.json"
MODEL_FAMILY = "lr-hash-2.0"
FORMAT_VERSION = 2

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "bits": 20,  # 2**20 buckets; only non-zero weights are stored
    "char_ngrams": [1, 5],  # character n-grams, smallest and largest n
    "word_ngrams": [1, 2],  # word n-grams, smallest and largest n (0: none)
    # learn(): the step of one label. With unit-length features, one label moves its own
    # text's log-odds by learning_rate * (label - p) and a similar text's by that times
    # their cosine similarity (docs/spam-classifier.md measures it).
    "learning_rate": 4.0,
}

# URLs: a scheme or "www." prefix, or a bare host with a common TLD ("bit.ly/xyz").
# Not the shared service.comments.text.URL (other TLDs): this one is part of the
# model's features, the packaged artifact was trained with it, and retraining must
# reproduce that artifact exactly. Adopt the shared one with a retrain and a new
# MODEL_FAMILY.
_URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+"
    r"|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\."
    r"(?:com|net|org|info|biz|ly|io|co|me|tv|gl|be|us|uk|vn|xyz|ru|de|in|to|cc|gg|link|site|online)"
    r"\b(?:/[^\s<>\"']*)?"
)
_HOST_RE = re.compile(r"^(?:https?://)?(?:www\.)?([\w.-]+)")
_WS_RE = re.compile(r"\s+")
_DIGIT_RE = re.compile(r"\d")
# A private-use character marks "a URL was here"; it cannot occur in normalised text.
URL_MARK = "\ue000"
# Words: runs of letters and digits (any script), and the URL marker as a word of its own.
_WORD_RE = re.compile(r"[^\W_]+|" + URL_MARK)


def _url_replacement(match: re.Match[str]) -> str:
    host = _HOST_RE.match(match.group(0))
    return f" {URL_MARK} {host.group(1) if host else ''} "


def normalize(text: str) -> str:
    """Return the canonical form of ``text`` that the n-grams are taken from."""
    text = unicodedata.normalize("NFC", text).lower()
    # Format characters (zero-width space/joiner, BOM, bidi marks) are invisible and a
    # common filter-evasion trick; dropping them makes "fr\u200bee" read as "free".
    # (ASCII has none: most English comments skip the per-character look-up.)
    if not text.isascii():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    # Keep the host (bit.ly, youtube.com carry signal), drop the path: paths are random
    # ids that only add one-off n-grams, and the marker lets "has a link" be learned.
    text = _URL_RE.sub(_url_replacement, text)
    # Any digit becomes 0, so phone numbers and prices share shapes ("0000000000")
    # across countries instead of being memorised digit by digit.
    text = _DIGIT_RE.sub("0", text)
    return _WS_RE.sub(" ", text).strip()


def hashed_features(
    text: str, bits: int, char_ngrams: Sequence[int], word_ngrams: Sequence[int]
) -> np.ndarray:
    """The sorted, distinct buckets of ``normalize(text)``'s character and word n-grams."""
    norm = normalize(text)
    if not norm:
        return np.empty(0, dtype=np.int64)
    parts = char_ngram_hashes(f" {norm} ", *char_ngrams)
    parts += word_ngram_hashes(_WORD_RE.findall(norm), *word_ngrams)
    return buckets_of(parts, bits)


class SpamClassifier:
    """P(spam) = sigmoid(weights . features(text) + bias), learning online from labels."""

    def __init__(
        self,
        weights: np.ndarray,
        bias: float,
        hyperparameters: dict[str, Any],
        *,
        base_version: str = MODEL_FAMILY,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        """Build a classifier from its weights (``load`` reads the packaged one)."""
        self.hyperparameters = {**DEFAULT_HYPERPARAMETERS, **hyperparameters}
        size = 1 << int(self.hyperparameters["bits"])
        if weights.shape != (size,):
            raise ValueError(f"weights must have shape ({size},)")
        self.weights = np.asarray(weights, dtype=np.float64).copy()
        self.bias = float(bias)
        self.base_version = base_version
        self.provenance: dict[str, Any] = dict(provenance or {})
        self.labels_learned = 0

    @property
    def version(self) -> str:
        """Artifact identity, plus ``+<n>labels`` once online updates were applied."""
        if self.labels_learned:
            return f"{self.base_version}+{self.labels_learned}labels"
        return self.base_version

    @property
    def prior_probability(self) -> float:
        """The score of a text with no known features: ``sigmoid(bias)``."""
        return sigmoid(self.bias)

    # --- scoring --------------------------------------------------------------------

    def features(self, text: str) -> np.ndarray:
        """The text's feature buckets (each with value ``feature_value(len(...))``)."""
        hp = self.hyperparameters
        return hashed_features(text, int(hp["bits"]), hp["char_ngrams"], hp["word_ngrams"])

    def log_odds(self, text: str) -> float:
        """The classifier's log-odds of spam (before the rule-based signals)."""
        return linear_log_odds(self.weights, self.features(text), self.bias)

    def known_features(self, text: str) -> int:
        """How many of the text's feature buckets have a weight (were seen in training)."""
        return int(np.count_nonzero(self.weights[self.features(text)]))

    def probability(self, text: str) -> float:
        """P(spam) in [0, 1]."""
        return sigmoid(self.log_odds(text))

    def probabilities(self, texts: Sequence[str]) -> list[float]:
        """P(spam) for each text, in order."""
        return [self.probability(text) for text in texts]

    # --- online updates -------------------------------------------------------------

    def learn(self, text: str, is_spam: bool, weight: float = 1.0) -> None:
        """One SGD step on the logistic loss of this label (a moderator's decision).

        The same step as ``SGDClassifier(loss="log_loss", penalty=None,
        learning_rate="constant", eta0=learning_rate, fit_intercept=False).partial_fit``
        with ``sample_weight=weight``: only this text's features move, and the bias stays
        (moderator labels are not a sample of the site's traffic).
        """
        rate = float(self.hyperparameters["learning_rate"])
        sgd_step(self.weights, self.features(text), self.bias, is_spam, rate, weight)
        self.labels_learned += 1

    def copy(self) -> SpamClassifier:
        """An independent deep copy (learning on it leaves this one unchanged)."""
        clone = SpamClassifier.__new__(SpamClassifier)
        clone.__dict__.update(self.__dict__)
        clone.weights = self.weights.copy()
        clone.hyperparameters = json.loads(json.dumps(self.hyperparameters))
        clone.provenance = json.loads(json.dumps(self.provenance))
        return clone

    # --- persistence ----------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write the artifact and its provenance JSON into ``directory``; return the npz."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # Only non-zero weights are stored, as index deltas (small numbers compress well).
        index = np.flatnonzero(self.weights)
        meta = {
            "format": FORMAT_VERSION,
            "family": MODEL_FAMILY,
            "hyperparameters": self.hyperparameters,
            "bias": self.bias,  # a JSON float round-trips exactly
            "labels_learned": self.labels_learned,
        }
        data = _npz_bytes(
            {
                "index_delta": np.diff(index, prepend=0).astype(np.uint32),
                "weights": _compact(self.weights[index]),
                "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
            }
        )
        artifact = directory / ARTIFACT_NAME
        artifact.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        provenance = {
            **self.provenance,
            "artifact": ARTIFACT_NAME,
            "artifact_sha256": digest,
            "artifact_bytes": len(data),
            "version": f"{MODEL_FAMILY}+{digest[:12]}",
            "bias": self.bias,
            "hyperparameters": self.hyperparameters,
            "stored_weights": len(index),
        }
        if self.labels_learned:
            # Saved after online updates: say which artifact and how many labels it came from.
            provenance["derived_from"] = self.version
        (directory / PROVENANCE_NAME).write_text(
            json.dumps(provenance, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        return artifact

    @classmethod
    def load(cls, path: str | Path | None = None) -> SpamClassifier:
        """Load an artifact (a directory or the .npz); None: the packaged one in ``model/``."""
        path = MODEL_DIR if path is None else Path(path)
        artifact = path / ARTIFACT_NAME if path.is_dir() else path
        data = artifact.read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"{artifact}: unsupported artifact format {meta.get('format')}")
            index = np.cumsum(npz["index_delta"].astype(np.int64))
            weights = np.zeros(1 << int(meta["hyperparameters"]["bits"]))
            weights[index] = npz["weights"]
        provenance_file = artifact.with_suffix(".json")
        provenance = (
            json.loads(provenance_file.read_text(encoding="utf-8"))
            if provenance_file.exists()
            else {}
        )
        return cls(
            weights,
            meta["bias"],
            meta["hyperparameters"],
            base_version=f"{MODEL_FAMILY}+{hashlib.sha256(data).hexdigest()[:12]}",
            provenance=provenance,
        )


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    # Like np.savez_compressed, but with fixed zip timestamps so the same weights always
    # give the same bytes, hence the same sha256 and version string.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, member.getvalue())
    return buffer.getvalue()


def _compact(values: np.ndarray) -> np.ndarray:
    # The smallest float type that holds the weights exactly, so that a save/load round
    # trip gives identical scores: training rounds its weights to float16 (see
    # training/spam.py); weights moved by learn() need float64.
    for dtype in (np.float16, np.float32):
        narrow = values.astype(dtype)
        if np.array_equal(narrow.astype(np.float64), values):
            return narrow
    return values.astype(np.float64)
