"""Perspective's ``v1alpha1`` methods, with its request and response shapes and Google's errors.

``POST /v1alpha1/comments:analyze?key=...`` scores a text now (through a toxicity
worker: :mod:`service.perspective.channel`), ``POST /v1alpha1/comments:suggestscore``
records a client's correction, and ``GET /$discovery/rest?version=v1alpha1`` describes
both for Google's own client library. The key is an ``analyze`` token, sent as Google
keys are (``?key=`` or ``X-Goog-Api-Key``).

Every error is Google's: ``{"error": {"code", "message", "status", "details"}}``, with
Perspective's ``errorType`` in a detail where Perspective has one. A plain Flask
blueprint, outside our OpenAPI document: its contract is Perspective's.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
import sqlalchemy.exc
from flask import Blueprint, Response, jsonify, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException

from config.settings import rate_limits
from service.app_context import db_session, rate_limiter, redis_client, settings
from service.errors import ServiceError
from service.moderation.auth import GRANTS, find_token
from service.moderation.models import ApiToken
from service.perspective import channel, discovery, services
from service.perspective.schemas import (
    AnalyzeCommentRequestSchema,
    SuggestCommentScoreRequestSchema,
    camel_keys,
)
from service.perspective.services import (
    ATTRIBUTE_LABELS,
    MAX_TEXT_BYTES,
    SCORE_TYPE,
    UNSUPPORTED_ATTRIBUTES,
)

log = logging.getLogger(__name__)

blp = Blueprint("perspective", __name__)

PERSPECTIVE_ERROR = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
SERVICE = "commentanalyzer.googleapis.com"
#: Google's canonical status names for the HTTP codes these routes answer
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GoogleError(Exception):
    """An error answered in Google's shape."""

    def __init__(
        self,
        code: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}


def invalid(message: str, error_type: str = "INVALID_REQUEST", **extra: Any) -> GoogleError:
    """A 400 with Perspective's ``errorType`` (its docs, "Limits and errors")."""
    return GoogleError(
        400, message, [{"@type": PERSPECTIVE_ERROR, "errorType": error_type, **extra}]
    )


def _error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": ERROR_INFO,
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": SERVICE, **metadata},
    }


# --- what every method does first ----------------------------------------------------


def _key() -> ApiToken:
    raw = request.args.get("key") or request.headers.get("X-Goog-Api-Key") or ""
    if not raw.strip():
        raise GoogleError(
            403,
            "The request is missing a valid API key.",
            [_error_info("API_KEY_MISSING")],
        )
    token = find_token(db_session(), raw)
    if token is None or "analyze" not in GRANTS[token.role]:
        raise GoogleError(
            403,
            "API key not valid. Please pass a valid API key.",
            [_error_info("API_KEY_INVALID")],
        )
    return token


def _limit(key: ApiToken) -> None:
    retry_after = rate_limiter().hit(
        rate_limits(settings().analyze_rate_per_key), "analyze", str(key.id)
    )
    if retry_after is not None:
        raise GoogleError(
            429,
            f"Quota exceeded for quota metric 'Analysis requests' and limit "
            f"'{settings().analyze_rate_per_key}' of service '{SERVICE}' for this API key. "
            f"Retry in {retry_after} s.",
            [_error_info("RATE_LIMIT_EXCEEDED", quota_limit=settings().analyze_rate_per_key)],
            {"Retry-After": str(retry_after)},
        )


def _load(schema: Schema) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise GoogleError(400, "Invalid JSON payload received. Expected a JSON object.")
    try:
        return schema.load(camel_keys(body))  # type: ignore[no-any-return]
    except ValidationError as exc:
        violations = list(_violations(exc.messages))
        described = "; ".join(f"{v['field']}: {v['description']}" for v in violations)
        raise GoogleError(
            400,
            f"Invalid JSON payload received. {described}",
            [{"@type": BAD_REQUEST, "fieldViolations": violations}],
        ) from None


