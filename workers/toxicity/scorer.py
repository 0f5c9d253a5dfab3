"""Toxicity scorers: the interface, the Detoxify implementation, and a fake for unit tests.

Only toxicity workers import this module's heavy parts (torch, transformers,
detoxify), and only when a scorer is first used in a worker child process: never at
import time, never in the parent that forks (a parent that has run a prediction makes
its prefork children hang on their first one).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from config.settings import SHIPPED_TOXICITY_MODEL, SHIPPED_VI_TOXICITY_MODEL
from workers.toxicity import shipped
from workers.toxicity.checkpoint import sha256_file
from workers.toxicity.download import cache_env
from workers.toxicity.shipped import ShippedModelError

log = logging.getLogger(__name__)

#: one text's score per label, e.g. {"toxicity": 0.02, "insult": 0.01}
Scores = dict[str, float]

#: the models this project ships (assembled from pip-installed bases plus our files)
SHIPPED_MODELS = (SHIPPED_TOXICITY_MODEL, SHIPPED_VI_TOXICITY_MODEL)

#: What each model was trained on (Detoxify's README; our card). Vietnamese is in none.
MODEL_LANGUAGES: dict[str, frozenset[str]] = {
    SHIPPED_TOXICITY_MODEL: frozenset({"en"}),
    # trained on English labels, used for Vietnamese (cross-lingual): docs/models.md
    SHIPPED_VI_TOXICITY_MODEL: frozenset({"vi"}),
    "original": frozenset({"en"}),
    "unbiased": frozenset({"en"}),
    "original-small": frozenset({"en"}),
    "unbiased-small": frozenset({"en"}),
    "multilingual": frozenset({"en", "fr", "es", "it", "pt", "tr", "ru"}),
}


class ScorerUnavailable(RuntimeError):
    """The model could not be loaded; comments are held, never approved unscored."""


class ToxicityScorer(Protocol):
    """Scores texts per label in [0, 1]."""

    #: e.g. "detoxify-original"
    name: str
    #: e.g. the checkpoint's hash prefix
    version: str
    #: ISO 639-1 codes the model was trained on
    languages: frozenset[str]

    def score_batches(self, texts: Sequence[str]) -> Iterator[tuple[list[int], list[Scores]]]:
        """Scores ``texts`` in the model calls that suit it best: (indices, scores) per call."""
        ...


@dataclass
class DetoxifyScorer:
    """Detoxify, loaded through its own loader, scoring length-sorted batches."""

    model_type: str = SHIPPED_TOXICITY_MODEL
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    hf_config_path: str | None = None
    models_dir: str | None = None
    device: str = "cpu"
    threads: int = 1
    #: padded tokens per model call (comments x the longest one)
    batch_tokens: int = 1024
    languages: frozenset[str] = frozenset({"en"})
    quantize: bool = False

    def __post_init__(self) -> None:
        self._model: Any = None
        if self.checkpoint:
            self.name = f"detoxify-checkpoint:{Path(self.checkpoint).stem}"
        elif self.model_type in SHIPPED_MODELS:
            self.name = self.model_type
        else:
            self.name = f"detoxify-{self.model_type}"
        self.version = "unloaded"
        self.load_seconds: float | None = None

    # ------------------------------------------------------------------
    @property
    def shipped(self) -> bool:
        """The model this project ships, assembled from its files (no checkpoint given)."""
        return not self.checkpoint and self.model_type in SHIPPED_MODELS

    def _prepare_environment(self) -> None:
        # Before transformers/huggingface_hub are imported: they read these once.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if self.models_dir and Path(self.models_dir).is_dir():
            # the layout `moderation download-model` writes
            for key, value in cache_env(self.models_dir).items():
                os.environ.setdefault(key, value)
        if self.checkpoint or self.shipped or (self.models_dir and Path(self.models_dir).is_dir()):
            # weights are local: a missing network must not cost ~26 s of retries
            os.environ.setdefault("HF_HUB_OFFLINE", "1")

    def load(self) -> None:
        """Load the model now (once per process); raises :class:`ScorerUnavailable`."""
        if self._model is not None:
            return
        started = time.perf_counter()
        self._prepare_environment()
        try:
            if self.shipped:
                self._assemble_shipped()
            if self.checkpoint:
                if not Path(self.checkpoint).is_file():
                    raise ScorerUnavailable(f"checkpoint file not found: {self.checkpoint}")
                digest = sha256_file(self.checkpoint)
                if self.checkpoint_sha256 and digest != self.checkpoint_sha256.lower():
                    # torch.load unpickles: never load a file we cannot vouch for
                    raise ScorerUnavailable(
                        f"checkpoint {self.checkpoint} has sha256 {digest}, "
                        f"expected {self.checkpoint_sha256}"
                    )
                if not self.checkpoint_sha256:
                    log.warning(
                        "loading checkpoint %s without a configured sha256 (it is %s)",
                        self.checkpoint,
                        digest,
                    )
                if self.version == "unloaded":
                    self.version = digest[:12]
            import torch

            torch.set_num_threads(max(1, self.threads))
            from detoxify import Detoxify
            from detoxify.detoxify import MODEL_URLS

            model = Detoxify(
                model_type=self.model_type,
                checkpoint=self.checkpoint or None,
                device=self.device,
                huggingface_config_path=self.hf_config_path or None,
            )
            model.model.eval()
            if self.quantize:
                model.model = torch.ao.quantization.quantize_dynamic(
                    model.model, {torch.nn.Linear}, dtype=torch.qint8
                )
                self.name += "+int8"
            if not self.checkpoint:
                # the release file name carries the weights' hash: toxic_original-c1212f89.ckpt
                self.version = MODEL_URLS[self.model_type].rsplit("-", 1)[-1].split(".")[0]
        except ScorerUnavailable:
            raise
        except ShippedModelError as exc:
            raise ScorerUnavailable(str(exc)) from exc
        except Exception as exc:  # any loader failure: say why, hold comments
            raise ScorerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self._model = model
        self.load_seconds = round(time.perf_counter() - started, 2)
        log.info(
            "toxicity model %s@%s loaded in %.1f s (%d torch threads, device %s)",
            self.name,
            self.version,
            self.load_seconds,
            self.threads,
            self.device,
        )

    def _assemble_shipped(self) -> None:
        """Point this scorer at the shipped model, assembled once into the models folder."""
        man = shipped.manifest(self.model_type)
        files = shipped.assemble(shipped.cache_dir(self.models_dir or "models"), self.model_type)
        self.checkpoint = str(files.checkpoint)
        self.checkpoint_sha256 = files.sha256
        self.hf_config_path = str(files.hf_config_dir)
        # the shipped files' identity: the same on every install (the assembled file's
        # hash is not, since Detoxify needs the folder's absolute path inside it)
        self.version = f"{man.version}+{man.data['delta']['sha256'][:12]}"

    def calls(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices of texts of token counts ``lengths``, grouped into model calls.

        Each call pads to its longest text, so texts are sorted by token count and a
        call is closed before (comments x longest) would pass ``batch_tokens``: short
        comments share big calls, a long one goes with few others.
        """
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        calls: list[list[int]] = []
        for i in order:
            if calls and (len(calls[-1]) + 1) * lengths[i] <= self.batch_tokens:
                calls[-1].append(i)
            else:
                calls.append([i])
        return calls

    def score_batches(self, texts: Sequence[str]) -> Iterator[tuple[list[int], list[Scores]]]:
        """Score ``texts`` call by call; yields each call's indices and their scores.

        The texts are tokenised once: the token counts order and cut the calls, and the
        same token ids are padded per call and fed to Detoxify's model, as
        ``Detoxify.predict`` does (a test checks the scores are the same).
        """
        self.load()
        import torch

        tokenizer, model = self._model.tokenizer, self._model.model
        encoded = tokenizer(list(texts), truncation=True)
        keys = list(encoded.keys())
        for call in self.calls([len(ids) for ids in encoded["input_ids"]]):
            inputs = tokenizer.pad(
                {key: [encoded[key][i] for i in call] for key in keys}, return_tensors="pt"
            ).to(model.device)
            with torch.inference_mode():
                probabilities = torch.sigmoid(model(**inputs)[0]).cpu().tolist()
            yield (
                call,
                [dict(zip(self._model.class_names, row, strict=True)) for row in probabilities],
            )

    def score(self, texts: Sequence[str]) -> list[Scores]:
        """Scores per label for each text, in the order given."""
        return collect(self, texts)


