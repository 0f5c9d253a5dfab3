"""The per-app resources views reach for: settings, the request's session, the dispatcher.

They live in ``app.extensions`` (set up by :func:`service.create_app`), never in module
globals, so two apps (tests, the worker) never share a session or a client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, Response, after_this_request, current_app, g

from service.moderation.queue import CountsCache

if TYPE_CHECKING:
    import redis

    from config import Settings
    from service.comments.status import StatusListener
    from service.db import Database, Session
    from service.dispatch import Dispatcher
    from service.ratelimit import RateLimiter

log = logging.getLogger(__name__)


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def database() -> Database:
    return current_app.extensions["db"]


def db_session() -> Session:
    """The request's session, opened on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = database().sessionmaker()
    return g.db_session


def dispatcher() -> Dispatcher:
    return current_app.extensions["dispatcher"]


def status_listeners() -> list[StatusListener]:
    """What runs with every status change, inside its transaction (the webhook outbox)."""
    return current_app.extensions["status_listeners"]


def redis_client() -> redis.Redis:
    return current_app.extensions["redis"]


def after_response(work: Callable[[Session], None]) -> None:
    """Run ``work`` with a session of its own once this request's response has been sent
    (werkzeug's ``call_on_close``): work the answer need not wait for. A failure is
    logged, never raised: the client has its answer."""
    db = database()

    def run() -> None:
        try:
            with db.session() as session:
                work(session)
        except Exception:
            log.exception("work after the response failed")

    @after_this_request
    def _attach(response: Response) -> Response:
        response.call_on_close(run)
        return response


def queue_counts() -> CountsCache:
    """The review queue's status counts for this request: cached, recounted after the
    response once stale (the JSON queue and the console share them)."""
    return CountsCache(redis_client(), settings().queue_counts_ttl_s, later=after_response)


def rate_limiter() -> RateLimiter:
    return current_app.extensions["rate_limiter"]


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()
