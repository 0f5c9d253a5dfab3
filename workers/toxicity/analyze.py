"""Serving ``comments:analyze`` in a toxicity worker process, ahead of its batch work.

Each toxicity worker child runs one thread (:func:`serve`) that pops scoring requests
from Redis (:mod:`service.perspective.channel`) and answers them with the process's own
model: the one the batch task uses, loaded once. Both go through the process's
:class:`ModelGate`: one model call at a time, and a waiting analyze request goes in
before the batch's next call. A batch is cut into calls of ``TOXICITY_BATCH_TOKENS``
padded tokens, so a request waits at most for one such call, not for the batch.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis

from service.perspective import channel
from service.perspective.services import check_languages
from workers.pipeline.language import Language
from workers.toxicity.scorer import ScorerUnavailable, Scores, ToxicityScorer, collect

log = logging.getLogger(__name__)


class ModelGate:
    """One model call at a time in this process; urgent callers waiting go first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0

    @contextmanager
    def call(self, *, urgent: bool = False) -> Iterator[None]:
        """Hold the model for one call; a non-urgent caller also lets urgent ones by."""
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
            try:
                while self._busy or (not urgent and self._urgent_waiting):
                    self._cond.wait()
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


class GatedScorer:
    """A scorer whose every model call passes ``gate`` (the batch task's view of it)."""

    def __init__(self, scorer: ToxicityScorer, gate: ModelGate) -> None:
        self.scorer = scorer
        self.gate = gate

    @property
    def name(self) -> str:
        return self.scorer.name

    @property
    def version(self) -> str:
        return self.scorer.version

    @property
    def languages(self) -> frozenset[str]:
        return self.scorer.languages

    def score_batches(self, texts: Sequence[str]) -> Iterator[tuple[list[int], list[Scores]]]:
        calls = self.scorer.score_batches(texts)
        while True:
            # each step of the scorer's generator is one model call
            with self.gate.call():
                try:
                    item = next(calls)
                except StopIteration:
                    return
            yield item


def score_request(
    get_scorer: Callable[[], ToxicityScorer],
    gate: ModelGate,
    detect: Callable[[str], Language],
    texts: Sequence[str],
    languages: Sequence[str],
) -> dict[str, Any]:
    """The reply to one analyze request: scores per text and the model; or the languages
    the model does not cover (nothing scored); or an error."""
    try:
        scorer = get_scorer()
    except ScorerUnavailable as exc:
        return {
            "error": "scorer_unavailable",
            "message": f"The toxicity model is unavailable: {exc}",
        }
    found = detect(texts[0])
    check = check_languages(languages, found.code, found.reliable, scorer.languages)
    if check.unsupported:
        return {
            "unsupported": check.unsupported,
            "languages": check.languages,
            "detected": check.detected,
        }
    with gate.call(urgent=True):
        scores = collect(scorer, texts)
    return {
        "scores": [{label: float(v) for label, v in s.items()} for s in scores],
        "model": f"{scorer.name}@{scorer.version}",
        "languages": check.languages,
        "detected": check.detected,
    }


def serve(
    client: redis.Redis,
    get_scorer: Callable[[], ToxicityScorer],
    gate: ModelGate,
    detect: Callable[[str], Language],
    stop: threading.Event,
    poll_s: float = 1.0,
) -> None:
    """Answer analyze requests until ``stop`` is set (a daemon thread of the worker child)."""
    while not stop.is_set():
        try:
            item = client.blpop([channel.QUEUE], timeout=poll_s)
        except redis.RedisError as exc:
            log.warning("analyze requests unreadable (%s); retrying in 1 s", exc)
            stop.wait(1.0)
            continue
        if item is None:
            continue
        try:
            request = json.loads(item[1])
            request_id, texts = request["id"], request["texts"]
            languages = request.get("languages") or []
        except (ValueError, KeyError, TypeError):
            log.error("dropping a malformed analyze request")
            continue
        started = time.perf_counter()
        try:
            reply = score_request(get_scorer, gate, detect, texts, languages)
        except Exception as exc:  # a bug: the caller gets an answer, not a timeout
            log.exception("analyze request %s failed", request_id)
            reply = {"error": "scorer_failed", "message": f"Scoring failed: {type(exc).__name__}"}
        try:
            channel.answer(client, request_id, reply)
        except redis.RedisError as exc:
            log.warning("could not answer analyze request %s: %s", request_id, exc)
            continue
        log.info(
            "analyze request of %d text(s) answered in %.3f s",
            len(texts),
            time.perf_counter() - started,
            extra={"texts": len(texts), "seconds": round(time.perf_counter() - started, 3)},
        )
