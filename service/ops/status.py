"""What ops on call want at a glance, read from the shared state (so every API process agrees).

Queue depths from Redis (the Celery queues, and the ``comments:analyze`` request list
with its oldest request's age); comment counts, the oldest pending comment and each toxicity
worker process's last reported scorer state from the database. The workers report
their scorer state to the database, not to Redis, so a Redis restart loses none of it:
``/statusz`` shows the last state each process reported with its age, and a report
older than ``STALE_AFTER_S`` means the process stopped reporting (dead, or stuck).
Served as JSON on ``/statusz`` and as Prometheus gauges on ``/metrics``
(:mod:`service.ops.metrics`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import redis
import sqlalchemy as sa

from config.celery import DEFAULT_QUEUE, TOXICITY_QUEUE, WEBHOOKS_QUEUE
from service.comments.models import Comment, Status
from service.db import Session, utcnow
from service.ops.models import ScorerReport
from service.perspective import channel

log = logging.getLogger(__name__)

#: a live toxicity process reports at least this often, busy or idle
REPORT_EVERY_S = 60
#: a report older than this is a process that stopped reporting
STALE_AFTER_S = 3 * REPORT_EVERY_S
#: reports of processes silent for longer than this are dropped
KEEP_REPORTS = timedelta(days=1)


def record_scorer(session: Session, report: dict[str, Any]) -> None:
    """Store one process's scorer report (``host``, ``pid`` and ``route`` name the row)."""
    now = utcnow()
    key = f"{report['host']}:{report['pid']}"
    if report.get("route"):  # a process holding a second model (Vietnamese) reports each
        key += f":{report['route']}"
    # each process writes only its own row: no other writer can race this upsert
    row = session.get(ScorerReport, key, populate_existing=True)
    if row is None:
        session.add(ScorerReport(process=key, report=report, reported_at=now))
    else:
        row.report, row.reported_at = report, now
    session.execute(sa.delete(ScorerReport).where(ScorerReport.reported_at < now - KEEP_REPORTS))


def scorer_reports(session: Session) -> list[dict[str, Any]]:
    """Every toxicity process's last report, with ``age_s`` and ``stale``, by process."""
    now = utcnow()
    rows = session.scalars(
        sa.select(ScorerReport)
        .where(ScorerReport.reported_at >= now - KEEP_REPORTS)
        .order_by(ScorerReport.process)
    )
    reports = []
    for row in rows:
        age = max(0.0, (now - row.reported_at).total_seconds())
        reports.append({**row.report, "age_s": round(age, 1), "stale": age > STALE_AFTER_S})
    return reports


def collect(session: Session, client: redis.Redis) -> dict[str, Any]:
    """Comment counts, the oldest pending comment's age, queue depths, the analyze
    requests waiting, scorer reports.

    ``queues`` and ``analyze_requests`` are None when Redis cannot be read.
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
        status["queues"] = {
            q: int(client.llen(q)) for q in (DEFAULT_QUEUE, TOXICITY_QUEUE, WEBHOOKS_QUEUE)
        }
        # not a Celery queue (toxicity workers' serving threads pop it), so apart from
        # them: a long list here means callers of comments:analyze are timing out
        waiting = channel.waiting(client)
        status["analyze_requests"] = {
            "list": channel.QUEUE,
            "waiting": waiting.length,
            "oldest_age_s": waiting.oldest_age_s,
        }
    except redis.RedisError as exc:
        log.warning("status: redis unreachable: %s", exc)
        status["queues"] = status["analyze_requests"] = None
    status["scorers"] = scorer_reports(session)
    return status
