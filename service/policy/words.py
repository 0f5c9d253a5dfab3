"""Matching word lists on word boundaries, for Vietnamese with and without diacritics.

Readers drop diacritics to slip past filters ("dit" for "địt"), but unaccented
Vietnamese is also ambiguous ("cho" is "for", "chó" is "dog"). So, word by word:

- a text word *with* diacritics matches a rule word only if it is the same word;
- a text word *without* diacritics matches a rule word whose diacritics are removed
  (so the rule "địt" catches "dit", and the rule "chó" catches "cho": the price of
  catching the evasion; put such words on the suspect list, not the banned one);
- a rule written without diacritics matches any text word that strips down to it.

Phrases match as runs of consecutive words. Case never matters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from service.comments.text import strip_diacritics

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def _accented(word: str) -> bool:
    return strip_diacritics(word) != word


@dataclass(frozen=True)
class Match:
    phrase: str
    kind: str


class Span(NamedTuple):
    """Where a rule matched, as offsets into the NFC form of the text."""

    start: int
    end: int
    phrase: str
    kind: str


class WordMatcher:
    """Finds the rules a text triggers. Build once per list version; matching is cheap."""

    def __init__(self, rules: Iterable[tuple[str, str]]) -> None:
        # stripped first word -> [(rule words, phrase, kind)]
        self._index: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        self.size = 0
        for phrase, kind in rules:
            rule_words = tuple(words(phrase))
            if not rule_words:
                continue
            self._index.setdefault(strip_diacritics(rule_words[0]), []).append(
                (rule_words, phrase, kind)
            )
            self.size += 1

    @staticmethod
    def _word_matches(text_word: str, rule_word: str) -> bool:
        if text_word == rule_word:
            return True
        if strip_diacritics(text_word) != strip_diacritics(rule_word):
            return False
        # same letters, different marks: a match only if one side has no marks at all
        return not _accented(text_word) or not _accented(rule_word)

    def find(self, text: str) -> list[Match]:
        """Each rule triggered by ``text``, once, in rule order of first appearance."""
        tokens = words(text)
        found: dict[str, Match] = {}
        for i, token in enumerate(tokens):
            for rule_words, phrase, kind in self._index.get(strip_diacritics(token), ()):
                if phrase in found or i + len(rule_words) > len(tokens):
                    continue
                if all(self._word_matches(tokens[i + j], rw) for j, rw in enumerate(rule_words)):
                    found[phrase] = Match(phrase, kind)
        return list(found.values())

    def spans(self, text: str) -> list[Span]:
        """Every place a rule matches in ``unicodedata.normalize("NFC", text)``, in order,
        so a page can highlight the words that drove a decision."""
        found = list(_WORD.finditer(unicodedata.normalize("NFC", text)))
        tokens = [m.group().lower() for m in found]
        spans: list[Span] = []
        for i, token in enumerate(tokens):
            for rule_words, phrase, kind in self._index.get(strip_diacritics(token), ()):
                n = len(rule_words)
                if i + n <= len(tokens) and all(
                    self._word_matches(tokens[i + j], rw) for j, rw in enumerate(rule_words)
                ):
                    spans.append(Span(found[i].start(), found[i + n - 1].end(), phrase, kind))
                    break
        return spans
