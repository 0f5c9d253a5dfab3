"""Spam signals: what a comment's text and its author's recent behaviour say, each with its value.

Text signals are pure functions. Behaviour signals (velocity, repeated text) are
sliding windows in Redis, keyed so a redelivered task counts a comment once: every
window is a sorted set whose member is the comment id.

The signals and the learned classifier's probability are combined in log-odds: the
classifier's logit plus a weight for each signal that fired. Weights are judgement,
written down here; every signal that contributed is reported with its value and weight.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import redis

from service.comments.text import URL, strip_diacritics
from workers.spam.classifier import logit

_EMAIL = re.compile(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b")
# Vietnamese mobile/landline numbers (0xx xxx xxxx, +84 ...) and other long digit runs
# broken by spaces, dots or dashes: 9 or more digits in all.
_PHONE = re.compile(r"(?<![\w+])(?:\+?\d[\s.\-]?){9,14}\d(?!\w)")
# Digit runs that look like phone numbers but are not: IPv4 addresses (editors sign
# with them on wikis) and ISBNs (measured: most "contact" hits on discussion text).
_NOT_PHONE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$|^97[89][\s\-]?\d")
_ISBN = re.compile(r"(?i)\bISBN(?:-1[03])?:?\s*[\d\-\s]{10,17}[\dX]\b")
_HANDLE = re.compile(
    r"(?i)\b(?:zalo|telegram|tele|whatsapp|viber|wechat|line id|kik|skype|inbox|ib)\b"
    r"|\b(?:t\.me|wa\.me|zalo\.me|m\.me)/\S+"
)
_REPEAT = re.compile(r"(.)\1{5,}", re.DOTALL)

#: URL shorteners hide where a link goes; spam loves them.
SHORTENERS = frozenset(
    {
        "bit.ly",
        "tinyurl.com",
        "goo.gl",
        "t.co",
        "ow.ly",
        "is.gd",
        "buff.ly",
        "cutt.ly",
        "shorturl.at",
        "rb.gy",
        "tiny.cc",
        "s.id",
        "bom.so",
        "rebrand.ly",
    }
)


@dataclass(frozen=True)
class SignalWeights:
    """Log-odds added to the classifier's for each signal (documented in the README)."""

    per_link: float = 0.8
    max_links_counted: int = 3
    shortener: float = 1.5
    denied_domain: float = 8.0
    contact: float = 2.0
    link_heavy: float = 1.0  # more than half the text is links
    # Measured on held-out comments (docs/spam-classifier.md): shouting fires about as
    # often on ham and on toxic comments as on spam, repeated characters more often on
    # ham. Both are still recorded; they barely (or do not) move the probability.
    shouting: float = 0.2
    repeated_chars: float = 0.0
    duplicate: float = 1.2  # per earlier copy in the window, capped at 3
    duplicate_other_authors: float = 1.5  # the same text from several authors
    author_velocity: float = 1.5
    ip_velocity: float = 1.5
    new_author: float = 0.3


@dataclass(frozen=True)
class SpamConfig:
    allow_domains: frozenset[str] = frozenset()
    deny_domains: frozenset[str] = frozenset()
    window_s: int = 3600
    velocity_window_s: int = 600
    author_velocity_limit: int = 5
    ip_velocity_limit: int = 15
    weights: SignalWeights = field(default_factory=SignalWeights)


