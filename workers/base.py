"""The base task class: every task runs in an app context inside one database transaction.

Task bodies read ``self.session`` and never commit: the base class commits when the
body returns and rolls back when it raises, and tasks sent with
``Dispatcher.after_commit`` leave only after that commit (DESIGN.md: enqueue after
commit, ids only).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import celery
from celery.exceptions import Retry
from flask import Flask
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from service.db import Database, Session

_session: ContextVar[Session | None] = ContextVar("task_session", default=None)

#: Errors worth retrying: the database or Redis blinked. Anything else is a bug
#: and must surface, not loop.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    RedisConnectionError,
    RedisTimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


class AppTask(celery.Task):
    """Runs the body inside the Flask app context and a database transaction."""

    abstract = True

    @property
    def flask_app(self) -> Flask:
        return self.app.flask_app  # type: ignore[attr-defined,no-any-return]

    @property
    def database(self) -> Database:
        return self.flask_app.extensions["db"]

    @property
    def session(self) -> Session:
        session = _session.get()
        if session is None:
            raise RuntimeError("task session used outside a running task")
        return session

    def checkpoint(self) -> None:
        """Commit what the task has done so far (for tasks that work in steps, like a
        batch scored chunk by chunk); later steps run in a new transaction."""
        self.session.commit()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.flask_app.app_context():
            session = self.database.sessionmaker()
            token = _session.set(session)
            try:
                result = super().__call__(*args, **kwargs)
                session.commit()
                return result
            except Retry:
                # a deliberate retry keeps what the attempt recorded (attempts, errors)
                session.commit()
                raise
            except BaseException:
                session.rollback()
                raise
            finally:
                _session.reset(token)
                session.close()


#: What every task states about its delivery (STYLE.md): late acks, requeue when its
#: worker dies, no results, retries only for transient errors with capped backoff.
DELIVERY: dict[str, Any] = {
    "base": AppTask,
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 8,
    "soft_time_limit": 30,
    "time_limit": 60,
}
