"""What ops on call want at a glance, read from the shared state (so every API process agrees).

Queue depths from Redis, comment counts and the oldest pending comment from the
database, and each toxicity worker process's scorer state (which the workers publish
to Redis). Served as JSON on ``/statusz`` and as Prometheus gauges on ``/metrics``
(:mod:`service.ops.metrics`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
import sqlalchemy as sa

from config.celery import DEFAULT_QUEUE, TOXICITY_QUEUE
from service.comments.models import Comment, Status
from service.db import Session, utcnow

log = logging.getLogger(__name__)

#: toxicity workers write ``<prefix><host>:<pid>`` -> JSON status, with a TTL
SCORER_STATUS_PREFIX = "moderation:scorer-status:"


def scorer_statuses(client: redis.Redis) -> list[dict[str, Any]]:
    """Every live toxicity worker process's scorer status."""
    keys = sorted(client.scan_iter(match=SCORER_STATUS_PREFIX + "*", count=100))
    values = client.mget(keys) if keys else []
    return [json.loads(v) for v in values if v]


def collect(session: Session, client: redis.Redis) -> dict[str, Any]:
    """Comment counts, the oldest pending comment's age, queue depths, scorer statuses.

    ``queues`` and ``scorers`` are None when Redis cannot be read.
    """
    counts = dict(
        session.execute(sa.select(Comment.status, sa.func.count()).group_by(Comment.status)).all()
    )
    oldest = session.scalar(
        sa.select(sa.func.min(Comment.created_at)).where(Comment.status == Status.PENDING.value)
    )
    status: dict[str, Any] = {
        "comments": {s.value: int(counts.get(s.value, 0)) for s in Status},
        "oldest_pending_age_s": round((utcnow() - oldest).total_seconds(), 1) if oldest else 0.0,
    }
    try:
        status["queues"] = {q: int(client.llen(q)) for q in (DEFAULT_QUEUE, TOXICITY_QUEUE)}
        status["scorers"] = scorer_statuses(client)
    except redis.RedisError as exc:
        log.warning("status: redis unreachable: %s", exc)
        status["queues"], status["scorers"] = None, None
    return status
