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
#: the language TOXICITY_MODEL_VI scores (workers/pipeline/stages.py routes it the same way)
VIETNAMESE = "vi"


def score_requests(
    get_scorer: Callable[[], ToxicityScorer],
    gate: ModelGate,
    detect: Callable[[str], Language],
    requests: Sequence[tuple[Sequence[str], Sequence[str]]],
    get_vi_scorer: Callable[[], ToxicityScorer] | None = None,
) -> list[dict[str, Any]]:
    """The replies to analyze requests, each ``(texts, languages)``: scores per text and
    the model; or the languages no model covers (nothing scored); or an error.

    Requests are routed as the pipeline routes comments (``score_and_decide``): those
    scored as Vietnamese go to ``get_vi_scorer``'s model (TOXICITY_MODEL_VI), the others
    to the main one; without a Vietnamese model Vietnamese is not covered at all, never
    scored by the main model. The texts of all the requests for one model go to it
    together, in one turn at the gate: under load the requests waiting are batched as
    comments are (the scorer sorts them by length and cuts its calls by padded tokens),
    so they keep up with their arrival instead of queueing one model call each behind
    the batch's.
    """
    try:
        scorer = get_scorer()
    except ScorerUnavailable as exc:
        return [_unavailable(exc) for _ in requests]
    covered = scorer.languages - {VIETNAMESE}
    if get_vi_scorer is not None:
        covered |= {VIETNAMESE}
    replies: list[dict[str, Any]] = []
    texts: dict[bool, list[str]] = {False: [], True: []}  # Vietnamese? -> texts
    for request_texts, languages in requests:
        found = detect(request_texts[0])
        check = check_languages(languages, found.code, found.reliable, covered)
        reply: dict[str, Any] = {"languages": check.languages, "detected": check.detected}
        if check.unsupported:
            reply["unsupported"] = check.unsupported
        else:
            if check.scored_as not in check.languages:
                # detection overrode the client's languages: say what it was scored as
                reply["languages"] = [check.scored_as]
            group = texts[check.scored_as == VIETNAMESE]
            reply["_texts"] = (
                check.scored_as == VIETNAMESE,
                len(group),
                len(group) + len(request_texts),
            )
            group.extend(request_texts)
        replies.append(reply)
    for vietnamese, group in texts.items():
        if not group:
            continue
        error: dict[str, Any] | None = None
        try:
            model = get_vi_scorer() if vietnamese and get_vi_scorer else scorer
        except ScorerUnavailable as exc:
            error = _unavailable(exc)
        else:
            with gate.call(urgent=True):
                scores = collect(model, group)
        for i, reply in enumerate(replies):
            if "_texts" not in reply or reply["_texts"][0] != vietnamese:
                continue
            _, begin, end = reply.pop("_texts")
            if error is not None:
                replies[i] = error
                continue
            reply["scores"] = [{k: float(v) for k, v in s.items()} for s in scores[begin:end]]
            reply["model"] = f"{model.name}@{model.version}"
    return replies


def _unavailable(exc: ScorerUnavailable) -> dict[str, Any]:
    return {"error": "scorer_unavailable", "message": f"The toxicity model is unavailable: {exc}"}


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
    get_vi_scorer: Callable[[], ToxicityScorer] | None = None,
) -> None:
    """Answer analyze requests until ``stop`` is set (a daemon thread of the worker child);
    ``get_vi_scorer`` is TOXICITY_MODEL_VI's scorer, None when that setting is empty."""
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
            replies = score_requests(
                get_scorer, gate, detect, [(t, lang) for _, t, lang in batch], get_vi_scorer
            )
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
