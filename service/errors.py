"""The one error shape every endpoint answers with, built here and nowhere else.

    {"error": {"status": 422, "code": "validation_failed",
               "message": "body: Longer than maximum length 5000.",
               "details": {"body": ["Longer than maximum length 5000."]},
               "request_id": "4f0c..."}}

``code`` is stable and machine-readable; ``message`` is for a person and says what to
change; ``details`` is present when there is more structure (per-field errors, the
current state on a conflict).
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import flask_smorest
import sqlalchemy.exc
from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    428: "precondition_required",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ServiceError(Exception):
    """A client mistake found by a service; views let it through, the handler answers."""

    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Invalid(ServiceError):
    status = 422
    code = "validation_failed"


def abort(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> NoReturn:
    """Stop the request with an error in the one shape."""
    kwargs: dict[str, Any] = {"message": message}
    if code:
        kwargs["code"] = code
    if details is not None:
        kwargs["details"] = details
    if headers:
        kwargs["headers"] = headers
    flask_smorest.abort(status, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover - flask_smorest.abort raises


def error_body(
    status: int, message: str, code: str | None = None, details: Any = None
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "status": status,
        "code": code or DEFAULT_CODES.get(status, "error"),
        "message": message,
    }
    if details is not None:
        error["details"] = details
    request_id = g.get("request_id") if g else None
    if request_id:
        error["request_id"] = request_id
    return {"error": error}


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = jsonify(error_body(status, message, code, details))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten_messages(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location ({"json": {...}}); the client sent one body."""
    if isinstance(messages, dict) and set(messages) <= {
        "json",
        "query",
        "headers",
        "form",
        "files",
        "view_args",
        "path",
        "cookies",
    }:
        flat: dict[str, Any] = {}
        for location, errors in messages.items():
            if isinstance(errors, dict):
                flat.update(errors)
            else:
                flat[f"_{location}"] = errors
        return flat
    return messages if isinstance(messages, dict) else {"_schema": messages}


def _describe(details: dict[str, Any]) -> str:
    parts = []
    for name, errors in details.items():
        text = (
            "; ".join(errors)
            if isinstance(errors, list) and all(isinstance(e, str) for e in errors)
            else str(errors)
        )
        parts.append(text if name.startswith("_") else f"{name}: {text}")
    return " ".join(parts)


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data: dict[str, Any] = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if error.response is not None and "WWW-Authenticate" in error.response.headers:
        headers["WWW-Authenticate"] = error.response.headers["WWW-Authenticate"]
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    details = data.get("details")
    message = data.get("message")
    if "messages" in data:  # webargs / marshmallow validation
        details = _flatten_messages(data["messages"])
        if status == 400 and details.get("_json") == ["Invalid JSON body."]:
            message = "The request body is not valid JSON."
            details = None
        elif status == 422:
            message = message or f"The request is invalid. {_describe(details)}"
    if not message:
        message = error.description or "Request failed."
        if status == 413:
            message = "The request body is too large."
        elif status == 404:
            message = "No such resource."
    return error_response(status, message, data.get("code"), details, headers)


def handle_service_error(error: ServiceError) -> Response:
    return error_response(error.status, error.message, error.code, error.details, error.headers)


def handle_database_error(error: sqlalchemy.exc.OperationalError) -> Response:
    # A blip between us and the database: nothing was written (the transaction
    # rolled back), so the client may retry, with its Idempotency-Key if any.
    log.error("database unavailable: %s", error.orig if error.orig else error)
    return error_response(
        503,
        "The database is unavailable; nothing was stored. Retry in a moment.",
        code="database_unavailable",
        headers={"Retry-After": "2"},
    )


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error", exc_info=error)
    return error_response(
        500, "Something went wrong on our side; it has been logged.", "internal_error"
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(sqlalchemy.exc.OperationalError, handle_database_error)
    app.register_error_handler(sqlalchemy.exc.DisconnectionError, handle_database_error)
    app.register_error_handler(InternalServerError, handle_unexpected)
    app.register_error_handler(Exception, handle_unexpected)
