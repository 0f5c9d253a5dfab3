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


#: most analyze requests answered with one turn at the model (they are scored together)
MAX_REQUESTS_PER_TURN = 32


def score_requests(
    get_scorer: Callable[[], ToxicityScorer],
    gate: ModelGate,
    detect: Callable[[str], Language],
    requests: Sequence[tuple[Sequence[str], Sequence[str]]],
) -> list[dict[str, Any]]:
    """The replies to analyze requests, each ``(texts, languages)``: scores per text and
    the model; or the languages the model does not cover (nothing scored); or an error.

    The texts of all the requests that may be scored go to the model together, in one
    turn at the gate: under load the requests waiting are batched as comments are (the
    scorer sorts them by length and cuts its calls by padded tokens), so they keep up
    with their arrival instead of queueing one model call each behind the batch's.
    """
    try:
        scorer = get_scorer()
    except ScorerUnavailable as exc:
        error = {
            "error": "scorer_unavailable",
            "message": f"The toxicity model is unavailable: {exc}",
        }
        return [error for _ in requests]
    replies: list[dict[str, Any]] = []
    texts: list[str] = []
    for request_texts, languages in requests:
        found = detect(request_texts[0])
        check = check_languages(languages, found.code, found.reliable, scorer.languages)
        reply: dict[str, Any] = {"languages": check.languages, "detected": check.detected}
        if check.unsupported:
            reply["unsupported"] = check.unsupported
        else:
            reply["_texts"] = (len(texts), len(texts) + len(request_texts))
            texts.extend(request_texts)
        replies.append(reply)
    if texts:
        with gate.call(urgent=True):
            scores = collect(scorer, texts)
        model = f"{scorer.name}@{scorer.version}"
        for reply in replies:
            if "_texts" in reply:
                begin, end = reply.pop("_texts")
                reply["scores"] = [{k: float(v) for k, v in s.items()} for s in scores[begin:end]]
                reply["model"] = model
    return replies


def _parse(raw: bytes) -> tuple[str, list[str], list[str]] | None:
    try:
        request = json.loads(raw)
        return request["id"], list(request["texts"]), list(request.get("languages") or [])
    except (ValueError, KeyError, TypeError):
        log.error("dropping a malformed analyze request")
        return None


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
            # and whatever else is waiting now: scored in the same turn at the model
            raw = (
                [item[1], *(client.lpop(channel.QUEUE, MAX_REQUESTS_PER_TURN - 1) or [])]
                if item
                else []
            )
        except redis.RedisError as exc:
            log.warning("analyze requests unreadable (%s); retrying in 1 s", exc)
            stop.wait(1.0)
            continue
        batch = [p for p in map(_parse, raw) if p is not None]
        if not batch:
            continue
        started = time.perf_counter()
        try:
            replies = score_requests(get_scorer, gate, detect, [(t, lang) for _, t, lang in batch])
        except Exception as exc:  # a bug: the callers get an answer, not a timeout
            log.exception("%d analyze request(s) failed", len(batch))
            failed = {"error": "scorer_failed", "message": f"Scoring failed: {type(exc).__name__}"}
            replies = [failed for _ in batch]
        for (request_id, _texts, _languages), reply in zip(batch, replies, strict=True):
            try:
                channel.answer(client, request_id, reply)
            except redis.RedisError as exc:
                log.warning("could not answer analyze request %s: %s", request_id, exc)
        seconds = time.perf_counter() - started
        log.info(
            "%d analyze request(s) answered in %.3f s",
            len(batch),
            seconds,
            extra={"requests": len(batch), "seconds": round(seconds, 3)},
        )
