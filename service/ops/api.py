"""Health endpoints for load balancers and orchestrators."""

from __future__ import annotations

import logging
from typing import Any

import redis
import sqlalchemy.exc
from flask import Blueprint, jsonify

from service.app_context import database, redis_client
from service.errors import error_response

log = logging.getLogger(__name__)

blp = Blueprint("ops", __name__)


@blp.get("/healthz")
def healthz() -> Any:
    """The process is alive and serving (no dependency is checked)."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> Any:
    """The database and Redis are reachable; 503 names the one that is not."""
    checks: dict[str, str] = {}
    try:
        database().ping()
        checks["database"] = "ok"
    except sqlalchemy.exc.SQLAlchemyError as exc:
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
