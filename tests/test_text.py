"""Normalising reader text: NFC, invisible characters out, Vietnamese intact; links; folding."""

from __future__ import annotations

import unicodedata

import pytest

from service.comments.text import URL, normalize_line, normalize_text, strip_diacritics


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


@pytest.mark.parametrize(
    ("text", "links"),
    [
        (
            "Xem http://bit.ly/abc ngay, hoặc kiemtien.vn/dang-ky nhé",
            ["http://bit.ly/abc", "kiemtien.vn/dang-ky"],
        ),
        # a quote ends a link, so one in an HTML attribute stops at the attribute
        (
            '<a href="https://www.youtube.com/watch?v=1">video</a>',
            ["https://www.youtube.com/watch?v=1"],
        ),
        ("WWW.Example.COM rồi SHOP.vn", ["WWW.Example.COM", "SHOP.vn"]),
        ("e.g. 3.5 km, file.txt, Mr.Smith, v1.2.3", []),
    ],
)
def test_url_finds_links_with_and_without_a_scheme(text: str, links: list[str]) -> None:
    assert URL.findall(text) == links


def test_strip_diacritics_folds_vietnamese_to_plain_letters() -> None:
    assert strip_diacritics("Đường phố Hà Nội") == "duong pho ha noi"
    # đ is a letter, not d with a mark: mapped by hand; punctuation is kept
    assert strip_diacritics("ĐỊT MẸ, đồ chó!") == "dit me, do cho!"
    assert strip_diacritics(unicodedata.normalize("NFD", "Tiếng Việt")) == "tieng viet"
    assert strip_diacritics("Café ñandú 2024") == "cafe nandu 2024"


def test_strip_diacritics_folds_look_alike_letters_only_when_asked() -> None:
    assert strip_diacritics("ｆｒｅｅ 𝐦𝐨𝐧𝐞𝐲") == "ｆｒｅｅ 𝐦𝐨𝐧𝐞𝐲"
    assert strip_diacritics("ｆｒｅｅ 𝐦𝐨𝐧𝐞𝐲 ĐI", compatibility=True) == "free money di"
