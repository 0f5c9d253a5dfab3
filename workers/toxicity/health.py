"""A toxicity worker process's scorer, its load state, and the status ops can read.

The scorer is loaded on first use in each worker child. If loading fails the reason
is logged, reported (``/statusz`` shows it) and the failure remembered for a while, so
a batch does not pay for a doomed load every time; after ``retry_after_s`` the next
batch tries again (a model volume mounted late, a checksum fixed).

Reports go to the database (:func:`service.ops.status.record_scorer`), where a Redis
restart cannot wipe them, at least every ``REPORT_EVERY_S`` while the process lives
(:meth:`ScorerHolder.report_forever`, on a thread of the worker child): the age of the
last report tells ops whether the process is still there.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from service.db import Database
from service.ops.status import REPORT_EVERY_S, record_scorer
from workers.toxicity.scorer import (
    ScorerUnavailable,
    ToxicityScorer,
    scorer_from_settings,
    vi_scorer_from_settings,
)

log = logging.getLogger(__name__)


@dataclass
class ScorerHolder:
    """Loads the scorer lazily and remembers why it could not."""

    scorer: Any
    database: Database | None = None
    retry_after_s: float = 60.0
    #: which comments this scorer takes when a process holds two ("vi"); "" for the main
    route: str = ""
    _loaded: bool = False
    _error: str | None = None
    _failed_at: float = field(default=float("-inf"))
    _published_at: float = field(default=float("-inf"))
    # a background warm-up and the first batch may both ask: one loads, the other waits
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # the reporting thread and a batch may publish at once; one row per process
    _publish_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_app(cls, app: Flask, pool_size: int = 1) -> ScorerHolder:
        settings = app.config["SETTINGS"]
        return cls(scorer_from_settings(settings, pool_size), app.extensions["db"])

    @classmethod
    def vietnamese(cls, app: Flask, pool_size: int = 1) -> ScorerHolder | None:
        """The holder of TOXICITY_MODEL_VI's scorer; None when that setting is empty."""
        scorer = vi_scorer_from_settings(app.config["SETTINGS"], pool_size)
        if scorer is None:
            return None
        return cls(scorer, app.extensions["db"], route="vi")

    def get(self) -> ToxicityScorer:
        """The loaded scorer, or :class:`ScorerUnavailable` with the reason."""
        if self._loaded:
            if time.monotonic() - self._published_at > REPORT_EVERY_S:
                self.publish()  # in case the reporting thread is not running
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
            **({"route": self.route} if self.route else {}),
        }

    def publish(self) -> None:
        """Report this process's scorer status where the API's /statusz reads it."""
        if self.database is None:
            return
        with self._publish_lock:
            self._published_at = time.monotonic()
            try:
                with self.database.session() as session:
                    record_scorer(session, self.status())
            except SQLAlchemyError as exc:
                log.warning("could not report the scorer status: %s", exc)

    def report_forever(self, every_s: float = REPORT_EVERY_S) -> None:
        """Report the status every ``every_s`` (a daemon thread's loop, for an idle worker)."""
        while True:
            time.sleep(every_s)
            try:
                self.publish()
            except Exception:  # the thread must outlive any one failure
                log.exception("reporting the scorer status failed")
