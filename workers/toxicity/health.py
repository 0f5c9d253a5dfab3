"""A toxicity worker process's scorer, its load state, and the status ops can read.

The scorer is loaded on first use in each worker child. If loading fails the reason
is logged, published to Redis (``/statusz`` shows it) and the failure remembered for a
while, so a batch does not pay for a doomed load every time; after ``retry_after_s``
the next batch tries again (a model volume mounted late, a checksum fixed).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Flask

from service.ops.status import SCORER_STATUS_PREFIX
from workers.toxicity.scorer import ScorerUnavailable, ToxicityScorer, scorer_from_settings

log = logging.getLogger(__name__)

STATUS_TTL_S = 300


@dataclass
class ScorerHolder:
    """Loads the scorer lazily and remembers why it could not."""

    scorer: Any
    redis: redis.Redis | None = None
    retry_after_s: float = 60.0
    _loaded: bool = False
    _error: str | None = None
    _failed_at: float = field(default=float("-inf"))
    _published_at: float = field(default=float("-inf"))
    # a background warm-up and the first batch may both ask: one loads, the other waits
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_app(cls, app: Flask, pool_size: int = 1) -> ScorerHolder:
        settings = app.config["SETTINGS"]
        return cls(scorer_from_settings(settings, pool_size), app.extensions["redis"])

    def get(self) -> ToxicityScorer:
        """The loaded scorer, or :class:`ScorerUnavailable` with the reason."""
        if self._loaded:
            if time.monotonic() - self._published_at > STATUS_TTL_S / 3:
                self.publish()  # keep the status alive while the worker lives
            return self.scorer  # type: ignore[no-any-return]
        with self._lock:
            if self._loaded:
                return self.scorer  # type: ignore[no-any-return]
            if self._error and time.monotonic() - self._failed_at < self.retry_after_s:
                raise ScorerUnavailable(self._error)
            try:
                self.scorer.load()
            except ScorerUnavailable as exc:
                self._error, self._failed_at = str(exc), time.monotonic()
                log.error("toxicity model could not be loaded: %s", exc)
                self.publish()
                raise
            self._loaded, self._error = True, None
        self.publish()
        return self.scorer  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        return {
            "state": "ready" if self._loaded else ("unavailable" if self._error else "not_loaded"),
            "model": self.scorer.name,
            "version": getattr(self.scorer, "version", None),
            "error": self._error,
            "load_seconds": getattr(self.scorer, "load_seconds", None),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "at": round(time.time(), 3),
        }

    def publish(self) -> None:
        """Write this process's scorer status where the API's /statusz reads it."""
        if self.redis is None:
            return
        self._published_at = time.monotonic()
        status = self.status()
        try:
            self.redis.set(
                f"{SCORER_STATUS_PREFIX}{status['host']}:{status['pid']}",
                json.dumps(status),
                ex=STATUS_TTL_S,
            )
        except redis.RedisError as exc:
            log.warning("could not publish scorer status: %s", exc)