def _violations(messages: Any, path: str = "") -> Any:
    if isinstance(messages, dict):
        for name, inner in messages.items():
            yield from _violations(inner, f"{path}.{name}" if path else str(name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            text = "Cannot find field." if message == "Unknown field." else message
            yield {"field": path, "description": text}
    elif isinstance(messages, list):
        for inner in messages:
            yield from _violations(inner, path)


def _comment_text(data: dict[str, Any]) -> str:
    comment = data["comment"]
    if comment.get("type") not in (None, "", "PLAIN_TEXT"):
        raise invalid("Currently, only 'PLAIN_TEXT' comments are supported")
    text: str = comment["text"]
    if not text.strip():
        raise invalid("Comment must be non-empty.", "COMMENT_EMPTY")
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise invalid(
            f"Comment text too long (at most {MAX_TEXT_BYTES} bytes of UTF-8).", "COMMENT_TOO_LONG"
        )
    return text


def _check_attribute(name: str) -> None:
    if name in UNSUPPORTED_ATTRIBUTES:
        raise invalid(
            f"Attribute {name} is not supported by this server; it answers "
            f"{', '.join(ATTRIBUTE_LABELS)}."
        )
    if name not in ATTRIBUTE_LABELS:
        raise invalid(f"Unknown requested attribute: {name}")


# --- the methods ---------------------------------------------------------------------


@blp.post("/v1alpha1/comments:analyze")
def analyze() -> Response:
    """Perspective's ``AnalyzeComment``: scores for the requested attributes."""
    key = _key()
    _limit(key)
    data = _load(AnalyzeCommentRequestSchema())
    text = _comment_text(data)
    requested: dict[str, dict[str, Any]] = data.get("requestedAttributes") or {}
    if not requested:
        raise invalid("Missing requested_attributes", "NO_REQUESTED_ATTRIBUTES")
    for name, options in requested.items():
        _check_attribute(name)
        if options.get("scoreType") not in (None, "", SCORE_TYPE):
            raise invalid(
                f"Requested score type {options['scoreType']} is not supported by attribute {name}"
            )
    spans = services.sentence_spans(text) if data.get("spanAnnotations") else [(0, len(text))]
    texts = [text] + ([text[b:e] for b, e in spans] if len(spans) > 1 else [])
    try:
        scored = channel.request_scores(
            redis_client(), texts, data.get("languages") or [], settings().analyze_timeout_s
        )
    except channel.LanguageUnsupported as exc:
        attribute = next(iter(requested))
        raise invalid(
            f"Attribute {attribute} does not support request languages: "
            f"{', '.join(exc.unsupported)}",
            "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
            languageNotSupportedByAttributeError={
                "detectedLanguages": exc.detected,
                "requestedLanguages": exc.languages,
                "attribute": attribute,
            },
        ) from None
    except (channel.NoAnswer, channel.ScorerFailed) as exc:
        raise GoogleError(
            503, f"The toxicity model could not answer: {exc}. Retry in a moment."
        ) from None
    except redis.RedisError as exc:
        log.error("analyze request not sent, Redis unavailable: %s", exc)
        raise GoogleError(503, "The scoring queue is unavailable. Retry in a moment.") from None
    summary = scored.scores[0]
    attribute_scores, missing = services.attribute_scores(
        requested, summary, spans, scored.scores[1:] if len(spans) > 1 else [summary]
    )
    if missing:
        raise invalid(
            f"Attribute {missing[0]} is not available from this server's model ({scored.model})."
        )
    if not data.get("doNotStore"):
        services.store_analysis(
            db_session(),
            key,
            text,
            languages=scored.languages,
            scores=summary,
            model=scored.model,
            client_token=data.get("clientToken"),
            session_id=data.get("sessionId"),
            community_id=data.get("communityId"),
        )
        db_session().commit()
    body: dict[str, Any] = {
        "attributeScores": attribute_scores,
        "languages": scored.languages,
        "detectedLanguages": scored.detected,
    }
    if data.get("clientToken") is not None:
        body["clientToken"] = data["clientToken"]
    return jsonify(body)


@blp.post("/v1alpha1/comments:suggestscore")
def suggest_score() -> Response:
    """Perspective's ``SuggestCommentScore``: the score a client says a text should have."""
    key = _key()
    _limit(key)
    data = _load(SuggestCommentScoreRequestSchema())
    text = _comment_text(data)
    suggested: dict[str, float] = {}
    for name, scores in (data.get("attributeScores") or {}).items():
        _check_attribute(name)
        if "summaryScore" in scores:
            suggested[name] = scores["summaryScore"]["value"]
    if not suggested:
        raise invalid("Missing attribute_scores: suggest at least one summaryScore.")
    services.record_suggestion(
        db_session(),
        key,
        text,
        suggested,
        languages=[services.primary_language(c) for c in data.get("languages") or []],
        client_token=data.get("clientToken"),
        community_id=data.get("communityId"),
    )
    db_session().commit()
    body = {"clientToken": data["clientToken"]} if data.get("clientToken") is not None else {}
    return jsonify(body)


@blp.get("/$discovery/rest")
def discovery_document() -> Response:
    """Google's discovery document for ``commentanalyzer`` ``v1alpha1``, rooted here."""
    version = request.args.get("version", discovery.VERSION)
    if version != discovery.VERSION:
        raise GoogleError(
            404,
            f"Discovery document not found for API service: {discovery.NAME} "
            f"format: rest version: {version}",
        )
    root = (settings().public_url.rstrip("/") or request.host_url.rstrip("/")) + "/"
    return jsonify(discovery.document(root))


# --- Google's error shape for everything these routes answer ---------------------------


def _google(error: GoogleError) -> Response:
    response = jsonify(
        {
            "error": {
                "code": error.code,
                "message": error.message,
                "status": STATUS.get(error.code, "UNKNOWN"),
                "details": error.details,
            }
        }
    )
    response.status_code = error.code
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


@blp.errorhandler(GoogleError)
def _google_error(error: GoogleError) -> Response:
    return _google(error)


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    data: dict[str, Any] = getattr(error, "data", None) or {}
    message = data.get("message") or error.description or "Request failed."
    if status == 413:
        message = f"Request payload size exceeds the limit: {settings().max_request_bytes} bytes."
    # Google answers every malformed request with 400 INVALID_ARGUMENT
    code = 400 if status in {413, 415, 422} else status
    return _google(GoogleError(code, message))


@blp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    code = 400 if error.status == 422 else error.status
    return _google(GoogleError(code, error.message, headers=error.headers))


@blp.errorhandler(sqlalchemy.exc.OperationalError)
@blp.errorhandler(sqlalchemy.exc.DisconnectionError)
def _database_error(error: Any) -> Response:
    log.error("database unavailable: %s", getattr(error, "orig", None) or error)
    return _google(
        GoogleError(
            503, "The database is unavailable. Retry in a moment.", headers={"Retry-After": "2"}
        )
    )


@blp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _http_error(error)
    log.exception("unhandled error", exc_info=error)
    return _google(GoogleError(500, "Something went wrong on our side; it has been logged."))
