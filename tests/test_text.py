"""Normalising reader text: NFC, invisible characters out, Vietnamese intact."""

from __future__ import annotations

import unicodedata

import pytest

from service.comments.text import normalize_line, normalize_text


def test_vietnamese_is_composed_and_kept() -> None:
    decomposed = unicodedata.normalize("NFD", "Tiếng Việt có dấu: ă â đ ê ô ơ ư, ạ ả ã ấ ầ ẩ ẫ ậ")
    out = normalize_text(decomposed)
    assert out == "Tiếng Việt có dấu: ă â đ ê ô ơ ư, ạ ả ã ấ ầ ẩ ẫ ậ"
    assert unicodedata.is_normalized("NFC", out)


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",
        "\u200c",
        "\u2060",
        "\ufeff",
        "\u00ad",
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\u200e",
        "\u200f",
        "\u061c",
    ],
)
def test_zero_width_and_bidi_characters_are_removed(invisible: str) -> None:
    assert normalize_text(f"sp{invisible}am") == "spam"


def test_control_characters_are_removed_but_lines_kept() -> None:
    assert normalize_text("a\x00b\x07c\x1bd\x7f") == "abcd"
    assert normalize_text("line one\r\nline two\rline three") == "line one\nline two\nline three"


def test_whitespace_is_tidied() -> None:
    assert normalize_text("  many   spaces\there \u00a0 nbsp  ") == "many spaces here nbsp"
    assert normalize_text("para one\n\n\n\n\npara two") == "para one\n\npara two"


def test_zero_width_joiner_kept_only_inside_emoji() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert normalize_text(f"nice {family}!") == f"nice {family}!"
    assert normalize_text("fr\u200dee") == "free"


def test_one_line_fields() -> None:
    assert normalize_line("  Nguyễn\n Văn\tA \u200b ") == "Nguyễn Văn A"


def test_private_use_and_unassigned_are_removed() -> None:
    assert normalize_text("a\ue000b\U000effffc") == "abc"
