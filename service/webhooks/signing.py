"""Webhook signatures: HMAC-SHA256 over the timestamp and the raw body.

Each delivery carries::

    X-Moderation-Signature: t=1767225600,v1=5f2b...e9
    X-Moderation-Event: <event id>

where ``v1`` is ``hex(HMAC_SHA256(secret, f"{t}.{raw body}"))``. To verify, the site
recomputes it over the raw request body (before any JSON parsing), compares in
constant time, and refuses timestamps older than a few minutes (replays). The event
id is the same on every retry of one event: use it to ignore duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Moderation-Signature"
EVENT_HEADER = "X-Moderation-Event"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header's value for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance_s: int = 300) -> bool:
    """What a receiving site does: True if ``header`` signs ``body`` and is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > tolerance_s:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
