"""Which language a comment is in, and whether that is a confident call.

Vietnamese first, by its letters: ă â đ ê ô ơ ư and the tone-marked vowels are not
used together by any other language, so one such word decides it even in a two-word
comment, and a comment that mixes Vietnamese with English is Vietnamese here (the
English model cannot read the Vietnamese half, which may be the part that insults).
Everything else goes to py3langid (its model ships in the wheel), restricted to the
languages a news site's readers plausibly write in, with normalised probabilities.

Short texts: fewer than ``min_words`` words with no Vietnamese letters are too short
to call. They are marked ``reliable=False`` and scored by the model like English
(holding every "great post" and "+1" would flood moderators); the word lists, which
match with and without diacritics, cover unaccented slang such texts might carry.
Texts with no letters at all (emoji, numbers) have no language and are scored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from service.comments.text import URL

_MENTION = re.compile(r"[@#]\w+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")

# Letters no other common Latin-script language uses: ă đ ơ ư, any vowel with a hook
# above or a dot below, a tone mark on â ê ô ă ơ ư (ấ ề ỗ ắ ờ ứ ...), and ẽ ĩ ũ ỹ ỳ.
# Plain â ê ô and á à ã é è ... are shared with French, Spanish or Portuguese.
_VI_STRONG = set("ăđơư")
_VI_HATTED = set("âêôăơư")
_TONES = {"\u0300", "\u0301", "\u0303"}  # grave, acute, tilde
_VI_ONLY_MARKS = {"\u0309", "\u0323"}  # hook above, dot below


def is_vietnamese_letter(ch: str) -> bool:
    """True for a letter only the Vietnamese alphabet uses."""
    lower = ch.lower()
    if lower in _VI_STRONG:
        return True
    decomposed = unicodedata.normalize("NFD", lower)
    if len(decomposed) < 2:
        return False
    marks = set(decomposed[1:])
    if marks & _VI_ONLY_MARKS:
        return True
    if marks & _TONES:
        base = unicodedata.normalize(
            "NFC", decomposed[0] + "".join(m for m in decomposed[1:] if m not in _TONES)
        )
        if base in _VI_HATTED:
            return True
        # ẽ ĩ ũ ỹ and ỳ: no other common language puts these marks on these letters
        return ("\u0303" in marks and decomposed[0] in "eiuy") or (
            "\u0300" in marks and decomposed[0] == "y"
        )
    return False


#: Languages py3langid chooses among: Vietnamese, English, Detoxify multilingual's
#: languages, and the region's neighbours, so a misfire lands somewhere sensible.
CANDIDATES = (
    "vi",
    "en",
    "fr",
    "es",
    "it",
    "pt",
    "tr",
    "ru",
    "de",
    "nl",
    "id",
    "ms",
    "tl",
    "zh",
    "ja",
    "ko",
    "th",
    "km",
    "lo",
)


@dataclass(frozen=True)
class Language:
    #: ISO 639-1 code, or None when the text has no letters to judge
    code: str | None
    confidence: float
    #: False for texts too short to call; they are treated as covered by the model
    reliable: bool
    method: str

    def as_signal(self) -> dict[str, object]:
        return {
            "code": self.code,
            "confidence": round(self.confidence, 3),
            "reliable": self.reliable,
            "method": self.method,
        }


class LanguageDetector:
    """Detects a comment's language; load once per process (py3langid's model: ~0.6 s)."""

    def __init__(self, min_words: int = 3, min_confidence: float = 0.5) -> None:
        self.min_words = min_words
        self.min_confidence = min_confidence

    @cached_property
    def _identifier(self) -> LanguageIdentifier:
        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        identifier.set_languages(list(CANDIDATES))
        return identifier

    def detect(self, text: str) -> Language:
        cleaned = _MENTION.sub(" ", URL.sub(" ", text))
        words = _WORD.findall(cleaned)
        if not words:
            return Language(None, 0.0, reliable=False, method="no_letters")
        vietnamese = sum(1 for w in words if any(is_vietnamese_letter(c) for c in w))
        if vietnamese and (vietnamese >= 2 or vietnamese / len(words) >= 0.2):
            share = vietnamese / len(words)
            return Language("vi", round(min(1.0, 0.5 + share), 3), reliable=True, method="letters")
        code, probability = self._identifier.classify(" ".join(words))
        reliable = len(words) >= self.min_words and probability >= self.min_confidence
        if code == "vi" and not cleaned.isascii():
            # "Hay quá": too short to call by statistics, but accented and Vietnamese-looking
            reliable = True
        return Language(code, float(probability), reliable=reliable, method="py3langid")