def collect(scorer: ToxicityScorer, texts: Sequence[str]) -> list[Scores]:
    """All of ``scorer.score_batches(texts)``, in the order of ``texts``."""
    results: list[Scores] = [{} for _ in texts]
    for call, scores in scorer.score_batches(texts):
        for i, score in zip(call, scores, strict=True):
            results[i] = score
    return results


class KeywordScorer:
    """A deterministic stand-in for unit tests: scores from words in the text."""

    name = "keyword-fake"
    version = "1"

    def __init__(
        self, words: dict[str, dict[str, float]] | None = None, languages: Sequence[str] = ("en",)
    ) -> None:
        self.words = words or {
            "idiot": {"toxicity": 0.95, "insult": 0.93},
            "stupid": {"toxicity": 0.6, "insult": 0.5},
            "kill": {"toxicity": 0.7, "threat": 0.85},
        }
        self.languages = frozenset(languages)
        self.calls: list[list[str]] = []

    def score_batches(self, texts: Sequence[str]) -> Iterator[tuple[list[int], list[Scores]]]:
        if texts:
            yield list(range(len(texts))), self.score(texts)

    def score(self, texts: Sequence[str]) -> list[Scores]:
        self.calls.append(list(texts))
        labels = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
        out = []
        for text in texts:
            scores = dict.fromkeys(labels, 0.01)
            for word, hits in self.words.items():
                if word in text.lower():
                    for label, value in hits.items():
                        scores[label] = max(scores[label], value)
            out.append(scores)
        return out


