"""The toxicity training data: three public sources mapped onto Detoxify's six labels.

Each row has a target in [0, 1] per label and a mask that says which labels its source
can speak to (a label a source does not annotate is left out of the loss and of the
figures, never read as "no"):

* Jigsaw (Wikipedia talk pages): all six labels, human 0/1.
* Civil Comments toxic spans (news comments): the share of a post's annotators who
  marked a span of each type (Insult -> insult, Profane/Obscene -> obscene, Identity
  based Attack -> identity_attack, Threat -> threat; any span, or "all toxic", ->
  toxicity). No severe_toxicity. Every post was pre-flagged toxic, so its "clean" posts
  are borderline, not clean: they are never used as clean comments in the rates.
* Davidson (tweets): toxicity = share of coders who said hate or offensive,
  identity_attack = share who said hate. Nothing else.

Splits are made per source from a hash of the normalised text, so exact and trivial
duplicates always land together; then any validation or test row whose character
n-gram TF-IDF cosine to a training row reaches ``NEAR_DUPLICATE_COSINE`` is dropped.
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
# Detoxify "original"'s class names, in the same order (Detoxify renames them on load)
CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")

SPLITS = ("train", "val", "test")
# percent of each source's rows (by text hash) in val and test
VAL_PCT, TEST_PCT = 15, 15
NEAR_DUPLICATE_COSINE = 0.8

CIVIL_SPAN_LABELS = {
    "Insult": "insult",
    "Profane/Obscene": "obscene",
    "Identity based Attack": "identity_attack",
    "Threat": "threat",
}


@dataclass
class Rows:
    """Texts with per-label targets, masks and bookkeeping columns."""

    text: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    split: list[str] = field(default_factory=list)
    # Jigsaw's natural-balance subset (in_random_5k); False elsewhere
    natural: list[bool] = field(default_factory=list)
    targets: list[list[float]] = field(default_factory=list)
    masks: list[list[bool]] = field(default_factory=list)

    def add(self, text: str, source: str, target: dict[str, float], natural: bool = False) -> None:
        self.text.append(text)
        self.source.append(source)
        self.split.append(_split_of(source, text))
        self.natural.append(natural)
        self.targets.append([float(target.get(label, 0.0)) for label in LABELS])
        self.masks.append([label in target for label in LABELS])

    def __len__(self) -> int:
        return len(self.text)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(targets, masks) as float32 and bool arrays of shape (rows, labels)."""
        return np.asarray(self.targets, np.float32), np.asarray(self.masks, bool)

    def select(self, keep: np.ndarray) -> Rows:
        """The rows where ``keep`` (a boolean array) is true."""
        idx = np.flatnonzero(keep)
        out = Rows()
        for name in ("text", "source", "split", "natural", "targets", "masks"):
            column = getattr(self, name)
            setattr(out, name, [column[i] for i in idx])
        return out


def normalise_key(text: str) -> str:
    """Lowercase letters and digits only: the key that keeps duplicates in one split."""
    return re.sub(r"[^0-9a-z]+", " ", text.lower()).strip()


def _split_of(source: str, text: str) -> str:
    bucket = int(hashlib.sha256(normalise_key(text).encode()).hexdigest()[:8], 16) % 100
    if bucket < TEST_PCT:
        return "test"
    if bucket < TEST_PCT + VAL_PCT:
        return "val"
    return "train"


def load_jigsaw(data_dir: Path, rows: Rows) -> None:
    with open(data_dir / "jigsaw-toxic-comment-train" / "train.csv", newline="") as f:
        for rec in csv.DictReader(f):
            target = {label: float(rec[cls]) for label, cls in zip(LABELS, CLASSES, strict=True)}
            rows.add(rec["comment_text"], "jigsaw", target, natural=rec["in_random_5k"] == "1")


def load_civil(data_dir: Path, rows: Rows) -> None:
    folder = data_dir / "civil-comments-toxic-spans-annotations"
    span_types: dict[str, set[str]] = defaultdict(set)
    with open(folder / "spans.csv", newline="") as f:
        for rec in csv.DictReader(f):
            span_types[rec["annotation"]].add(rec["type"])
    votes: dict[str, list[dict[str, float]]] = defaultdict(list)
    with open(folder / "annotations.csv", newline="") as f:
        for rec in csv.DictReader(f):
            types = span_types.get(rec["annotation"], set())
            vote = {label: float(span in types) for span, label in CIVIL_SPAN_LABELS.items()}
            vote["toxicity"] = float(bool(types) or rec["all toxic"] == "True")
            votes[rec["comment_id"]].append(vote)
    with open(folder / "comments.csv", newline="") as f:
        for rec in csv.DictReader(f):
            ballots = votes.get(rec["comment_id"])
            if not ballots or not rec["comment_text"].strip():
                continue
            target = {label: sum(b[label] for b in ballots) / len(ballots) for label in ballots[0]}
            rows.add(rec["comment_text"], "civil", target)


_MENTION = re.compile(r"@\w+")
_RT = re.compile(r"^\s*(?:!+\s*)?RT\s+@user:?\s*")


def clean_tweet(text: str) -> str:
    """Tweets as comments: entities decoded, handles anonymised, the retweet prefix gone."""
    text = _MENTION.sub("@user", html.unescape(text))
    return _RT.sub("", text).strip()


def load_davidson(data_dir: Path, rows: Rows) -> None:
    with open(data_dir / "davidson-hate-offensive" / "labeled_data.csv", newline="") as f:
        for rec in csv.DictReader(f):
            count = float(rec["count"])
            text = clean_tweet(rec["tweet"])
            if not text:
                continue
            target = {
                "toxicity": (float(rec["hate_speech"]) + float(rec["offensive_language"])) / count,
                "identity_attack": float(rec["hate_speech"]) / count,
            }
            rows.add(text, "davidson", target)


def load_all(data_dir: Path) -> Rows:
    """Every row of the three sources, with its split."""
    rows = Rows()
    load_jigsaw(data_dir, rows)
    load_civil(data_dir, rows)
    load_davidson(data_dir, rows)
    return rows


def drop_near_duplicates(rows: Rows, threshold: float = NEAR_DUPLICATE_COSINE) -> tuple[Rows, int]:
    """Drop val/test rows too similar to any training row; return the rows and how many went."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    split = np.asarray(rows.split)
    train = np.flatnonzero(split == "train")
    held = np.flatnonzero(split != "train")
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True)
    train_m = vec.fit_transform([rows.text[i] for i in train])
    held_m = vec.transform([rows.text[i] for i in held])
    keep = np.ones(len(rows), bool)
    for start in range(0, held_m.shape[0], 512):
        block = held_m[start : start + 512] @ train_m.T
        best = block.max(axis=1).toarray().ravel()
        keep[held[start : start + 512][best >= threshold]] = False
    return rows.select(keep), int((~keep).sum())


def is_clean(targets: np.ndarray, masks: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Rows every annotated label calls clean (< 0.5), from sources with real clean rows."""
    clean = ~((targets >= 0.5) & masks).any(axis=1)
    # Civil Comments' "clean" posts were all flagged toxic before: borderline, not clean
    return clean & (sources != "civil")


def is_toxic(targets: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Rows whose toxicity label (or any annotated label) is >= 0.5."""
    return ((targets >= 0.5) & masks).any(axis=1)
