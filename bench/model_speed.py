"""Detoxify alone, in one process: the model-bound limit, naive use, and int8 quantisation.

Run as a subprocess by the harness (``python -m bench.model_speed IN.json``) so that
torch's threads and the process's peak memory belong to this measurement alone.
It loads the model with Detoxify's own loader and measures, on the same texts:

- limit: ``Detoxify.predict`` on length-sorted batches of 32 (the best this model
  can do on this machine with these threads);
- naive: ``Detoxify.predict(text)`` one comment at a time;
- int8: the same limit after ``torch.ao.quantization.quantize_dynamic``, and the
  largest (and mean) change in any label's score it causes on these texts.

The harness runs it once per model: the bert-base-shaped checkpoint with random
weights (whose int8 score changes say nothing) and the shipped ``minilm-toxic-en``,
assembled into ``bench/.cache/shipped`` (real weights: its score changes are the ones
``TOXICITY_QUANTIZE`` would make).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    started = time.perf_counter()
    import torch
    from detoxify import Detoxify

    threads = spec["threads"]
    torch.set_num_threads(threads)
    model = Detoxify(
        "original", checkpoint=spec["checkpoint"], huggingface_config_path=spec["hf_config"]
    )
    load_s = time.perf_counter() - started
    texts: list[str] = spec["texts"]

    def sorted_batches(
        m: Detoxify, items: list[str], size: int
    ) -> tuple[float, list[dict[str, float]]]:
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        results: list[dict[str, float]] = [{} for _ in items]
        t = time.perf_counter()
        for s in range(0, len(order), size):
            chunk = order[s : s + size]
            out = m.predict([items[i] for i in chunk])
            for j, i in enumerate(chunk):
                results[i] = {k: float(v[j]) for k, v in out.items()}
        return time.perf_counter() - t, results

    # The limit is the best batch size on this machine (larger is not always faster:
    # on 2 cores, batches of 32 ran at about half the speed of batches of 8).
    by_batch: dict[int, float] = {}
    for size in spec.get("batches", [4, 8, 16, 32]):
        sorted_batches(model, texts[:size], size)  # warm-up: first calls allocate
        seconds, _ = sorted_batches(model, texts, size)
        by_batch[size] = round(len(texts) / seconds, 2)
    # ...and batches cut by a budget of padded tokens, as the toxicity worker does
    from workers.toxicity.scorer import DetoxifyScorer

    by_tokens: dict[int, float] = {}
    for budget in spec.get("token_budgets", [512, 1024, 2048]):
        chunker = DetoxifyScorer(batch_tokens=budget)
        chunker._model = model
        t = time.perf_counter()
        for _chunk, _scores in chunker.score_batches(texts):
            pass
        by_tokens[budget] = round(len(texts) / (time.perf_counter() - t), 2)
    batch = max(by_batch, key=by_batch.__getitem__)
    best_tokens = max(by_tokens, key=by_tokens.__getitem__)
    limit_s = len(texts) / max(by_batch[batch], by_tokens[best_tokens])
    limit_how = (
        f"batches of {batch}"
        if by_batch[batch] >= by_tokens[best_tokens]
        else f"{best_tokens}-token batches"
    )

    naive_texts = texts  # the same texts as the limit, one at a time
    t = time.perf_counter()
    for text in naive_texts:
        model.predict(text)
    naive_s = time.perf_counter() - t

    result = {
        "threads": threads,
        "limit_how": limit_how,
        "limit_by_batch": by_batch,
        "limit_by_token_budget": by_tokens,
        "load_s": round(load_s, 2),
        "limit_per_s": round(len(texts) / limit_s, 2),
        "naive_per_s": round(len(naive_texts) / naive_s, 2),
        "texts": len(texts),
        "naive_texts": len(naive_texts),
    }
    if spec.get("quantize"):
        _, reference = sorted_batches(model, texts, batch)  # fp32 scores, chosen batch
        model.model = torch.ao.quantization.quantize_dynamic(
            model.model, {torch.nn.Linear}, dtype=torch.qint8
        )
        sorted_batches(model, texts[:batch], batch)
        int8_s, quantized = sorted_batches(model, texts, batch)
        result["int8_per_s"] = round(len(texts) / int8_s, 2)
        result["int8_speedup"] = round(limit_s / int8_s, 2)
        changes = {
            k: [abs(a[k] - b[k]) for a, b in zip(reference, quantized, strict=True)]
            for k in reference[0]
        }
        every = [c for label in changes.values() for c in label]
        result["int8_max_score_change"] = round(max(every), 4)
        result["int8_mean_score_change"] = round(sum(every) / len(every), 5)
        result["int8_max_score_change_by_label"] = {k: round(max(v), 4) for k, v in changes.items()}
    if spec.get("vi_texts"):
        result.update(_vi_limit(spec, threads))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("RESULT " + json.dumps(result), flush=True)


def _vi_limit(spec: dict[str, Any], threads: int) -> dict[str, Any]:
    """The Vietnamese model, loaded as the worker loads it, on its own texts: the best of
    the worker's token budgets (its calls are length-sorted across the whole set)."""
    from workers.toxicity.scorer import DetoxifyScorer

    texts: list[str] = spec["vi_texts"]
    scorer = DetoxifyScorer(
        model_type=spec["vi_model"],
        models_dir=spec["vi_models_dir"],
        threads=threads,
        languages=frozenset({"vi"}),
    )
    for _ in scorer.score_batches(texts[:16]):  # loads it; warm-up: first calls allocate
        pass
    by_tokens: dict[int, float] = {}
    for budget in spec.get("token_budgets", [512, 1024, 2048]):
        scorer.batch_tokens = budget  # read per call: the same loaded model at each budget
        t = time.perf_counter()
        for _ in scorer.score_batches(texts):
            pass
        by_tokens[budget] = round(len(texts) / (time.perf_counter() - t), 2)
    best = max(by_tokens, key=by_tokens.__getitem__)
    return {
        "vi_model": spec["vi_model"],
        "vi_texts": len(texts),
        "vi_limit_per_s": by_tokens[best],
        "vi_limit_how": f"{best}-token batches",
        "vi_limit_by_token_budget": by_tokens,
    }


if __name__ == "__main__":
    main()
