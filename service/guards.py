"""One set of rules for what any request may carry, checked before any view runs.

- **Characters.** No string anywhere in a request (JSON body, query, path) may hold NUL
  or an unpaired surrogate: PostgreSQL cannot store the first, nothing can encode the
  second. They are refused with 422 naming the field, never silently dropped (a
  dropped character changes what the caller meant: ``"\\ud800x"`` is not ``"x"``).
- **Path ids.** A string path parameter named ``*_id`` (an article's or an author's id
  on the site) follows one rule everywhere: :data:`service.schemas.SITE_ID_PATTERN`.
- **Integer path ids** outside the database's integer range identify nothing: 404.
- **JSON nesting.** A body nested too deeply to parse is a bad body (400), not a crash.
- **Body size.** A chunked body (no ``Content-Length``) larger than ``MAX_REQUEST_BYTES``
  is refused with 413 like a declared one, not cut short into "invalid JSON".
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, request

from service.errors import Invalid, abort
from service.schemas import SITE_ID_HELP, SITE_ID_PATTERN

_BAD_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
BAD_CHARACTERS_HELP = "Must not contain NUL (U+0000) or unpaired surrogate characters."
#: the largest id an INTEGER column holds (PostgreSQL, and SQLite's rowids in practice)
MAX_INTEGER_ID = 2**31 - 1


def bad_fields(value: Any, path: str = "") -> Iterator[str]:
    """The dotted paths of the strings (keys included) in ``value`` that hold a bad character."""
    if isinstance(value, str):
        if _BAD_CHARACTERS.search(value):
            yield path or "_json"
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _BAD_CHARACTERS.search(key):
                yield path or "_json"
            else:
                yield from bad_fields(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from bad_fields(item, f"{path}.{i}" if path else str(i))


def _json_body() -> Any:
    """The parsed body, or None when there is none or it is not JSON (the views say so)."""
    if not request.is_json:
        return None
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except RecursionError:
        abort(400, "The request body is nested too deeply.", code="invalid_json")
    except ValueError:
        return None  # the view's parser answers 400 in the usual words


def check_request() -> None:
    """Refuse what no view should see (see the module docstring)."""
    problems: dict[str, list[str]] = {}
    for key, value in (request.view_args or {}).items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not 0 <= value <= MAX_INTEGER_ID:
            abort(404, "No such resource.")
        if isinstance(value, str):
            if _BAD_CHARACTERS.search(value):
                problems[key] = [BAD_CHARACTERS_HELP]
            elif key.endswith("_id") and not SITE_ID_PATTERN.match(value):
                problems[key] = [f"{SITE_ID_HELP}."]
    for key in request.args:
        if _BAD_CHARACTERS.search(key) or any(
            _BAD_CHARACTERS.search(v) for v in request.args.getlist(key)
        ):
            problems[key] = [BAD_CHARACTERS_HELP]
    for field in bad_fields(_json_body()):
        problems.setdefault(field, [BAD_CHARACTERS_HELP])
    if problems:
        named = "; ".join(f"{k}: {v[0]}" for k, v in problems.items())
        raise Invalid(f"The request is invalid. {named}", details=problems)


class BoundedChunkedBody:
    """WSGI middleware: give a chunked request the length of what it sent, up to a bound.

    Werkzeug limits an undeclared body to ``MAX_CONTENT_LENGTH`` by reading that much and
    stopping, so a 10 MB chunked upload reached the views as a truncated (invalid) JSON
    body: 400 instead of 413. Reading one byte past the bound here and declaring what
    was read makes werkzeug's own ``Content-Length`` check answer 413, in our error
    shape, for chunked and declared bodies alike; the rest of the upload is never read.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        # only where the server ends the stream at the last chunk (gunicorn, werkzeug)
        if chunked and not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read(self.max_bytes + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            # werkzeug ignores Content-Length beside "chunked"; the body is plain now
            del environ["HTTP_TRANSFER_ENCODING"]
        return self.app(environ, start_response)


def init_app(app: Flask) -> None:
    app.before_request(check_request)
    max_bytes = app.config.get("MAX_CONTENT_LENGTH")
    if max_bytes:
        app.wsgi_app = BoundedChunkedBody(app.wsgi_app, max_bytes)  # type: ignore[method-assign]
