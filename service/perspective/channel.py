"""Scoring texts now: a request list in Redis that toxicity workers serve first, a reply each.

``comments:analyze`` is synchronous but the API never loads the model (torch stays out
of the API processes, and so does the language identifier: py3langid's model alone
would add about 80 MB to each). So the API pushes ``{"id", "texts", "languages", "at"}`` onto
:data:`QUEUE` and waits on the request's own reply list (:data:`REPLY_PREFIX` + id) with
``BLPOP``; a thread in every toxicity worker process pops requests as they come, checks
the language against what its model covers (refusing, unscored, what it cannot read),
scores the texts and ``LPUSH``es the answer there (see ``workers/toxicity/analyze.py``).

Why not a Celery task: a prefork child runs one task at a time, and a toxicity batch
holds its child for seconds, so an analyze task would wait behind the batch, past a
client's timeout (Coral Talk gives Perspective 800 ms). The serving thread waits only
for the model call in progress (a few hundred padded tokens), and calls waiting for the
model are let in before the batch's next one. A result backend is not needed either:
the reply list is the result, read once, with a TTL.

A request the API stopped waiting for is taken back off the list (``LREM``), so it is
neither scored late nor left in Redis: with ``doNotStore`` the text is in Redis only
while it waits for a worker.

``at`` (the Unix time the request was pushed) is there for ops only: :func:`waiting`
reads the oldest request's age for ``/statusz`` and ``/metrics``.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

QUEUE = "moderation:analyze:requests"
REPLY_PREFIX = "moderation:analyze:reply:"
#: a reply nobody read (the API gave up just as it came) is dropped after this long
REPLY_TTL_S = 30
#: longest single BLPOP: under the app's Redis socket timeout (2 s), so a long wait is
#: several short ones rather than a socket error
_POLL_S = 1.0


class NoAnswer(Exception):
    """No toxicity worker answered in time (none running, or all still loading)."""


class ScorerFailed(Exception):
    """A worker answered that it could not score (the model could not be loaded)."""


class LanguageUnsupported(Exception):
    """The text is in a language the worker's model does not cover; nothing was scored."""

    def __init__(self, unsupported: list[str], languages: list[str], detected: list[str]) -> None:
        super().__init__(", ".join(unsupported))
        self.unsupported = unsupported
        self.languages = languages
        self.detected = detected


@dataclass(frozen=True)
class Scored:
    #: one dict of label scores per text, in the order sent
    scores: list[dict[str, float]]
    #: "name@version" of the model that scored them
    model: str
    #: the languages the text was scored as, and what detection found
    languages: list[str]
    detected: list[str]


def request_scores(
    client: redis.Redis, texts: list[str], languages: list[str], timeout_s: float
) -> Scored:
    """Have a toxicity worker score ``texts`` (the first is the whole comment, whose
    language is checked; the client said ``languages``) now; wait at most ``timeout_s``."""
    request_id = uuid.uuid4().hex
    # wall-clock time, not monotonic: another host reads the age (see waiting)
    payload = json.dumps(
        {"id": request_id, "texts": texts, "languages": languages, "at": time.time()},
        ensure_ascii=False,
    )
    reply_key = REPLY_PREFIX + request_id
    client.rpush(QUEUE, payload)
    deadline = time.monotonic() + timeout_s
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            item = client.blpop([reply_key], timeout=min(_POLL_S, remaining))
            if item is not None:
                return _parse(item[1])
    except BaseException:
        client.lrem(QUEUE, 1, payload)
        raise
    if client.lrem(QUEUE, 1, payload) == 0:
        # a worker took it meanwhile: its answer may be on the way
        item = client.blpop([reply_key], timeout=_POLL_S)
        if item is not None:
            return _parse(item[1])
    raise NoAnswer(f"no toxicity worker answered within {timeout_s:g} s")


@dataclass(frozen=True)
class Waiting:
    #: requests on the list that no worker has taken yet
    length: int
    #: seconds the oldest of them has waited (0 when none waits, or it has no ``at``)
    oldest_age_s: float


def waiting(client: redis.Redis) -> Waiting:
    """How many analyze requests wait for a worker, and for how long the oldest has.

    Two reads in one round trip: the list's length and its head (requests are pushed on
    the right and popped on the left, so the head is the oldest). The age relies on the
    API hosts' clocks agreeing with this one's (NTP); a skewed clock cannot make it
    negative.
    """
    pipe = client.pipeline(transaction=False)
    pipe.llen(QUEUE)
    pipe.lindex(QUEUE, 0)
    length, head = pipe.execute()
    age = 0.0
    if head is not None:
        # no "at": pushed by an API process of an older release (or malformed)
        with contextlib.suppress(ValueError, KeyError, TypeError):
            age = max(0.0, time.time() - float(json.loads(head)["at"]))
    return Waiting(length=int(length), oldest_age_s=round(age, 1))


def _parse(raw: bytes) -> Scored:
    reply: dict[str, Any] = json.loads(raw)
    if "error" in reply:
        raise ScorerFailed(reply.get("message") or reply["error"])
    if reply.get("unsupported"):
        raise LanguageUnsupported(reply["unsupported"], reply["languages"], reply["detected"])
    return Scored(
        scores=reply["scores"],
        model=reply["model"],
        languages=reply["languages"],
        detected=reply["detected"],
    )


def answer(client: redis.Redis, request_id: str, reply: dict[str, Any]) -> None:
    """Hand ``reply`` to the API process waiting for ``request_id``."""
    key = REPLY_PREFIX + request_id
    pipe = client.pipeline(transaction=True)
    pipe.lpush(key, json.dumps(reply))
    pipe.expire(key, REPLY_TTL_S)
    pipe.execute()