def _domain(url: str) -> str:
    if "://" not in url:
        url = "http://" + url
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def _matches(domain: str, listed: Iterable[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in listed)


def text_signals(text: str, config: SpamConfig) -> dict[str, Any]:
    """Signals read from the text alone."""
    urls = URL.findall(text)
    domains = sorted({_domain(u) for u in urls} - {""})
    counted = [d for d in domains if not _matches(d, config.allow_domains)]
    text_wo_urls = URL.sub(" ", text)
    phones = [
        p
        for p in _PHONE.findall(_ISBN.sub(" ", text_wo_urls))
        if sum(c.isdigit() for c in p) >= 9 and not _NOT_PHONE.match(p.strip())
    ]
    emails = _EMAIL.findall(text)
    handles = _HANDLE.findall(text)
    letters = [c for c in text_wo_urls if c.isalpha()]
    upper = sum(1 for c in letters if c.isupper())
    longest_repeat = max((len(m.group(0)) for m in _REPEAT.finditer(text)), default=0)
    url_chars = sum(len(u) for u in urls)
    return {
        "links": len([u for u in urls if _domain(u) in counted]),
        "domains": counted,
        "shorteners": [d for d in counted if d in SHORTENERS],
        "denied_domains": [d for d in counted if _matches(d, config.deny_domains)],
        "phones": len(phones),
        "emails": len(emails),
        "handles": len(handles),
        "link_ratio": round(url_chars / len(text), 3) if text else 0.0,
        "uppercase_ratio": round(upper / len(letters), 3) if len(letters) >= 12 else 0.0,
        "longest_repeat": longest_repeat,
    }


# --- behaviour windows in Redis --------------------------------------------------


def skeleton(text: str) -> str:
    """The text with case, accents, digits, punctuation and spacing taken out."""
    return "".join(ch for ch in strip_diacritics(text) if ch.isalpha())


def _fingerprint(text: str) -> str:
    return hashlib.blake2b(skeleton(text).encode(), digest_size=10).hexdigest()


# Near duplicates: MinHash over character shingles, banded for locality-sensitive hashing.
# Each of the BANDS * ROWS hash functions is h_i(x) = (a_i * x + b_i) mod p over a 32-bit
# blake2b hash x of the shingle, a_i and b_i fixed: every worker process and every restart
# must compute the same keys for the same text, since the keys meet in shared Redis
# windows (so no random draw at start-up and no Python hash(), which is salted).
# Measured on the 5,000 random Jigsaw talk-page comments (in_random_5k): 4.2% share a key,
# all with a comment of shingle Jaccard 0.35 or more (mostly copies of Wikipedia templates);
# with the XOR-ed minima used before, 47% shared one with an unrelated comment (< 0.3).
# tests/test_near_duplicates.py checks this and the recall on near-copies of spam.
SHINGLE_WIDTH = 5
#: Texts with fewer letters than this (after ``shingle_text``) get no near-duplicate keys.
MIN_LETTERS = 20
# The copies worth catching (the same spam, another link, two words changed) sit at shingle
# Jaccard 0.7-0.85 when the spam has 20+ words, unrelated comments below 0.1: the band
# curve (near_duplicate_keys) is near 1 from 0.7 up and near 0 below 0.3.
BANDS = 32
ROWS = 7
# A Mersenne prime below 2**31: with a, b < p and x < 2**32, a*x + b < 2**63, so the
# signature is an overflow-free numpy uint64 expression.
_PRIME = (1 << 31) - 1
# Shingles hashed per numpy step: bounds the (BANDS * ROWS) x chunk matrix to ~7 MB.
_CHUNK = 4096


def _hash_parameters(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed (a, b) of ``count`` hash functions, each drawn from blake2b of its index."""

    def draw(label: str, low: int) -> int:
        digest = hashlib.blake2b(f"moderation-minhash:{label}".encode(), digest_size=8).digest()
        return low + int.from_bytes(digest, "big") % (_PRIME - low)

    a = np.array([draw(f"a{i}", 1) for i in range(count)], dtype=np.uint64)
    b = np.array([draw(f"b{i}", 0) for i in range(count)], dtype=np.uint64)
    return a[:, None], b[:, None]


_A, _B = _hash_parameters(BANDS * ROWS)


def shingle_text(text: str) -> str:
    """The text as near-duplicate detection reads it: links and e-mail addresses removed,
    lower case, accents and look-alike letter forms folded, every run of non-letters one space.

    Links, numbers, punctuation and spacing are what a spammer varies between copies of
    one message, so they are taken out rather than left to make the copies look unrelated.
    """
    # E-mail addresses first: their domain part would otherwise be taken for a link.
    text = URL.sub(" ", _EMAIL.sub(" ", text))
    # NFKD rather than NFD: it also folds fullwidth and "mathematical bold" letters.
    folded = strip_diacritics(text, compatibility=True)
    kept = "".join(ch if ch.isalpha() else " " for ch in folded)
    return " ".join(kept.split())


def _shingles_of(s: str) -> set[str]:
    return {s[i : i + SHINGLE_WIDTH] for i in range(len(s) - SHINGLE_WIDTH + 1)}


def shingles(text: str) -> set[str]:
    """The character ``SHINGLE_WIDTH``-grams of ``shingle_text(text)``."""
    return _shingles_of(shingle_text(text))


def minhash_signature(text: str) -> np.ndarray | None:
    """The text's ``BANDS * ROWS`` MinHash values; None when it is too short to have keys."""
    s = shingle_text(text)
    if len(s) - s.count(" ") < MIN_LETTERS:
        return None
    hashed = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(sh.encode(), digest_size=4).digest(), "big")
            for sh in _shingles_of(s)
        ),
        dtype=np.uint64,
    )
    signature = np.full(BANDS * ROWS, _PRIME, dtype=np.uint64)
    for start in range(0, len(hashed), _CHUNK):
        x = hashed[None, start : start + _CHUNK] % np.uint64(_PRIME)
        values = (_A * x + _B) % np.uint64(_PRIME)
        np.minimum(signature, values.min(axis=1), out=signature)
    return signature


