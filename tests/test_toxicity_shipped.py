"""The shipped English model: its files, its assembly, and real scores through Detoxify."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from config import Settings
from config.settings import SHIPPED_TOXICITY_MODEL
from tests.test_toxicity_checkpoint import DETOXIFY_CLASSES, run_offline
from workers.pipeline.decision import APPROVED, PolicyConfig, PolicyInput, decide
from workers.toxicity import shipped
from workers.toxicity.checkpoint import sha256_file

CLEAN = [
    "Thanks, this explains the new tax rules clearly.",
    "Great reporting, I had no idea the bridge was that old.",
    "I disagree with the mayor, but this article is fair to both sides.",
    "Could you add a map of the new bus routes?",
]
TOXIC = [
    "You are a pathetic idiot and everyone hates you",
    "Shut up, you stupid moron.",
    "What a disgusting piece of shit you are.",
]
THREAT = "I am going to find you and kill you."

# The worker's own path, in a fresh interpreter with no network and empty caches:
# DetoxifyScorer assembles the shipped model into MODELS_DIR and loads it through Detoxify.
_SCORE_SCRIPT = """
import json, sys
from workers.toxicity.scorer import DetoxifyScorer

scorer = DetoxifyScorer(model_type=sys.argv[1], models_dir=sys.argv[2])
texts = json.loads(sys.argv[3])
scores = scorer.score(texts)
# Detoxify's own predict on the whole list, and ours cut into many small model calls
predicted = scorer._model.predict(texts)
scorer.batch_tokens = 40
calls = [call for call, _ in scorer.score_batches(texts)]
print(json.dumps({"name": scorer.name, "version": scorer.version,
                  "checkpoint": scorer.checkpoint, "sha256": scorer.checkpoint_sha256,
                  "scores": scores, "predicted": predicted, "small_calls": calls,
                  "small_scores": scorer.score(texts)}))
