"""What the OpenAPI document says beyond what flask-smorest derives from each view.

- **Bounds that are settings** (page sizes, comment lengths) are stated as the values of
  the app that serves the document (:func:`settings_properties`).
- **Site ids in paths** (``<site_id:article_id>``) carry the pattern every site id follows.
- **Errors any operation can answer**, raised before its view runs or by the database
  handler, are listed on every operation, in the one error shape
  (:class:`CommonErrorsPlugin`). Errors of one view (404, 409) are documented on it with
  ``@blp.doc(responses=...)`` and :func:`error_doc`; 401 and 403 come with ``SECURED``
  (service/moderation/auth.py).

There is no catch-all ``default`` response: a status the document does not list for an
operation is a bug, and tests/test_openapi_contract.py looks for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apispec import BasePlugin
from marshmallow import fields
from werkzeug.routing import UnicodeConverter

from service.schemas import SITE_ID_PATTERN, ErrorEnvelopeSchema, SettingsDocumented

#: the request hooks behind each common error: service/app.py (bodies), service/guards.py
#: (characters, path ids), service/errors.py (the database)
EVERY_OPERATION = {
    422: "A string holds NUL or an unpaired surrogate, or a site id in the path is "
    "malformed (`validation_failed`), or the body or query is invalid.",
    503: "The database is unavailable; nothing was stored (`database_unavailable`).",
}
WITH_A_BODY = {
    400: "No body (`body_required`), or a body that is not JSON (`bad_request`, `invalid_json`).",
    413: "The body is larger than the MAX_REQUEST_BYTES setting (`payload_too_large`).",
    415: "The body is not sent as `application/json` (`unsupported_media_type`).",
}


def error_doc(description: str) -> dict[str, Any]:
    """An error response for ``@blp.doc(responses=...)``, in the one error shape."""
    return {
        "description": description,
        "content": {"application/json": {"schema": ErrorEnvelopeSchema}},
    }


class SiteIdConverter(UnicodeConverter):
    """A site's id in a path: routed like any segment, refused with 422 by the guards
    (service/guards.py) unless it matches :data:`service.schemas.SITE_ID_PATTERN`."""


def site_id_parameter(_converter: SiteIdConverter) -> dict[str, Any]:
    return {"type": "string", "pattern": SITE_ID_PATTERN.pattern, "maxLength": 200}


def settings_properties(settings: Any) -> Callable[..., dict[str, Any]]:
    """An apispec attribute function: the bounds of :class:`SettingsDocumented` fields."""

    def settings_bounds(_converter: Any, field: Any, **_kwargs: Any) -> dict[str, Any]:
        if isinstance(field, SettingsDocumented):
            return field.openapi_properties(settings)
        return {}

    return settings_bounds


def null_or_nested(_converter: Any, field: Any, ret: dict[str, Any], **_kwargs: Any) -> dict:
    """An apispec attribute function: a nullable nested object is its schema or null.

    apispec writes ``anyOf: [$ref, {type: object, nullable: true}]`` for OpenAPI 3.0,
    whose second branch admits any object at all; ``enum: [null]`` keeps it to null.
    """
    branches = ret.get("anyOf")
    if not (isinstance(field, fields.Nested) and field.allow_none and branches):
        return {}
    nullable = {"type": "object", "nullable": True}
    return {"anyOf": [{**b, "enum": [None]} if b == nullable else b for b in branches]}


class CommonErrorsPlugin(BasePlugin):
    """Adds the errors of :data:`EVERY_OPERATION` and :data:`WITH_A_BODY` to each operation."""

    def __init__(self, error_schema: str) -> None:
        #: the error envelope's name among the components (the plugin runs after
        #: marshmallow's, so it names the schema rather than passing it)
        self.error_schema = error_schema

    def operation_helper(
        self, path: str | None = None, operations: dict | None = None, **_kwargs: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            errors = dict(EVERY_OPERATION)
            if method in {"post", "put", "patch"}:
                errors.update(WITH_A_BODY)
            responses = operation.setdefault("responses", {})
            documented = {str(status) for status in responses}
            for status, description in errors.items():
                if str(status) in documented:
                    continue
                responses[str(status)] = {
                    "description": description,
                    "content": {"application/json": {"schema": self.error_schema}},
                }
