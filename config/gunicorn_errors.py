"""gunicorn's own error pages in the API's one error shape.

gunicorn answers some requests before the app sees them (a request line over
``limit_request_line``, a malformed or bare-CR header, a bad chunk) with a small HTML
page. Clients of a JSON API should get the same envelope as from every other error, so
the config swaps in :func:`write_json_error` for ``gunicorn.util.write_error``, the one
function gunicorn calls to write such a page (its ``Worker.handle_error`` picks the
status and message; we keep those).
"""

from __future__ import annotations

import json
import socket
import uuid

from gunicorn import util

#: stable codes for the statuses only gunicorn answers (the app's own are in service.errors)
CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Write an HTTP error response with the service's JSON error envelope."""
    request_id = uuid.uuid4().hex
    body = json.dumps(
        {
            "error": {
                "status": status_int,
                "code": CODES.get(status_int, "bad_request"),
                "message": f"{reason}: {mesg}" if mesg else reason,
                "request_id": request_id,
            }
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "\r\n"
    ).encode("latin-1")
    util.write_nonblock(sock, head + body)


def install() -> None:
    """Make gunicorn write its own errors as JSON (call from the gunicorn config)."""
    util.write_error = write_json_error