"""


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("shipped")
    texts = [*CLEAN, *TOXIC, THREAT]
    args = [SHIPPED_TOXICITY_MODEL, str(tmp / "models"), json.dumps(texts)]
    out = run_offline(_SCORE_SCRIPT, args, tmp)
    out["by_text"] = dict(zip(texts, out["scores"], strict=True))
    return out


def test_batched_scores_are_detoxify_predict_scores(scored: dict) -> None:
    """Tokenised once and padded per call, the texts score as ``Detoxify.predict`` scores them."""
    assert len(scored["small_calls"]) > 1  # the small budget really cut the batch
    assert sorted(i for call in scored["small_calls"] for i in call) == list(
        range(len(scored["scores"]))
    )
    for i, ours in enumerate(scored["scores"]):
        for label, value in ours.items():
            assert value == pytest.approx(scored["predicted"][label][i], abs=1e-5)
            assert scored["small_scores"][i][label] == pytest.approx(value, abs=1e-5)


def _decision(scores: dict[str, float]) -> tuple[str, set[str]]:
    settings = Settings.from_env({})
    decision = decide(
        PolicyInput(toxicity=scores, toxicity_model=SHIPPED_TOXICITY_MODEL, language="en"),
        PolicyConfig(toxicity_bands=settings.toxicity_bands, spam_band=settings.spam_band),
    )
    labels = {r["label"] for r in decision.reasons if r["rule"] == "toxicity"}
    return decision.status, labels


def test_shipped_files_match_the_manifest() -> None:
    man = shipped.manifest()
    assert man.name == SHIPPED_TOXICITY_MODEL
    assert sha256_file(man.delta_path) == man.data["delta"]["sha256"]
    # the repository's budget for model files: the difference is small
    assert man.delta_path.stat().st_size == man.data["delta"]["bytes"] < 20_000_000
    base = shipped.base_model_dir() / man.data["base"]["file"]
    assert sha256_file(base) == man.data["base"]["sha256"]
    assert man.data["labels"] == DETOXIFY_CLASSES


def test_default_settings_use_the_shipped_model_and_its_bands() -> None:
    settings = Settings.from_env({})
    assert settings.toxicity_model == SHIPPED_TOXICITY_MODEL
    for label, band in shipped.manifest().bands.items():
        assert settings.toxicity_bands[label] == pytest.approx(band), label


def test_loads_through_detoxify_offline_with_checked_sha(scored: dict) -> None:
    man = shipped.manifest()
    assert scored["name"] == SHIPPED_TOXICITY_MODEL
    assert scored["version"] == f"{man.version}+{man.data['delta']['sha256'][:12]}"
    assert sha256_file(scored["checkpoint"]) == scored["sha256"]
    for scores in scored["scores"]:
        assert set(scores) == set(man.data["labels"])
        assert all(0.0 <= v <= 1.0 for v in scores.values())


@pytest.mark.parametrize("text", CLEAN)
def test_clean_comments_are_approved(scored: dict, text: str) -> None:
    status, labels = _decision(scored["by_text"][text])
    assert status == APPROVED, (labels, scored["by_text"][text])


@pytest.mark.parametrize("text", TOXIC)
def test_insults_are_held_or_rejected_for_toxicity(scored: dict, text: str) -> None:
    status, labels = _decision(scored["by_text"][text])
    assert status != APPROVED
    assert labels & {"toxicity", "insult"}, scored["by_text"][text]


def test_a_threat_scores_as_one(scored: dict) -> None:
    scores = scored["by_text"][THREAT]
    low = Settings.from_env({}).toxicity_bands["threat"][0]
    assert scores["threat"] >= low, scores
    assert scores["threat"] > max(scored["by_text"][t]["threat"] for t in CLEAN)


def test_assembly_is_cached_and_heals(tmp_path: Path) -> None:
    first = shipped.assemble(tmp_path)
    mtime = first.checkpoint.stat().st_mtime_ns
    again = shipped.assemble(tmp_path)
    assert again == first
    assert again.checkpoint.stat().st_mtime_ns == mtime  # reused, not rebuilt
    # a damaged cache file is rebuilt, never loaded
    with open(first.checkpoint, "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 16)
    healed = shipped.assemble(tmp_path)
    assert healed.sha256 == first.sha256
    assert sha256_file(healed.checkpoint) == first.sha256


def test_a_tampered_difference_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(shipped.MODEL_DIR, model_dir)
    delta = model_dir / shipped.manifest().data["delta"]["file"]
    data = bytearray(delta.read_bytes())
    data[-100] ^= 0xFF
    delta.write_bytes(bytes(data))
    monkeypatch.setattr(shipped, "MODEL_DIR", model_dir)
    shipped.manifest.cache_clear()
    try:
        with pytest.raises(shipped.ShippedModelError, match="sha256"):
            shipped.assemble(tmp_path / "cache")
    finally:
        shipped.manifest.cache_clear()


def test_difference_round_trip() -> None:
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    base = {
        "bert.w": torch.randn(8, 16, generator=gen),
        "bert.b": torch.randn(8, generator=gen),
        "bert.frozen": torch.randn(4, 4, generator=gen),
    }
    tuned = {
        "bert.w": base["bert.w"] + 0.01 * torch.randn(8, 16, generator=gen),
        "bert.b": base["bert.b"] + 0.01 * torch.randn(8, generator=gen),
        "bert.frozen": base["bert.frozen"].clone(),
        "classifier.weight": torch.randn(6, 16, generator=gen),
    }
    diff = shipped.diff_state(base, tuned)
    assert "bert.frozen.q" not in diff and "bert.frozen.delta" not in diff
    assert diff["bert.w.q"].dtype == torch.int8
    rebuilt = shipped.apply_diff(base, diff)
    assert set(rebuilt) == set(tuned)
    for key, value in tuned.items():
        # int8 rounding: at most half a step of the row's largest change
        assert torch.allclose(rebuilt[key], value, atol=1e-3), key
    assert torch.equal(rebuilt["classifier.weight"], tuned["classifier.weight"])
