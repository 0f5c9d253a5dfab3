"""The application factory: one Flask app per call, never a global one."""

from __future__ import annotations

from typing import Any

import flask_smorest
import redis
from celery import Celery
from flask import Flask, request
from redis.backoff import NoBackoff
from redis.retry import Retry
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Settings
from config.celery import celery_config
from service import app_context, errors, guards, logs, openapi
from service.akismet.api import blp as akismet_blp
from service.articles.api import blp as articles_blp
from service.comments.api import blp as comments_blp
from service.console import views as console
from service.db import Database
from service.dispatch import Dispatcher
from service.moderation.api import blp as moderation_blp
from service.ops.api import blp as ops_blp
from service.perspective.api import blp as perspective_blp
from service.policy.api import blp as policy_blp
from service.ratelimit import RateLimiter
from service.schemas import ErrorEnvelopeSchema
from service.webhooks.services import status_listeners


class Api(flask_smorest.Api):
    """flask-smorest, documenting our error envelope instead of its own.

    No catch-all ``default`` response: each operation lists the errors it can answer
    (service/openapi.py).
    """

    ERROR_SCHEMA = ErrorEnvelopeSchema
    DEFAULT_ERROR_RESPONSE_NAME = None


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the API app from ``settings`` (default: the environment)."""
    settings = settings or Settings.from_env(**overrides)
    app = Flask("service")
    app.config.update(
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        JSON_SORT_KEYS=False,
        API_TITLE="Comment moderation API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    logs.configure_logging(settings.log_level, settings.log_format)

    db = Database(settings.sqlalchemy_url)
    redis_client = redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.enqueue_timeout_s,
        socket_timeout=max(settings.enqueue_timeout_s, 2.0),
        health_check_interval=30,
    )
    celery = celery_init_app(app, settings)
    app.extensions["db"] = db
    app.extensions["redis"] = redis_client
    app.extensions["rate_limiter"] = RateLimiter(redis_client, settings.redis_url)
    dispatcher = Dispatcher(
        celery,
        # its own client: a dispatch mark is written on the POST path, before the
        # message is sent, so it must fail as fast as the broker does (no retries)
        redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.enqueue_timeout_s,
            socket_timeout=max(settings.enqueue_timeout_s, 2.0),
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        ),
        settings.dispatch_mark_ttl_s,
        settings.enqueue_breaker_s,
        hold_ttl_s=settings.hold_mark_ttl_s,
        marks_on_broker=settings.celery_broker_url == settings.redis_url,
    )
    app.extensions["dispatcher"] = dispatcher
    # called with every status change, inside its transaction
    app.extensions["status_listeners"] = status_listeners(settings, dispatcher)

    app_context.init_app(app)
    logs.init_app(app)
    _require_json_bodies(app)
    guards.init_app(app)

    app.url_map.converters["site_id"] = openapi.SiteIdConverter
    api = Api(
        app,
        spec_kwargs={
            "info": {"description": API_DESCRIPTION},
            "extra_plugins": [openapi.CommonErrorsPlugin("ErrorEnvelope")],
        },
    )
    api.register_converter(openapi.SiteIdConverter, openapi.site_id_parameter)
    api.ma_plugin.converter.add_attribute_function(openapi.settings_properties(settings))
    api.ma_plugin.converter.add_attribute_function(openapi.null_or_nested)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "an API token"}
    )
    api.register_blueprint(comments_blp)
    api.register_blueprint(articles_blp)
    api.register_blueprint(moderation_blp)
    api.register_blueprint(policy_blp)
    app.register_blueprint(ops_blp)
    # other protocols (their own bodies and errors), outside the OpenAPI document
    app.register_blueprint(akismet_blp)
    app.register_blueprint(perspective_blp)
    # the moderators' console: HTML pages, form posts, outside the OpenAPI document
    console.init_app(app)
    # after flask-smorest's own handlers, so ours win: one error shape everywhere
    errors.init_app(app)
    if settings.trusted_proxies:
        # only as many hops as are ours: a client can write any X-Forwarded-For it likes
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    return app


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    """The app's Celery instance (flask's examples/celery pattern), in app.extensions."""
    celery = Celery("moderation", task_cls="workers.base:AppTask")
    celery.config_from_object(celery_config(settings))
    celery.flask_app = app  # type: ignore[attr-defined]
    app.extensions["celery"] = celery
    return celery


#: blueprints whose requests are form-encoded, as the protocol they speak has it
FORM_BLUEPRINTS = frozenset({"akismet", "console"})


def _require_json_bodies(app: Flask) -> None:
    @app.before_request
    def _check_content_type() -> None:
        if request.method not in {"POST", "PUT", "PATCH"} or request.blueprint in FORM_BLUEPRINTS:
            return
        if not (request.content_length or request.headers.get("Transfer-Encoding")):
            # every write of this API takes a body: none at all is a mistake, not "{}"
            errors.abort(
                400,
                "Send a JSON body with Content-Type: application/json.",
                code="body_required",
            )
        if not request.is_json:
            errors.abort(
                415,
                "Send the body as JSON with Content-Type: application/json.",
                code="unsupported_media_type",
            )


API_DESCRIPTION = """\
Comment intake and moderation for news sites.

Every error has one shape: `{"error": {"status", "code", "message", "details"?,
"request_id"?}}`. `code` is stable; `message` tells a person what to change.

No string anywhere in a request (body, query, path) may hold NUL (U+0000) or an
unpaired surrogate: such a request is refused with 422 naming the field.
"""