def near_duplicate_keys(text: str) -> list[str]:
    """LSH band keys of the text's MinHash: texts with near-identical shingles share one.

    Two texts whose shingle sets have Jaccard similarity s share at least one of the 32
    bands of 7 rows with probability 1 - (1 - s**7)**32 (one half at s = 0.6):

    ====  ==========
    s     P(share)
    ====  ==========
    0.1   0.0000032
    0.3   0.0070
    0.5   0.22
    0.6   0.60
    0.7   0.94
    0.8   0.9995
    0.9   > 0.9999
    ====  ==========

    Pairs of random comments are below s = 0.1 (99.9% of them, Jigsaw and civil comments);
    the same spam with another link, case or punctuation is at s = 1, and with two words
    changed mostly at 0.7-0.85 if it has 20 words or more (a shorter text changes more, and
    is often missed). Texts under ``MIN_LETTERS`` letters get no keys: short comments
    ("great post", "well said, thank you") repeat innocently, and their exact copies are
    still counted by the exact fingerprint.
    """
    signature = minhash_signature(text)
    if signature is None:
        return []
    # Fixed little-endian bytes: the key must not depend on the machine that made it.
    bands = signature.astype("<u8").reshape(BANDS, ROWS)
    return [
        f"{band}:" + hashlib.blake2b(row.tobytes(), digest_size=8).hexdigest()
        for band, row in enumerate(bands)
    ]


@dataclass(frozen=True)
class CommentFacts:
    """What the behaviour signals need to know about one comment."""

    comment_id: str
    body: str
    author_id: str
    client_ip: str | None
    created_at: float  # epoch seconds


