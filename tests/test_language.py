"""Language routing: Vietnamese by its letters, others by py3langid, short texts not called."""

from __future__ import annotations

import pytest

from workers.pipeline.language import LanguageDetector, is_vietnamese_letter

detector = LanguageDetector(min_words=3)


@pytest.mark.parametrize(
    "text",
    [
        "Bài viết hay quá!",
        "Chính phủ cần minh bạch hơn về giá xăng",
        "Đúng rồi",
        "Hay quá",
        "Nice bài viết, thanks",  # mixed: the Vietnamese half decides
        "Sao lại thế được? @admin http://example.com",
        "toi khong dong y voi tac gia bai nay",  # unaccented, long enough for statistics
    ],
)
def test_vietnamese_is_detected_reliably(text: str) -> None:
    result = detector.detect(text)
    assert (result.code, result.reliable) == ("vi", True), result


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The government should be more transparent about fuel prices", "en"),
        ("You are an idiot and everyone knows it", "en"),
        ("C'est un très bon hôtel, vraiment", "fr"),  # â/ê/ô alone are not Vietnamese
        ("Este artículo es muy bueno para todos", "es"),
        ("Isso é ótimo, não acho que seja verdade", "pt"),
    ],
)
def test_other_languages_by_statistics(text: str, code: str) -> None:
    result = detector.detect(text)
    assert (result.code, result.reliable, result.method) == (code, True, "py3langid")


@pytest.mark.parametrize("text", ["great post", "lol", "ok", "+1 agreed"])
def test_short_texts_are_not_called(text: str) -> None:
    assert detector.detect(text).reliable is False


@pytest.mark.parametrize("text", ["🔥🔥🔥", "100% !!!", "https://example.com"])
def test_no_letters_no_language(text: str) -> None:
    result = detector.detect(text)
    assert (result.code, result.reliable, result.method) == (None, False, "no_letters")


def test_vietnamese_letters() -> None:
    for ch in "ăđơưĂĐƠƯạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ":
        assert is_vietnamese_letter(ch), ch
    for ch in "aeéèàâêôçãõñüöáíóú":
        assert not is_vietnamese_letter(ch), ch