def covered_languages(settings: Any) -> frozenset[str]:
    """The languages the configured model covers, known without loading it."""
    if settings.toxicity_languages:
        return frozenset(settings.toxicity_languages)
    if settings.toxicity_checkpoint:
        return MODEL_LANGUAGES.get(settings.toxicity_model, frozenset({"en"}))
    return MODEL_LANGUAGES[settings.toxicity_model]


def routed_languages(settings: Any) -> frozenset[str]:
    """What the toxicity stage can score: the main model's languages, plus Vietnamese
    when TOXICITY_MODEL_VI is set (scored by that model, not the main one)."""
    extra = {"vi"} if settings.toxicity_model_vi else set()
    return covered_languages(settings) | extra


def _threads(settings: Any, pool_size: int) -> int:
    return settings.toxicity_threads or max(1, (os.cpu_count() or 1) // max(1, pool_size))


def vi_scorer_from_settings(settings: Any, pool_size: int = 1) -> DetoxifyScorer | None:
    """The scorer of comments routed as Vietnamese, or None when TOXICITY_MODEL_VI is empty."""
    if not settings.toxicity_model_vi:
        return None
    return DetoxifyScorer(
        model_type=settings.toxicity_model_vi,
        models_dir=settings.models_dir or None,
        device=settings.toxicity_device,
        threads=_threads(settings, pool_size),
        batch_tokens=settings.toxicity_batch_tokens,
        languages=MODEL_LANGUAGES[settings.toxicity_model_vi],
        # int8 is measured for the English model only (docs/models.md): not applied here
        quantize=False,
    )


def scorer_from_settings(settings: Any, pool_size: int = 1) -> DetoxifyScorer:
    """A Detoxify scorer configured by the settings; ``pool_size`` processes share the cores."""
    threads = _threads(settings, pool_size)
    return DetoxifyScorer(
        model_type=settings.toxicity_model,
        checkpoint=settings.toxicity_checkpoint or None,
        checkpoint_sha256=settings.toxicity_checkpoint_sha256 or None,
        hf_config_path=settings.toxicity_hf_config_path or None,
        models_dir=settings.models_dir or None,
        device=settings.toxicity_device,
        threads=threads,
        batch_tokens=settings.toxicity_batch_tokens,
        languages=covered_languages(settings),
        quantize=settings.toxicity_quantize,
    )
