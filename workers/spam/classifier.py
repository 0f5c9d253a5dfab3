"""A hashed character n-gram multinomial naive Bayes spam classifier (numpy only).

Why this model: its whole state is two additive count tables (spam, ham), so a
moderator's "this is spam" / "this is ham" decision is an exact online update
(add this text's n-gram counts to one class), and every worker process that
applies the same labels to the same artifact ends up with the same model.
Character n-grams need no tokenizer and see Vietnamese diacritics as well as
English words, URLs and phone-number shapes.

Scoring ignores n-gram buckets never seen in training (count 0 in both classes),
so a script or language the model has never seen adds no evidence instead of
being pushed toward the class with fewer total counts. The NB class-prior term is
left out of the log-odds; the calibration ``sigmoid(temperature * LLR /
sqrt(n_known) + bias)`` has its bias pinned to the logit of the training class
prior (fitted by training/spam.py), so a text with no known n-gram scores exactly
that prior. docs/spam-classifier.md has the evaluation.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MODEL_DIR", "SpamClassifier", "normalize"]

#: Where the packaged artifact lives; found relative to this module, never via ../shared.
MODEL_DIR = Path(__file__).resolve().parent / "model"
ARTIFACT_NAME = "spam-nb.npz"
PROVENANCE_NAME = "spam-nb.json"
MODEL_FAMILY = "nb-char-1.0"
FORMAT_VERSION = 1
IDENTITY_CALIBRATION: dict[str, float] = {"temperature": 1.0, "bias": 0.0}

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "bits": 18,  # 2**18 buckets; only non-zero buckets are stored
    "min_n": 1,
    "max_n": 5,
    "alpha": 0.5,  # additive smoothing of the per-bucket counts
    "binary": True,  # count each n-gram once per text: repeated "!!!!" is one signal
    "min_count": 2,  # buckets seen fewer times in the whole corpus are dropped at train time
    "length_norm": "sqrt",  # divide the log-odds by sqrt(known n-grams); or "none"
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


def _url_replacement(match: re.Match[str]) -> str:
    host = _HOST_RE.match(match.group(0))
    return f" {URL_MARK} {host.group(1) if host else ''} "


def normalize(text: str) -> str:
    """Return the canonical form of ``text`` that the n-grams are taken from."""
    text = unicodedata.normalize("NFC", text).lower()
    # Format characters (zero-width space/joiner, BOM, bidi marks) are invisible and a
    # common filter-evasion trick; dropping them makes "fr\u200bee" read as "free".
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    # Keep the host (bit.ly, youtube.com carry signal), drop the path: paths are random
    # ids that only add one-off n-grams, and the marker lets "has a link" be learned.
    text = _URL_RE.sub(_url_replacement, text)
    # Any digit becomes 0, so phone numbers and prices share shapes ("0000000000")
    # across countries instead of being memorised digit by digit.
    text = _DIGIT_RE.sub("0", text)
    return _WS_RE.sub(" ", text).strip()


# 64-bit polynomial rolling hash over code points, finished with murmur3's fmix64.
# Plain numpy uint64 arithmetic wraps mod 2**64 identically on every platform, so the
# buckets are the same in every process (unlike Python's salted hash()).
_MULT = np.uint64(0x100000001B3)
_FMIX1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT33 = np.uint64(33)
_SPACE = 32


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


def ngram_buckets(text: str, bits: int, min_n: int, max_n: int, binary: bool) -> np.ndarray:
    """Return the bucket index of every character n-gram of ``normalize(text)``."""
    norm = normalize(text)
    if not norm:
        return np.empty(0, dtype=np.int64)
    # One space of padding marks the start and end of the text like any word boundary.
    cps = np.frombuffer(f" {norm} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    shift = np.uint64(64 - bits)
    parts: list[np.ndarray] = []
    h = cps.copy()
    for n in range(1, max_n + 1):
        if n > 1:
            if len(h) < 2:
                break
            h = h[:-1] * _MULT + cps[n - 1 :]
        if n < min_n:
            continue
        # A lone space is in every text and says nothing; skip it so that an unknown
        # script really has no known features.
        grams = h[cps != _SPACE] if n == 1 else h
        parts.append(_fmix64(grams ^ _ngram_seed(n)) >> shift)
    buckets = np.concatenate(parts).astype(np.int64) if parts else np.empty(0, dtype=np.int64)
    return np.unique(buckets) if binary else buckets


def scaled_log_odds(llr: float, n_known: int, length_norm: str) -> float:
    """The log-odds the calibration sees: divided by sqrt(known n-grams) for "sqrt"."""
    if length_norm == "sqrt" and n_known:
        # Overlapping n-grams are far from independent, so NB evidence grows about linearly
        # with length and long texts get absurd odds; sqrt scaling treats it like a sum of
        # noisy votes. (Held-out log-loss and recall at 0.9 are better; see the report.)
        return llr / math.sqrt(n_known)
    return llr


def logit(p: float, eps: float = 1e-6) -> float:
    """log(p / (1 - p)), with ``p`` clipped to [eps, 1 - eps] so 0 and 1 stay finite."""
    p = min(max(p, eps), 1.0 - eps)
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class SpamClassifier:
    """Calibrated P(spam) from hashed character n-grams and multinomial naive Bayes."""

    def __init__(
        self,
        spam_counts: np.ndarray,
        ham_counts: np.ndarray,
        hyperparameters: dict[str, Any],
        *,
        calibration: dict[str, float] | None = None,
        base_version: str = MODEL_FAMILY,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        """Build a classifier from per-bucket counts (use ``load`` or ``train`` instead)."""
        self.hyperparameters = {**DEFAULT_HYPERPARAMETERS, **hyperparameters}
        size = 1 << int(self.hyperparameters["bits"])
        if spam_counts.shape != (size,) or ham_counts.shape != (size,):
            raise ValueError(f"count tables must have shape ({size},)")
        self._spam = np.asarray(spam_counts, dtype=np.float64).copy()
        self._ham = np.asarray(ham_counts, dtype=np.float64).copy()
        self.calibration = {**IDENTITY_CALIBRATION, **(calibration or {})}
        self.base_version = base_version
        self.provenance: dict[str, Any] = dict(provenance or {})
        self.labels_learned = 0
        self._alpha = float(self.hyperparameters["alpha"])
        self._rebuild()

    # --- derived tables -------------------------------------------------------------

    def _rebuild(self) -> None:
        # Per-bucket log ratio without the class totals; the totals enter per text (see
        # evidence), which is what lets learn() touch only the text's own buckets.
        self._known = (self._spam > 0) | (self._ham > 0)
        self._ratio = np.where(
            self._known, np.log(self._spam + self._alpha) - np.log(self._ham + self._alpha), 0.0
        )
        self._spam_total = float(self._spam.sum())
        self._ham_total = float(self._ham.sum())

    def _total_term(self) -> float:
        smoothing = self._alpha * len(self._spam)
        return math.log(self._ham_total + smoothing) - math.log(self._spam_total + smoothing)

    def _buckets(self, text: str) -> np.ndarray:
        hp = self.hyperparameters
        return ngram_buckets(
            text, int(hp["bits"]), int(hp["min_n"]), int(hp["max_n"]), bool(hp["binary"])
        )

    @property
    def version(self) -> str:
        """Artifact identity, plus ``+<n>labels`` once online updates were applied."""
        if self.labels_learned:
            return f"{self.base_version}+{self.labels_learned}labels"
        return self.base_version

    @property
    def prior_probability(self) -> float:
        """The score of a text with no known features: ``sigmoid(bias)``."""
        return _sigmoid(self.calibration["bias"])

    # --- scoring --------------------------------------------------------------------

    def evidence(self, text: str) -> tuple[float, int]:
        """The NB log-likelihood ratio over known n-grams, and how many were known."""
        buckets = self._buckets(text)
        known = buckets[self._known[buckets]]
        llr = float(self._ratio[known].sum()) + len(known) * self._total_term()
        return llr, len(known)

    def probability(self, text: str) -> float:
        """Calibrated P(spam) in [0, 1]."""
        return self.calibrate(*self.evidence(text))

    def probabilities(self, texts: Sequence[str]) -> list[float]:
        """Calibrated P(spam) for each text, in order."""
        return [self.probability(text) for text in texts]

    def calibrate(self, llr: float, n_known: int) -> float:
        """Map NB evidence (see ``evidence``) to a calibrated probability."""
        x = scaled_log_odds(llr, n_known, self.hyperparameters["length_norm"])
        return _sigmoid(self.calibration["temperature"] * x + self.calibration["bias"])

    # --- online updates -------------------------------------------------------------

    def learn(self, text: str, is_spam: bool, weight: float = 1.0) -> None:
        """Add ``text``'s n-gram counts to one class (a moderator's label); O(len(text))."""
        if weight <= 0 or not math.isfinite(weight):
            raise ValueError("weight must be a positive finite number")
        buckets = self._buckets(text)
        counts = self._spam if is_spam else self._ham
        # np.add.at handles repeated buckets (binary=False) correctly; fancy += would not.
        np.add.at(counts, buckets, weight)
        touched = np.unique(buckets)
        self._known[touched] = True
        self._ratio[touched] = np.log(self._spam[touched] + self._alpha) - np.log(
            self._ham[touched] + self._alpha
        )
        if is_spam:
            self._spam_total += weight * len(buckets)
        else:
            self._ham_total += weight * len(buckets)
        self.labels_learned += 1

    def copy(self) -> SpamClassifier:
        """An independent deep copy (learning on it leaves this one unchanged)."""
        clone = SpamClassifier.__new__(SpamClassifier)
        clone.__dict__.update(self.__dict__)
        for name in ("_spam", "_ham", "_known", "_ratio"):
            setattr(clone, name, getattr(self, name).copy())
        clone.hyperparameters = dict(self.hyperparameters)
        clone.calibration = dict(self.calibration)
        clone.provenance = json.loads(json.dumps(self.provenance))
        return clone

    # --- persistence ----------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write ``spam-nb.npz`` and ``spam-nb.json`` into ``directory``; return the npz path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # Only non-zero buckets are stored, as index deltas (small numbers compress well).
        index = np.flatnonzero(self._known)
        arrays = {
            "index_delta": np.diff(index, prepend=0).astype(np.uint32),
            "spam": _compact(self._spam[index]),
            "ham": _compact(self._ham[index]),
        }
        meta = {
            "format": FORMAT_VERSION,
            "family": MODEL_FAMILY,
            "hyperparameters": self.hyperparameters,
            "calibration": self.calibration,
            "labels_learned": self.labels_learned,
            # learn() keeps running totals; storing them (JSON floats round-trip exactly)
            # rather than re-summing on load keeps scores identical to the last bit.
            "totals": [self._spam_total, self._ham_total],
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
        data = _npz_bytes(arrays)
        artifact = directory / ARTIFACT_NAME
        artifact.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        provenance = {
            **self.provenance,
            "artifact": ARTIFACT_NAME,
            "artifact_sha256": digest,
            "artifact_bytes": len(data),
            "version": f"{MODEL_FAMILY}+{digest[:12]}",
            "calibration": self.calibration,
            "hyperparameters": self.hyperparameters,
            "stored_buckets": len(index),
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
            size = 1 << int(meta["hyperparameters"]["bits"])
            spam, ham = np.zeros(size), np.zeros(size)
            spam[index] = npz["spam"]
            ham[index] = npz["ham"]
        provenance_file = artifact.with_suffix(".json")
        provenance = (
            json.loads(provenance_file.read_text(encoding="utf-8"))
            if provenance_file.exists()
            else {}
        )
        model = cls(
            spam,
            ham,
            meta["hyperparameters"],
            calibration=meta["calibration"],
            base_version=f"{MODEL_FAMILY}+{hashlib.sha256(data).hexdigest()[:12]}",
            provenance=provenance,
        )
        model._spam_total, model._ham_total = (float(t) for t in meta["totals"])
        return model

    # --- training -------------------------------------------------------------------

    @staticmethod
    def train(examples: Iterable[tuple[str, bool]], **hyperparameters: Any) -> SpamClassifier:
        """Train from ``(text, is_spam)`` pairs (an optional third item is a weight).

        Hyperparameters (defaults in ``DEFAULT_HYPERPARAMETERS``): ``bits``, ``min_n``,
        ``max_n``, ``alpha``, ``binary``, ``min_count``, ``length_norm``; and
        ``calibration`` (a dict like ``IDENTITY_CALIBRATION``; default: identity).
        """
        calibration = hyperparameters.pop("calibration", None)
        unknown = set(hyperparameters) - set(DEFAULT_HYPERPARAMETERS)
        if unknown:
            raise TypeError(f"unknown hyperparameters: {sorted(unknown)}")
        hp = {**DEFAULT_HYPERPARAMETERS, **hyperparameters}
        size = 1 << int(hp["bits"])
        buckets: dict[bool, list[np.ndarray]] = {True: [], False: []}
        weights: dict[bool, list[np.ndarray]] = {True: [], False: []}
        for text, label, *rest in examples:
            is_spam = bool(label)
            weight = float(rest[0]) if rest else 1.0
            b = ngram_buckets(
                text, int(hp["bits"]), int(hp["min_n"]), int(hp["max_n"]), bool(hp["binary"])
            )
            buckets[is_spam].append(b)
            weights[is_spam].append(np.full(len(b), weight))
        tables, seen = [], np.zeros(size)
        for cls in (True, False):
            idx = np.concatenate(buckets[cls] or [np.empty(0, np.int64)])
            w = np.concatenate(weights[cls] or [np.empty(0)])
            tables.append(np.bincount(idx, weights=w, minlength=size).astype(np.float64))
            seen += np.bincount(idx, minlength=size)
        # Rounded to float32 so the artifact can store them as float32 exactly.
        spam, ham = (t.astype(np.float32).astype(np.float64) for t in tables)
        # Buckets seen fewer than min_count times in the whole corpus (unweighted) are
        # one-off n-grams (names, ids): they do not generalise, and dropping them keeps the
        # artifact small and most buckets empty, so unseen text really is ignored.
        rare = seen < float(hp["min_count"])
        spam[rare] = 0.0
        ham[rare] = 0.0
        provenance = {"trained_examples": {"spam": len(buckets[True]), "ham": len(buckets[False])}}
        return SpamClassifier(spam, ham, hp, calibration=calibration, provenance=provenance)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    # Like np.savez_compressed, but with fixed zip timestamps so the same counts always
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
    # The smallest dtype that holds the counts exactly, so that a save/load round trip
    # gives identical scores: unsigned ints for whole counts, float32 when that is exact
    # (weighted training counts are rounded to float32 for this), else float64.
    if values.size == 0 or (np.all(values == np.round(values)) and values.min() >= 0):
        top = values.max(initial=0)
        for dtype in (np.uint8, np.uint16, np.uint32):
            if top <= np.iinfo(dtype).max:
                return values.astype(dtype)
    as32 = values.astype(np.float32)
    return as32 if np.array_equal(as32.astype(np.float64), values) else values.astype(np.float64)
