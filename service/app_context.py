"""The per-app resources views reach for: settings, the request's session, the dispatcher.

They live in ``app.extensions`` (set up by :func:`service.create_app`), never in module
globals, so two apps (tests, the worker) never share a session or a client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app, g

if TYPE_CHECKING:
    import redis

    from config import Settings
    from service.comments.status import StatusListener
    from service.db import Database, Session
    from service.dispatch import Dispatcher
    from service.ratelimit import RateLimiter


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
