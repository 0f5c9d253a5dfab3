"""Health endpoints for load balancers and orchestrators, status and metrics for ops."""

from __future__ import annotations

import logging
from typing import Any

import redis
import sqlalchemy as sa
import sqlalchemy.exc
from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from prometheus_client.exposition import choose_encoder

from service.app_context import db_session, redis_client
from service.errors import error_response
from service.moderation.auth import ops_access
from service.ops import metrics as ops_metrics
from service.ops import status as ops_status

log = logging.getLogger(__name__)

blp = Blueprint("ops", __name__)


@blp.record_once
def _init_metrics(state: BlueprintSetupState) -> None:
    # read within the scrape's request: its session and the app's Redis client
    state.app.extensions["metrics"] = ops_metrics.registry(
        lambda: ops_status.collect(db_session(), redis_client())
    )


@blp.get("/healthz")
def healthz() -> Any:
    """The process is alive and serving (no dependency is checked)."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> Any:
    """The database and Redis are reachable; 503 names the one that is not."""
    checks: dict[str, str] = {}
    try:
        db_session().execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except sqlalchemy.exc.SQLAlchemyError as exc:
        db_session().rollback()
        log.warning("readiness: database unreachable: %s", exc)
        checks["database"] = "unreachable"
    try:
        redis_client().ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        log.warning("readiness: redis unreachable: %s", exc)
        checks["redis"] = "unreachable"
    down = sorted(name for name, state in checks.items() if state != "ok")
    if down:
        return error_response(
            503, f"Not ready: {', '.join(down)} unreachable.", "not_ready", details=checks
        )
    return jsonify(status="ok", checks=checks)


@blp.get("/statusz")
@ops_access
def statusz() -> Any:
    """Comment counts, queue depths, analyze requests waiting, the oldest pending comment,
    each scorer's state.

    Needs an ``ops`` or ``admin`` token unless OPS_ENDPOINTS_OPEN: it names hosts and
    pids and how busy the service is, which is nobody else's business.
    """
    return jsonify(ops_status.collect(db_session(), redis_client()))


@blp.get("/metrics")
@ops_access
def metrics() -> Any:
    """The same as Prometheus gauges, with the process's own metrics (text or OpenMetrics)."""
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(current_app.extensions["metrics"]), content_type=content_type)
