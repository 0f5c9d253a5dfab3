"""Akismet's REST API 1.1, form-encoded, answered the way Akismet answers.

``POST /1.1/verify-key``, ``/1.1/comment-check``, ``/1.1/submit-spam``,
``/1.1/submit-ham`` with Akismet's parameters; the key is an ``analyze`` token (``api_key``,
or ``key`` as some clients send it to verify-key). Bodies are Akismet's own:
``valid``/``invalid``, ``true``/``false`` (with ``X-akismet-pro-tip: discard`` for certain
spam), ``Thanks for making the web a better place.``. A request Akismet would refuse
(an unknown key, a missing field) is answered as Akismet does: ``200`` with ``invalid``
or a message, and the reason in ``X-akismet-debug-help``; clients read the body, not the
status. Our own failures (a body too large, the database down) keep their status, in
the same plain-text form.

A plain Flask blueprint, not part of the OpenAPI document: it speaks another protocol,
with other bodies and error shapes, and clients are written against Akismet's docs.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc
from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from service.akismet import services
from service.akismet.services import CheckResult, Submission
from service.app_context import db_session
from service.errors import ServiceError
from service.moderation.auth import GRANTS, find_token
from service.moderation.models import ApiToken

log = logging.getLogger(__name__)

blp = Blueprint("akismet", __name__, url_prefix="/1.1")

SUBMISSION_THANKS = "Thanks for making the web a better place."
DEBUG_HEADER = "X-akismet-debug-help"


class Refused(Exception):
    """A request Akismet answers with a message body (200) and the reason in its header."""

    def __init__(self, body: str, help_text: str | None = None) -> None:
        super().__init__(body)
        self.body = body
        self.help_text = help_text or body


def _text(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(body, status=status, mimetype="text/plain")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _form() -> dict[str, str]:
    form = request.form
    for name in form:
        if any("\x00" in value for value in form.getlist(name)):
            # PostgreSQL cannot store NUL: refused, never silently dropped
            raise Refused(f"Invalid value for field: {name}.", f"{name} holds a NUL character.")
    return {name: form[name] for name in form}


def _key(form: dict[str, str], *names: str) -> ApiToken:
    """The ``analyze`` token the request names, or Akismet's ``invalid``."""
    raw = next((form[n] for n in names if form.get(n, "").strip()), "")
    if not raw:
        raise Refused("invalid", 'Empty "api_key" value')
    token = find_token(db_session(), raw)
    if token is None or "analyze" not in GRANTS[token.role]:
        raise Refused("invalid", "We were unable to verify your API key.")
    return token


def _require(form: dict[str, str], *names: str) -> None:
    for name in names:
        if name not in form:
            raise Refused(f"Missing required field: {name}.")


@blp.post("/verify-key")
def verify_key() -> Response:
    """``valid`` for an ``analyze`` key and a site URL; else ``invalid``."""
    form = _form()
    key = _key(form, "key", "api_key")
    blog = form.get("blog", "")
    if not blog.startswith(("http://", "https://")):
        raise Refused("invalid", "We were unable to parse your blog URI.")
    services.record_blog(db_session(), key, blog)
    db_session().commit()
    return _text("valid")


def _submission(form: dict[str, str]) -> tuple[ApiToken, Submission]:
    key = _key(form, "api_key")
    _require(form, "blog", "user_ip")
    submission = Submission.from_form(form)
    services.record_blog(db_session(), key, submission.blog)
    return key, submission


@blp.post("/comment-check")
def comment_check() -> Response:
    """``true`` (spam, ``discard`` when certain) or ``false``, from our spam stages."""
    from workers.pipeline.stages import pipeline_for  # not at import: see services.py

    key, submission = _submission(_form())
    pipeline = pipeline_for(current_app)  # type: ignore[arg-type]
    result = services.check(db_session(), pipeline, key, submission)
    db_session().commit()
    if result.verdict is not None:
        log.info(
            "akismet comment-check for %s: %s (spam probability %.4f)",
            key.name,
            result.result.value,
            result.verdict.probability,
            extra={"key": key.name, "result": result.result.value},
        )
    if result.result is CheckResult.HAM:
        return _text("false")
    headers = {"X-akismet-pro-tip": "discard"} if result.result is CheckResult.DISCARD else {}
    return _text("true", headers=headers)


def _submit(is_spam: bool) -> Response:
    key, submission = _submission(_form())
    services.learn(db_session(), key, submission, is_spam=is_spam)
    db_session().commit()
    return _text(SUBMISSION_THANKS)


@blp.post("/submit-spam")
def submit_spam() -> Response:
    """Spam we missed: a spam label, learnt by every classifier within seconds."""
    return _submit(True)


@blp.post("/submit-ham")
def submit_ham() -> Response:
    """Not spam after all: a ham label."""
    return _submit(False)


# --- answers in Akismet's form, for every error of these routes -----------------------


@blp.errorhandler(Refused)
def _refused(error: Refused) -> Response:
    return _text(error.body, headers={DEBUG_HEADER: error.help_text})


def _failure(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _text(message, status, {DEBUG_HEADER: message, **(headers or {})})


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 413:
        return _failure(status, "The request body is too large.")
    return _failure(status, error.description or "Request failed.")


@blp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    return _failure(error.status, error.message, error.headers)


@blp.errorhandler(sqlalchemy.exc.OperationalError)
@blp.errorhandler(sqlalchemy.exc.DisconnectionError)
def _database_error(error: Any) -> Response:
    log.error("database unavailable: %s", getattr(error, "orig", None) or error)
    return _failure(
        503,
        "The database is unavailable; nothing was stored. Retry in a moment.",
        {"Retry-After": "2"},
    )


@blp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _http_error(error)
    log.exception("unhandled error", exc_info=error)
    return _failure(500, "Something went wrong on our side; it has been logged.")
