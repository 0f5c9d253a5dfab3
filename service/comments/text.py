"""Normalising reader text before it is stored, scored or counted.

NFC first, so Vietnamese letters composed of a base and combining marks become the
single code points every later stage (and the site) expects. Then characters a reader
cannot see are removed: they hide words from filters and flip text direction.

Also the reading helpers every stage shares: what a link looks like in reader text
(:data:`URL`) and folding a text to its letters without diacritics
(:func:`strip_diacritics`).
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width and invisible formatting characters, and the bidi embeddings,
# overrides and isolates (Trojan-Source style text flipping). U+200D (ZWJ)
# is treated separately: it joins emoji sequences and is kept only there.
_INVISIBLE = dict.fromkeys(
    [
        0x00AD,  # soft hyphen
        0x034F,  # combining grapheme joiner
        0x061C,  # arabic letter mark
        0x115F,
        0x1160,
        0x3164,
        0xFFA0,  # hangul fillers used as blanks
        0x180E,  # mongolian vowel separator
        0x200B,
        0x200C,
        0x200E,
        0x200F,  # zero-width space/non-joiner, LRM, RLM
        *range(0x202A, 0x202F),  # LRE, RLE, PDF, LRO, RLO
        0x2060,
        0x2061,
        0x2062,
        0x2063,
        0x2064,  # word joiner, invisible operators
        *range(0x2066, 0x206A),  # LRI, RLI, FSI, PDI
        *range(0x206A, 0x2070),  # deprecated format characters
        0xFEFF,  # BOM / zero-width no-break space
    ]
)
_ZWJ = "\u200d"
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85\x0b\x0c]")
_SPACES = re.compile(r"[^\S\n]+")  # runs of whitespace other than newlines
_BLANK_LINES = re.compile(r"\n{3,}")

#: A link in reader text: a scheme or "www." prefix, or a bare host with a TLD spammers
#: use ("bit.ly/x", "kiemtien.vn"). Case-insensitive; ends at whitespace, quotes or <>.
URL = re.compile(
    r"(?i)\b(?:https?://[^\s<>\"']+|www\.[^\s<>\"']+|"
    r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|info|biz|xyz|top|vn|io|me|ly|co|tk|ru|shop|site|online|club|link)\b(?:/[^\s<>\"']*)?)"
)


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return cp >= 0x1F000 or 0x2600 <= cp <= 0x27BF or cp == 0xFE0F or 0x1F3FB <= cp <= 0x1F3FF


def _drop_char(ch: str) -> bool:
    cp = ord(ch)
    if cp in _INVISIBLE:
        return True
    if ch in "\n\t":
        return False
    category = unicodedata.category(ch)
    # Cc: control characters; Co/Cn: private use and unassigned code points
    return category in {"Cc", "Co", "Cn", "Cs"}


def normalize_text(text: str) -> str:
    """Return ``text`` as it is stored: NFC, invisible characters removed, whitespace tidied.

    Vietnamese diacritics are kept (NFC composes them); tabs become spaces, line
    breaks are unified to ``\\n``, runs of spaces collapse to one and at most one
    blank line is kept between paragraphs.
    """
    text = unicodedata.normalize("NFC", text)
    text = _LINE_BREAKS.sub("\n", text)
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == _ZWJ:
            # keep the joiner only inside an emoji sequence (👩‍💻), where it is visible
            prev = out[-1] if out else ""
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if prev and nxt and _is_emoji(prev) and _is_emoji(nxt):
                out.append(ch)
            continue
        if _drop_char(ch):
            continue
        out.append(ch)
    text = "".join(out)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def normalize_line(text: str) -> str:
    """Normalise a one-line field (a display name): like the body, on a single line."""
    return " ".join(normalize_text(text).split())


def strip_diacritics(text: str, *, compatibility: bool = False, keep_case: bool = False) -> str:
    """``"Đường phố"`` -> ``"duong pho"``: lower case, combining marks removed, đ -> d.

    Readers drop Vietnamese diacritics to slip past filters, and spammers vary them
    between copies. Đ/đ is a letter of its own, not d with a mark, so it is mapped by
    hand. ``compatibility`` decomposes with NFKD instead of NFD, which also folds
    fullwidth and "mathematical bold" letters to plain ones. ``keep_case``: ``"Đường"``
    -> ``"Duong"``, as a reader typing without accents writes it. Everything that is
    not a combining mark (digits, punctuation, spaces) is kept.
    """
    form = "NFKD" if compatibility else "NFD"
    text = text.replace("Đ", "D") if keep_case else text.lower()
    decomposed = unicodedata.normalize(form, text.replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
