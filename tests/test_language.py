"""Language routing: Vietnamese by its letters or unaccented words, others by py3langid."""

from __future__ import annotations

import pytest

from workers.pipeline.language import (
    VI_WORD_SHARE,
    LanguageDetector,
    count_vietnamese_words,
    is_vietnamese_letter,
)

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


# --- unaccented Vietnamese: the word rule ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "bai viet hay qua",
        "bai viet rat hay, cam on tac gia",
        "ko bik j het",
        "hay qua",
        "dc nghi le 5 ngay, vui qua troi luon",
        "deadline gap qua, ko kip lam bai",  # mixed with English, unaccented
        "thang nay ngu vl",
    ],
)
def test_unaccented_vietnamese_is_routed_by_its_words(text: str) -> None:
    result = detector.detect(text)
    assert (result.code, result.reliable, result.method) == ("vi", True, "unaccented_words")


@pytest.mark.parametrize(
    "text",
    [
        "The ban on cho was lifted",
        "Me and my friend la la land",
        "Ho Chi Minh City traffic is getting worse every year.",
        "Nguyen Thi Anh Vien won another gold medal",
        "Cho is also a Korean surname, my boss is Mr Cho.",
        "The ROI on these highway projects is terrible",
        "Ban him for life.",
        "Me too.",
    ],
)
def test_english_false_friends_are_not_routed_vietnamese(text: str) -> None:
    result = detector.detect(text)
    assert not (result.code == "vi" and result.reliable), result
    assert result.method != "unaccented_words"


def test_english_false_friend_stays_english() -> None:
    result = detector.detect("The ban on cho was lifted")
    assert (result.code, result.reliable) == ("en", True)


def test_the_word_rule_can_be_turned_off() -> None:
    # without it, py3langid calls this English: the failure the rule exists for
    result = LanguageDetector(vi_word_share=None).detect("bai viet rat hay, cam on tac gia")
    assert result.method == "py3langid"
    assert LanguageDetector().detect("bai viet rat hay, cam on tac gia").code == "vi"


def test_word_counts() -> None:
    counted = count_vietnamese_words(["cam", "on", "ban", "bai", "viet", "hay"])
    # "cam on" and "bai viet" are pairs ("on" is not counted as English there); "ban"
    # and "hay" are weak
    assert (counted.strong, counted.weak, counted.english, counted.words) == (2, 2, 0, 6)
    assert counted.is_vietnamese(VI_WORD_SHARE)
    weak_only = count_vietnamese_words(["me", "oi", "la", "la"])
    assert weak_only.strong == 0 and not weak_only.is_vietnamese(0.0)
    outnumbered = count_vietnamese_words(["the", "roi", "is", "what", "they", "ask", "for"])
    assert outnumbered.strong == 1 and not outnumbered.is_vietnamese(0.0)


def test_one_vietnamese_letter_counts_as_a_strong_word() -> None:
    # too few Vietnamese letters for the letter rule: the words decide, the accented
    # word counting as a strong one
    partly = detector.detect("toi cung khong biet gi ve chuyen nay đâu ban oi, buon that su")
    assert (partly.code, partly.reliable, partly.method) == ("vi", True, "unaccented_words")
    english = detector.detect("We had a great time in Đà Lat with the whole family last summer")
    assert (english.code, english.method) == ("en", "py3langid")
