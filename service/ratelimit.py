"""Rate limits on the app's Redis, counted by the ``limits`` library (a moving window).

Every API process shares the counters, so a limit holds across processes and machines.
Redis is only short-lived counters here (DESIGN.md): if it is unreachable, the limiter
lets the request through and logs it, so a Redis outage never turns a reader's report
into a 500; the database and the report threshold's standing rule still apply.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable

import redis
from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from service.errors import ServiceError

log = logging.getLogger(__name__)

KEY_PREFIX = "moderation:limits"


class RateLimited(ServiceError):
    """Too many requests for one of the limits; ``Retry-After`` says when to retry."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, details: object = None) -> None:
        super().__init__(message, details=details)
        self.headers = {"Retry-After": str(retry_after_s)}


class RateLimiter:
    """Named limits counted in Redis; :meth:`hit` answers when a request is over one."""

    def __init__(self, client: redis.Redis, url: str) -> None:
        # the app's connection pool, so its timeouts hold here too
        storage = RedisStorage(
            url,
            connection_pool=client.connection_pool,
            key_prefix=KEY_PREFIX,
            wrap_exceptions=True,
        )
        self._limiter = MovingWindowRateLimiter(storage)

    def hit(self, limits: Iterable[RateLimitItem], *identifiers: str) -> int | None:
        """Count one request against each of ``limits``; None if all allowed it.

        Otherwise the seconds until the first limit that refused would allow it (the
        request is then not counted against the limits after that one). Fails open:
        with Redis unreachable every request is allowed, and the failure logged.
        """
        try:
            for limit in limits:
                if not self._limiter.hit(limit, *identifiers):
                    stats = self._limiter.get_window_stats(limit, *identifiers)
                    return max(1, math.ceil(stats.reset_time - time.time()))
        except StorageError as exc:
            log.warning(
                "rate limit not checked, Redis unavailable (request allowed): %s",
                exc.storage_error,
            )
        return None
