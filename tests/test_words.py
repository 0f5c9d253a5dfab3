"""Word lists on word boundaries, for Vietnamese with and without diacritics."""

from __future__ import annotations

from service.policy.words import WordMatcher, strip_diacritics


def phrases(matcher: WordMatcher, text: str) -> list[str]:
    return [m.phrase for m in matcher.find(text)]


def test_strip_diacritics() -> None:
    assert strip_diacritics("Địt Mẹ") == "dit me"
    assert strip_diacritics("ngu") == "ngu"


def test_accented_rule_matches_exact_and_unaccented_but_not_other_accents() -> None:
    m = WordMatcher([("chó", "suspect")])
    assert phrases(m, "Đồ CHÓ!") == ["chó"]
    assert phrases(m, "do cho") == ["chó"]  # unaccented evasion is caught
    assert phrases(m, "chờ một chút") == []  # chờ (wait) is a different word
    assert phrases(m, "chống tham nhũng") == []  # not a word boundary match


def test_unaccented_rule_matches_any_accenting() -> None:
    m = WordMatcher([("dit", "banned")])
    assert phrases(m, "địt") == ["dit"]
    assert phrases(m, "Dit") == ["dit"]
    assert phrases(m, "edit this") == []


def test_phrases_match_as_word_runs() -> None:
    m = WordMatcher([("đồ ngu", "banned"), ("ngu", "suspect")])
    assert phrases(m, "mày là đồ ngu") == ["đồ ngu", "ngu"]
    assert phrases(m, "mày là do ngu") == ["đồ ngu", "ngu"]
    assert phrases(m, "đồ ăn ngon") == []
    assert [x.kind for x in m.find("do ngu")] == ["banned", "suspect"]


def test_english_words_on_boundaries() -> None:
    m = WordMatcher([("ass", "suspect")])
    assert phrases(m, "You ass.") == ["ass"]
    assert phrases(m, "a classic passage") == []
