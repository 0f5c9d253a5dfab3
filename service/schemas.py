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


class SettingsDocumented:
    """A field whose documented bounds are settings of the running app, not fixed numbers.

    The OpenAPI document is built per app (``create_app``), so it states the bounds that
    app enforces; see :func:`service.openapi.settings_properties`.
    """

    def openapi_properties(self, settings: Any) -> dict[str, Any]:
        raise NotImplementedError


#: what a text field must contain to be non-empty once normalised: one character that is
#: not whitespace, a control character or one of the invisible ones normalisation removes
#: (see service/comments/text.py)
VISIBLE_CHARACTER = (
    r"[^\s\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u206f\u3164\ue000-\uf8ff\ufeff\uffa0]"
)


class NormalizedText(SettingsDocumented, fields.String):
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
            "length bounds apply after Unicode NFC normalisation and removal of control, "
            "zero-width, bidi-override, private-use and unassigned characters",
        )
        super().__init__(**kwargs)

    @staticmethod
    def _bound(value: int | str, settings: Any = None) -> int:
        if not isinstance(value, str):
            return value
        return getattr(settings, value) if settings is not None else setting(value)

    def openapi_properties(self, settings: Any) -> dict[str, Any]:
        # The lengths are those of the normalised text; a raw string within them passes
        # unless normalisation leaves it empty, which the pattern rules out.
        return {
            "minLength": self._bound(self.min_length, settings),
            "maxLength": self._bound(self.max_length, settings),
            "pattern": VISIBLE_CHARACTER,
        }

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


class PageLimit(SettingsDocumented, fields.Integer):
    """A page size: 1 to the PAGE_SIZE_MAX setting; PAGE_SIZE when left out."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata", {"description": "page size (settings PAGE_SIZE, PAGE_SIZE_MAX)"}
        )
        super().__init__(load_default=self._default, **kwargs)

    @staticmethod
    def _default() -> int:
        return min(setting("page_size"), setting("page_size_max"))

    def openapi_properties(self, settings: Any) -> dict[str, Any]:
        return {
            "minimum": 1,
            "maximum": settings.page_size_max,
            "default": min(settings.page_size, settings.page_size_max),
        }

    def _validated(self, value: Any) -> int:
        number = super()._validated(value)
        maximum = setting("page_size_max")
        if not 1 <= number <= maximum:
            raise ma.ValidationError(f"Must be between 1 and {maximum}.")
        return number


class PageArgs(QuerySchema):
    """Query arguments of a cursor-paginated list, shared by every list endpoint."""

    limit = PageLimit()
    cursor = Cursor(
        load_default=None,
        metadata={
            "description": "`next_cursor` of the previous page, as it was; any other value "
            "is refused with 422"
        },
    )
