"""The default Vietnamese lexicon: a curated word list active with no setup.

``vi.json`` beside this file is the curation of the MIT-licensed vn-badwords list
(its notice: ``LICENSE.vn-badwords``; how it was curated: docs/vi-lexicon.md). Every
string of the source is listed, with a severity: ``certain`` (reject, the banned
kind), ``suspect`` (hold) or ``removed`` (everyday words, kept with the reason so the
curation can be audited). The site's own word rules override entries by phrase: a
``banned`` or ``suspect`` rule changes an entry's kind, an ``allow`` rule switches it
off (:func:`merged_rules`).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from service.comments.text import strip_diacritics
from service.policy.models import WordKind
from service.policy.words import Rule, words

CERTAIN, SUSPECT, REMOVED = "certain", "suspect", "removed"
#: what each severity does, as the word lists' kinds
KIND_OF = {CERTAIN: WordKind.BANNED.value, SUSPECT: WordKind.SUSPECT.value}


@dataclass(frozen=True)
class LexiconEntry:
    phrase: str
    severity: str
    #: "vi": only in comments whose language is Vietnamese
    scope: str | None = None
    #: False: a run written wholly without diacritics does not match
    unaccented: bool = True
    #: why it was removed, or a note on a kept entry
    note: str | None = None
    #: not in the source list
    added: bool = False

    @property
    def kind(self) -> str | None:
        """The word-list kind it acts as (None: removed)."""
        return KIND_OF.get(self.severity)


def normalize(phrase: str) -> str:
    """A phrase as the lexicon and the word lists compare it: its words, lower case, NFC."""
    return " ".join(words(phrase))


@dataclass(frozen=True)
class Lexicon:
    name: str
    version: str
    entries: tuple[LexiconEntry, ...]

    @property
    def label(self) -> str:
        """Names the rules that came from it in signals: ``vi-default@1``."""
        return f"{self.name}@{self.version}"

    @functools.cached_property
    def _active(self) -> dict[str, LexiconEntry]:
        return {normalize(e.phrase): e for e in self.entries if e.kind is not None}

    def active(self, phrase: str) -> LexiconEntry | None:
        """The entry that matches as ``phrase`` (None if there is none, or it is removed)."""
        return self._active.get(normalize(phrase))

    def rules(self, overrides: Mapping[str, str] | None = None) -> list[Rule]:
        """The active entries as word rules, each with its kind overridden by the site's
        rule for the same phrase (``allow``: left out)."""
        overrides = overrides or {}
        rules = []
        for phrase, entry in self._active.items():
            kind = overrides.get(phrase, entry.kind)
            if kind == WordKind.ALLOW:
                continue
            rules.append(
                Rule(
                    phrase=phrase,
                    kind=kind,  # type: ignore[arg-type]
                    # a site rule that changes an entry still matches as the entry does
                    source="site" if phrase in overrides else self.label,
                    scope=entry.scope,
                    strict=True,
                    unaccented=entry.unaccented,
                )
            )
        return rules


def parse(document: Mapping[str, Any]) -> Lexicon:
    """A lexicon from its JSON document.

    An accented entry whose unaccented spelling is an entry of its own (``lồn`` and
    ``lon``, ``địt mẹ`` and ``dit me``) leaves unaccented text to that entry, which may
    be removed or scoped: the curation of the unaccented spelling decides.
    """
    raw = document["entries"]
    spelled = {normalize(e["phrase"]) for e in raw}
    entries = []
    for e in raw:
        phrase = normalize(e["phrase"])
        stripped = " ".join(words(strip_diacritics(phrase)))
        unaccented = e.get("unaccented", True) and (stripped == phrase or stripped not in spelled)
        if e["severity"] not in (CERTAIN, SUSPECT, REMOVED):
            raise ValueError(f"{e['phrase']!r}: unknown severity {e['severity']!r}")
        entries.append(
            LexiconEntry(
                phrase=e["phrase"],
                severity=e["severity"],
                scope=e.get("scope"),
                unaccented=unaccented,
                note=e.get("reason") or e.get("note"),
                added=e.get("added", False),
            )
        )
    return Lexicon(document["name"], str(document["version"]), tuple(entries))


@functools.cache
def vietnamese() -> Lexicon:
    """The packaged Vietnamese lexicon (read once per process; it never changes)."""
    path = importlib.resources.files(__name__) / "vi.json"
    return parse(json.loads(path.read_text(encoding="utf-8")))


def merged_rules(site_rules: Iterable[tuple[str, str]], lexicon: Lexicon | None) -> list[Rule]:
    """The site's rules and the lexicon's, one rule per phrase: the site's kind wins.

    A site rule for a phrase the lexicon has keeps the entry's way of matching (strict,
    scope) and changes only what it does; ``allow`` rules silence entries and match
    nothing themselves.
    """
    site = {normalize(phrase): (phrase, kind) for phrase, kind in site_rules}
    if lexicon is None:
        return [Rule(p, k) for p, k in site.values() if k != WordKind.ALLOW]
    rules = lexicon.rules({n: kind for n, (_, kind) in site.items()})
    rules += [
        Rule(phrase, kind)
        for n, (phrase, kind) in site.items()
        if kind != WordKind.ALLOW and lexicon.active(n) is None
    ]
    return rules
