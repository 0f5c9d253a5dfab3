"""Schema pieces shared by every domain: the strict input base, the error envelope, paging."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import marshmallow as ma
from flask import current_app
from marshmallow import fields, validate

from service.comments.text import normalize_line, normalize_text


class InputSchema(ma.Schema):
    """Request bodies: unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = ma.RAISE


class QuerySchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE


class ErrorSchema(ma.Schema):
    status = fields.Integer(required=True, metadata={"description": "HTTP status"})
    code = fields.String(
        required=True, metadata={"description": "stable machine-readable error code"}
    )
    message = fields.String(required=True, metadata={"description": "what to change, for a person"})
    details = fields.Raw(metadata={"description": "per-field errors or the current state"})
    request_id = fields.String()


class ErrorEnvelopeSchema(ma.Schema):
    error = fields.Nested(ErrorSchema, required=True)


def setting(name: str) -> Any:
    """A setting of the running app (schemas are built at import, settings per app)."""
    return getattr(current_app.config["SETTINGS"], name)


class NormalizedText(fields.String):
    """A string normalised (NFC, invisible characters removed) *before* its length is checked.

    Bounds are either fixed numbers or names of settings read from the running app.
    """

    def __init__(
        self,
        *,
        min_length: int | str = 1,
        max_length: int | str,
        one_line: bool = False,
        **kwargs: Any,
    ) -> None:
        self.one_line = one_line
        self.min_length = min_length
        self.max_length = max_length
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault(
            "description",
            f"length bounds ({min_length}, {max_length}) apply after Unicode NFC normalisation "
            "and removal of control, zero-width and bidi-override characters",
        )
        super().__init__(**kwargs)

    @staticmethod
    def _bound(value: int | str) -> int:
        return setting(value) if isinstance(value, str) else value

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        text = normalize_line(text) if self.one_line else normalize_text(text)
        low, high = self._bound(self.min_length), self._bound(self.max_length)
        if len(text) < low:
            if low == 1:
                raise ma.ValidationError("Must not be empty (after removing invisible characters).")
            raise ma.ValidationError(f"Must be at least {low} characters (got {len(text)}).")
        if len(text) > high:
            raise ma.ValidationError(f"Must be at most {high} characters (got {len(text)}).")
        return text


#: identifiers the site chooses (article ids, author ids): safe in a URL path and a log
#: line, and never only dots
SITE_ID_PATTERN = re.compile(r"^(?!\.+$)[A-Za-z0-9._:~@+-]{1,200}$")
SITE_ID_HELP = "Use 1 to 200 letters, digits or . _ : ~ @ + - (not only dots)"
SITE_ID = validate.Regexp(SITE_ID_PATTERN, error=SITE_ID_HELP)


def encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ma.ValidationError("Not a cursor this API returned.") from exc
    if not isinstance(payload, dict):
        raise ma.ValidationError("Not a cursor this API returned.")
    return payload


class Cursor(fields.String):
    """An opaque cursor: serialised position of the last item of the previous page."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        return decode_cursor(super()._deserialize(value, attr, data, **kwargs))


class PageArgs(QuerySchema):
    """Query arguments of a cursor-paginated list."""

    limit = fields.Integer(
        load_default=None,
        metadata={"description": "page size; default and maximum are settings (20, 100)"},
    )
    cursor = Cursor(
        load_default=None,
        metadata={"description": "`next_cursor` of the previous page"},
    )

    @ma.post_load
    def _limit(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        maximum = setting("page_size_max")
        if data["limit"] is None:
            data["limit"] = min(setting("page_size"), maximum)
        elif not 1 <= data["limit"] <= maximum:
            raise ma.ValidationError(f"Must be between 1 and {maximum}.", "limit")
        return data
