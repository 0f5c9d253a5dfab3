"""Matching word lists on word boundaries, for Vietnamese with and without diacritics.

Readers drop diacritics to slip past filters ("dit" for "địt"), but unaccented
Vietnamese is also ambiguous ("cho" is "for", "chó" is "dog"). So, word by word:

- a text word *with* diacritics matches a rule word only if it is the same word;
- a text word *without* diacritics matches a rule word whose diacritics are removed
  (so the rule "địt" catches "dit", and the rule "chó" catches "cho": the price of
  catching the evasion; put such words on the suspect list, not the banned one);
- a rule written without diacritics matches any text word that strips down to it.

Phrases match as runs of consecutive words. Case never matters.

Rules of the default lexicon (:mod:`service.policy.lexicon`) are ``strict``: each is
spelled as readers write it, so an unaccented lexicon word ("ngu", stupid) matches
only itself, not the accented words it strips from ("ngủ", sleep; "ngũ", five); and
one marked ``unaccented=False`` does not match a run written entirely without
diacritics ("lồn" is not "lon", a can). A ``scope="vi"`` rule (an abbreviation that
is also English, such as "dm") matches only when the caller says the text is
Vietnamese.

Chat spellings are matched too, in a second reading of the text (only when the text
has one of them, so ordinary comments cost one regular-expression search):

- symbols inside a word: "đ.m", "đ-m", "v.c.l" (pieces of one or two letters are
  joined: "e-mail" and "U.S." stay as they were read); "đ*t", where each ``*`` stands
  for one letter; "d!t", "d1t", "l0z", where a leetspeak character between two letters
  is read as the letter it imitates;
- a letter repeated three times or more ("nguuuu", "điiiit") is read once and twice.
Links and e-mail addresses are left alone.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from service.comments.text import URL, strip_diacritics

_WORD = re.compile(r"\w+", re.UNICODE)

#: What may make the chat reading differ from the plain one: a run of three equal letters,
#: a symbol or a digit between two letters.
#: (Not an apostrophe: "don't" and "it's" are English, not chat spellings.)
_CHAT_HINT = re.compile(r"([^\W\d_])\1\1|[^\W\d_](?:[^\w\s'’]+|\d)[^\W\d_]")
_CHUNK = re.compile(r"\S+")
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_PIECES = re.compile(r"[^\w*]+|_+")
_RUN = re.compile(r"([^\W\d_])\1{2,}")
#: leetspeak: read as the letter only between two letters ("d1t"), never in "100k"
_STARS = re.compile(r"\*+")
_LEET = {"!": "i", "1": "i", "|": "i", "0": "o", "3": "e", "4": "a", "@": "a", "$": "s"}


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


_strip = functools.lru_cache(maxsize=65536)(strip_diacritics)


def _accented(word: str) -> bool:
    return _strip(word) != word


def _is_letter(ch: str) -> bool:
    return ch.isalpha()


def _keep_inner_stars(m: re.Match[str]) -> str:
    """A run of ``*`` between two letters stands for as many letters; others separate."""
    text, start, end = m.string, m.start(), m.end()
    inner = start > 0 and end < len(text) and text[start - 1].isalpha() and text[end].isalpha()
    return m.group() if inner else " "


def _chat_chunk(chunk: str) -> list[tuple[str, ...]]:
    """One whitespace-separated chunk as chat-spelled words, each with its readings."""
    if URL.search(chunk) or ("@" in chunk and "." in chunk):
        return [(w,) for w in _WORD.findall(chunk)]
    core = _EDGES.sub("", chunk)
    chars = list(core)
    for k in range(1, len(chars) - 1):
        if chars[k] in _LEET and _is_letter(chars[k - 1]) and _is_letter(chars[k + 1]):
            chars[k] = _LEET[chars[k]]
    # a "*" stands for a letter only inside a word: "đ*t", "f**k" (not "5*" or "*note*")
    core = _STARS.sub(_keep_inner_stars, "".join(chars))
    pieces = [p for p in _PIECES.split(core) if p]
    if len(pieces) >= 2 and all(len(p) <= 2 and p.isalpha() for p in pieces):
        pieces = ["".join(pieces)]  # "đ.m", "v-c-l": letters spelled apart
    tokens = []
    for piece in pieces:
        if _RUN.search(piece):
            tokens.append((_RUN.sub(r"\1", piece), _RUN.sub(r"\1\1", piece)))
        else:
            tokens.append((piece,))
    return tokens


def chat_words(text: str) -> tuple[list[tuple[str, ...]], set[int]] | None:
    """The text's words read as chat spellings, each with its readings, and the positions
    whose reading differs from the plain one; None if none does (most texts: then it
    costs one regex search)."""
    text = unicodedata.normalize("NFC", text).lower()
    if not _CHAT_HINT.search(text):
        return None
    tokens: list[tuple[str, ...]] = []
    changed: set[int] = set()
    for chunk in _CHUNK.findall(text):
        if not _CHAT_HINT.search(chunk):
            tokens += [(w,) for w in _WORD.findall(chunk)]
            continue
        plain = _WORD.findall(chunk)
        read = _chat_chunk(chunk)
        if [r[0] for r in read] != plain or any(len(r) > 1 for r in read):
            changed.update(range(len(tokens), len(tokens) + len(read)))
        tokens += read
    return (tokens, changed) if changed else None


@dataclass(frozen=True)
class Rule:
    """A phrase on a word list and how it matches."""

    phrase: str
    kind: str
    #: "site" for the site's own lists, else the default lexicon's name ("vi-default@1")
    source: str = "site"
    #: "vi": only in texts the caller says are Vietnamese
    scope: str | None = None
    #: lexicon rules: an unaccented rule word matches only itself (no rule 3 above)
    strict: bool = False
    #: False: a run written entirely without diacritics does not match this accented rule
    unaccented: bool = True


@dataclass(frozen=True)
class Match:
    phrase: str
    kind: str
    source: str = "site"


class Span(NamedTuple):
    """Where a rule matched, as offsets into the NFC form of the text."""

    start: int
    end: int
    phrase: str
    kind: str


class WordMatcher:
    """Finds the rules a text triggers. Build once per list version; matching is cheap."""

    def __init__(self, rules: Iterable[Rule | tuple[str, str]]) -> None:
        # stripped first word -> [(rule words, rule)]
        self._index: dict[str, list[tuple[tuple[str, ...], Rule]]] = {}
        # first word's length -> the same, for a "*" in the text's first word
        self._by_length: dict[int, list[tuple[tuple[str, ...], Rule]]] = {}
        self.size = 0
        self._longest = 1  # words in the longest rule
        for item in rules:
            rule = item if isinstance(item, Rule) else Rule(*item)
            rule_words = tuple(words(rule.phrase))
            if not rule_words:
                continue
            entry = (rule_words, rule)
            self._longest = max(self._longest, len(rule_words))
            self._index.setdefault(_strip(rule_words[0]), []).append(entry)
            self._by_length.setdefault(len(rule_words[0]), []).append(entry)
            self.size += 1

    @staticmethod
    def _word_matches(text_word: str, rule_word: str, strict: bool) -> bool:
        if text_word == rule_word:
            return True
        if "*" in text_word:
            return len(text_word) == len(rule_word) and all(
                t in ("*", r) or (_strip(t) == t == _strip(r))
                for t, r in zip(text_word, rule_word, strict=True)
            )
        if _strip(text_word) != _strip(rule_word):
            return False
        # same letters, different marks: a match if the text has none, or (site rules
        # only) the rule has none
        return not _accented(text_word) or (not strict and not _accented(rule_word))

    def _candidates(self, readings: tuple[str, ...]) -> list[tuple[tuple[str, ...], Rule]]:
        if len(readings) == 1 and "*" not in readings[0]:
            return self._index.get(_strip(readings[0]), [])
        found: list[tuple[tuple[str, ...], Rule]] = []
        for reading in readings:
            if "*" in reading:
                found += self._by_length.get(len(reading), ())
            else:
                found += self._index.get(_strip(reading), ())
        return found

    def _scan(
        self,
        tokens: list[tuple[str, ...]],
        vietnamese: bool,
        found: dict[str, Match],
        starts: Iterable[int] | None = None,
    ) -> None:
        for i in range(len(tokens)) if starts is None else starts:
            for rule_words, rule in self._candidates(tokens[i]):
                if rule.phrase not in found and self._matches_at(
                    tokens, i, rule_words, rule, vietnamese
                ):
                    found[rule.phrase] = Match(rule.phrase, rule.kind, rule.source)

    def _matches_at(
        self,
        tokens: list[tuple[str, ...]],
        i: int,
        rule_words: tuple[str, ...],
        rule: Rule,
        vietnamese: bool,
    ) -> bool:
        """Whether ``rule`` matches the run of ``tokens`` (each word's readings) from ``i``."""
        if i + len(rule_words) > len(tokens) or (rule.scope == "vi" and not vietnamese):
            return False
        run = []
        for j, rule_word in enumerate(rule_words):
            hit = next(
                (r for r in tokens[i + j] if self._word_matches(r, rule_word, rule.strict)),
                None,
            )
            if hit is None:
                return False
            run.append(hit)
        return rule.unaccented or any(map(_accented, run))

    def find(self, text: str, *, vietnamese: bool = True) -> list[Match]:
        """Each rule triggered by ``text``, once, in order of first appearance.

        ``vietnamese``: whether the text is Vietnamese, for ``scope="vi"`` rules.
        """
        found: dict[str, Match] = {}
        self._scan([(w,) for w in words(text)], vietnamese, found)
        chat = chat_words(text)
        if chat is not None:
            tokens, changed = chat
            # only the runs that contain a word read differently can match differently
            starts = {i for c in changed for i in range(max(0, c - self._longest + 1), c + 1)}
            self._scan(tokens, vietnamese, found, sorted(starts))
        return list(found.values())

    def spans(self, text: str, *, vietnamese: bool = True) -> list[Span]:
        """Every place a rule matches in ``unicodedata.normalize("NFC", text)``, in order,
        so a page can highlight the words that drove a decision (plain spellings: a
        chat spelling such as ``đ.m`` is found by :meth:`find` but not located here)."""
        found = list(_WORD.finditer(unicodedata.normalize("NFC", text)))
        tokens = [(m.group().lower(),) for m in found]
        spans: list[Span] = []
        for i, token in enumerate(tokens):
            for rule_words, rule in self._candidates(token):
                if self._matches_at(tokens, i, rule_words, rule, vietnamese):
                    end = found[i + len(rule_words) - 1].end()
                    spans.append(Span(found[i].start(), end, rule.phrase, rule.kind))
                    break
        return spans
