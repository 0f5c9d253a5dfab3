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
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis

_URL = re.compile(
    r"(?i)\b(?:https?://[^\s<>\"']+|www\.[^\s<>\"']+|"
    r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|info|biz|xyz|top|vn|io|me|ly|co|tk|ru|shop|site|online|club|link)\b(?:/[^\s<>\"']*)?)"
)
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
    urls = _URL.findall(text)
    domains = sorted({_domain(u) for u in urls} - {""})
    counted = [d for d in domains if not _matches(d, config.allow_domains)]
    text_wo_urls = _URL.sub(" ", text)
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
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    letters = (ch for ch in decomposed if ch.isalpha() and not unicodedata.combining(ch))
    return "".join(letters)


def _fingerprint(text: str) -> str:
    return hashlib.blake2b(skeleton(text).encode(), digest_size=10).hexdigest()


_MINHASH_SEEDS = tuple(range(1, 17))
_BANDS = 8  # 8 bands of 2 hashes: texts with Jaccard >= ~0.6 nearly always share one


def near_duplicate_keys(text: str) -> list[str]:
    """MinHash bands of the text's character 5-shingles: near-identical texts share one."""
    s = skeleton(text)
    if len(s) < 20:
        return []  # short texts ("great post") repeat innocently
    shingles = {s[i : i + 5] for i in range(len(s) - 4)}
    hashed = [
        int.from_bytes(hashlib.blake2b(sh.encode(), digest_size=8).digest(), "big")
        for sh in shingles
    ]
    minima = [
        min((h ^ (seed * 0x9E3779B97F4A7C15)) & (2**64 - 1) for h in hashed)
        for seed in _MINHASH_SEEDS
    ]
    rows = len(minima) // _BANDS
    return [
        f"{b}:"
        + hashlib.blake2b(
            repr(minima[b * rows : (b + 1) * rows]).encode(), digest_size=8
        ).hexdigest()
        for b in range(_BANDS)
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

    def __init__(self, client: redis.Redis, config: SpamConfig) -> None:
        self.redis = client
        self.config = config

    def observe(self, facts: CommentFacts) -> dict[str, Any]:
        """Record this comment in its windows and read back how crowded they are."""
        cfg = self.config
        now = facts.created_at
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

        pipe = self.redis.pipeline(transaction=False)
        for key, member, window in keys:
            full = self.PREFIX + key
            pipe.zadd(full, {member: now})
            pipe.zremrangebyscore(full, "-inf", now - window)
            pipe.zcount(full, now - window, "+inf")
            pipe.expire(full, window + 60)
        results = pipe.execute()
        counts = {key: results[i * 4 + 2] for i, (key, _m, _w) in enumerate(keys)}

        copies = max((counts[k] - 1 for k in dup_keys), default=0)
        authors = max((counts[k + ":authors"] for k in dup_keys), default=1)
        return {
            "author_recent": counts[keys[0][0]],
            "ip_recent": counts[keys[1][0]] if facts.client_ip else None,
            "duplicates": copies,
            "duplicate_authors": authors,
        }


# --- combining ---------------------------------------------------------------------


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


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

    logit = _logit(classifier_probability) + sum(f["weight"] for f in fired.values())
    probability = 1.0 / (1.0 + math.exp(-logit))
    return SpamVerdict(round(probability, 4), round(classifier_probability, 4), fired)


def parse_domains(values: Sequence[str]) -> frozenset[str]:
    return frozenset(v.strip().lower().removeprefix("www.") for v in values if v.strip())


def epoch(ts: Any) -> float:
    """Seconds since the epoch for a datetime (or now)."""
    return ts.timestamp() if ts is not None else time.time()