class BehaviourWindows:
    """Velocity and repetition counters in Redis, idempotent per comment id."""

    PREFIX = "moderation:spam:"

    #: For each key in KEYS (a sorted set of one window): add ARGV's member at time
    #: ARGV[1], drop what fell out of its window, count what is left, keep the key a
    #: minute past its window. ARGV after the time: member, window (s), for each key.
    #: One round trip and one command: a comment has about 70 window keys (the 32 LSH
    #: bands, each with its authors), and sent as a pipeline of ~270 commands they
    #: cost the worker 14 ms of client-side CPU each (measured), most of a comment's
    #: cheap stages.
    _OBSERVE = """
    local now = ARGV[1]
    local counts = {}
    for i, key in ipairs(KEYS) do
      local member = ARGV[2 * i]
      local window = tonumber(ARGV[2 * i + 1])
      local oldest = tonumber(now) - window
      redis.call('ZADD', key, now, member)
      redis.call('ZREMRANGEBYSCORE', key, '-inf', oldest)
      counts[i] = redis.call('ZCOUNT', key, oldest, '+inf')
      redis.call('EXPIRE', key, window + 60)
    end
    return counts
    """

    def __init__(self, client: redis.Redis, config: SpamConfig) -> None:
        self.redis = client
        self.config = config
        self._observe = client.register_script(self._OBSERVE)

    def observe(self, facts: CommentFacts) -> dict[str, Any]:
        """Record this comment in its windows and read back how crowded they are."""
        cfg = self.config
        keys: list[tuple[str, str, int]] = [
            (f"author:{facts.author_id}", facts.comment_id, cfg.velocity_window_s),
        ]
        if facts.client_ip:
            keys.append((f"ip:{facts.client_ip}", facts.comment_id, cfg.velocity_window_s))
        dup_keys = [f"dup:{_fingerprint(facts.body)}"] if len(skeleton(facts.body)) >= 12 else []
        dup_keys += [f"near:{k}" for k in near_duplicate_keys(facts.body)]
        for key in dup_keys:
            keys.append((key, facts.comment_id, cfg.window_s))
            keys.append((key + ":authors", facts.author_id, cfg.window_s))

        args: list[Any] = [repr(float(facts.created_at))]
        for _key, member, window in keys:
            args += [member, window]
        results = self._observe(keys=[self.PREFIX + key for key, _m, _w in keys], args=args)
        counts = {key: int(n) for (key, _m, _w), n in zip(keys, results, strict=True)}

        copies = max((counts[k] - 1 for k in dup_keys), default=0)
        authors = max((counts[k + ":authors"] for k in dup_keys), default=1)
        return {
            "author_recent": counts[keys[0][0]],
            "ip_recent": counts[keys[1][0]] if facts.client_ip else None,
            "duplicates": copies,
            "duplicate_authors": authors,
        }


# --- combining ---------------------------------------------------------------------


@dataclass(frozen=True)
class SpamVerdict:
    probability: float
    classifier: float
    #: the signals that moved the probability: name -> {"value": ..., "weight": ...}
    contributions: dict[str, dict[str, Any]]


def combine(
    classifier_probability: float,
    text: dict[str, Any],
    behaviour: dict[str, Any],
    *,
    new_author: bool,
    config: SpamConfig,
) -> SpamVerdict:
    """One spam probability from the classifier and the signals, with the contributions."""
    w = config.weights
    fired: dict[str, dict[str, Any]] = {}

    def add(name: str, value: Any, weight: float) -> None:
        if weight:
            fired[name] = {"value": value, "weight": round(weight, 3)}

    if text["links"]:
        add("links", text["links"], w.per_link * min(text["links"], w.max_links_counted))
    if text["shorteners"]:
        add("shorteners", text["shorteners"], w.shortener)
    if text["denied_domains"]:
        add("denied_domains", text["denied_domains"], w.denied_domain)
    contacts = text["phones"] + text["emails"] + text["handles"]
    if contacts:
        add("contact_details", contacts, w.contact)
    if text["link_ratio"] > 0.5:
        add("link_ratio", text["link_ratio"], w.link_heavy)
    if text["uppercase_ratio"] > 0.7:
        add("uppercase_ratio", text["uppercase_ratio"], w.shouting)
    if text["longest_repeat"] >= 6:
        add("repeated_chars", text["longest_repeat"], w.repeated_chars)
    if behaviour.get("duplicates"):
        add("duplicates", behaviour["duplicates"], w.duplicate * min(behaviour["duplicates"], 3))
        if behaviour.get("duplicate_authors", 1) > 1:
            add("duplicate_authors", behaviour["duplicate_authors"], w.duplicate_other_authors)
    if behaviour.get("author_recent", 0) > config.author_velocity_limit:
        add("author_velocity", behaviour["author_recent"], w.author_velocity)
    if (behaviour.get("ip_recent") or 0) > config.ip_velocity_limit:
        add("ip_velocity", behaviour["ip_recent"], w.ip_velocity)
    if new_author:
        add("new_author", True, w.new_author)

    log_odds = logit(classifier_probability) + sum(f["weight"] for f in fired.values())
    probability = 1.0 / (1.0 + math.exp(-log_odds))
    return SpamVerdict(round(probability, 4), round(classifier_probability, 4), fired)


def parse_domains(values: Sequence[str]) -> frozenset[str]:
    return frozenset(v.strip().lower().removeprefix("www.") for v in values if v.strip())
