"""The decision function, pure: bands, rule precedence, and machine-readable reasons."""

from __future__ import annotations

import pytest

from workers.pipeline.decision import APPROVED, HELD, REJECTED, PolicyConfig, PolicyInput, decide

CONFIG = PolicyConfig(
    toxicity_bands={"toxicity": (0.4, 0.9), "insult": (0.5, 0.95), "threat": (0.2, 0.8)},
    spam_band=(0.5, 0.9),
)
CLEAN = {"toxicity": 0.05, "insult": 0.02, "threat": 0.01}
MODEL = "detoxify-original@c1212f89"


def scored(**changes: object) -> PolicyInput:
    base = {"toxicity": CLEAN, "toxicity_model": MODEL, "spam": 0.1, "spam_model": "nb"}
    base.update(changes)
    return PolicyInput(**base)  # type: ignore[arg-type]


def rules(decision: object) -> list[str]:
    return [r["rule"] for r in decision.reasons]  # type: ignore[attr-defined]


def test_clean_comment_is_approved_with_its_top_score_as_reason() -> None:
    decision = decide(scored(), CONFIG)
    assert decision.status == APPROVED
    [reason] = decision.reasons
    assert reason == {
        "rule": "below_thresholds",
        "effect": APPROVED,
        "label": "toxicity",
        "score": 0.05,
        "threshold": 0.4,
        "model": MODEL,
        "spam": 0.1,
    }


@pytest.mark.parametrize(
    ("score", "status"),
    [
        (0.0, APPROVED),
        (0.3999, APPROVED),
        (0.4, HELD),
        (0.8999, HELD),
        (0.9, REJECTED),
        (1.0, REJECTED),
    ],
)
def test_three_bands_per_label(score: float, status: str) -> None:
    decision = decide(scored(toxicity={**CLEAN, "toxicity": score}), CONFIG)
    assert decision.status == status
    if status != APPROVED:
        [reason] = decision.reasons
        assert reason["rule"] == "toxicity" and reason["label"] == "toxicity"
        assert reason["score"] == round(score, 4)
        assert reason["threshold"] == (0.9 if status == REJECTED else 0.4)
        assert reason["model"] == MODEL


def test_every_label_is_checked_and_all_reasons_listed() -> None:
    decision = decide(scored(toxicity={"toxicity": 0.5, "insult": 0.97, "threat": 0.3}), CONFIG)
    assert decision.status == REJECTED
    assert sorted((r["label"], r["effect"]) for r in decision.reasons) == [
        ("insult", REJECTED),
        ("threat", HELD),
        ("toxicity", HELD),
    ]


def test_labels_without_a_band_are_ignored() -> None:
    assert decide(scored(toxicity={**CLEAN, "sexual_explicit": 0.99}), CONFIG).status == APPROVED


@pytest.mark.parametrize(("spam", "status"), [(0.49, APPROVED), (0.5, HELD), (0.9, REJECTED)])
def test_spam_band(spam: float, status: str) -> None:
    decision = decide(
        scored(spam=spam, spam_signals={"links": {"value": 2, "weight": 1.6}}), CONFIG
    )
    assert decision.status == status
    if status != APPROVED:
        [reason] = decision.reasons
        assert reason["label"] == "spam" and reason["model"] == "nb"
        assert reason["signals"] == {"links": {"value": 2, "weight": 1.6}}


def test_unsupported_language_is_held_and_never_treated_as_scored() -> None:
    decision = decide(PolicyInput(language="vi", language_supported=False, spam=0.1), CONFIG)
    assert decision.status == HELD
    assert rules(decision) == ["language_unsupported"]
    assert decision.reasons[0]["language"] == "vi"


def test_unscored_comment_is_never_approved() -> None:
    decision = decide(PolicyInput(spam=0.0, toxicity_skipped="scorer_unavailable"), CONFIG)
    assert (decision.status, rules(decision)) == (HELD, ["scorer_unavailable"])
    assert decide(PolicyInput(), CONFIG).status == HELD


def test_pre_moderation_holds_even_a_clean_comment() -> None:
    decision = decide(scored(article_mode="pre"), CONFIG)
    assert (decision.status, rules(decision)) == (HELD, ["pre_moderation"])


def test_rejection_rules_beat_holds() -> None:
    decision = decide(
        scored(article_mode="pre", author_standing="banned", suspect_words=("ngu",)), CONFIG
    )
    assert decision.status == REJECTED
    assert rules(decision) == ["author_banned", "pre_moderation", "suspect_word"]


@pytest.mark.parametrize(
    ("inp", "status", "rule"),
    [
        (PolicyInput(article_open=False), REJECTED, "article_closed"),
        (PolicyInput(author_standing="banned"), REJECTED, "author_banned"),
        (PolicyInput(banned_words=("địt",)), REJECTED, "banned_word"),
        (scored(author_standing="always_review"), HELD, "author_always_review"),
        (scored(suspect_words=("ngu",)), HELD, "suspect_word"),
    ],
)
def test_decision_rules(inp: PolicyInput, status: str, rule: str) -> None:
    decision = decide(inp, CONFIG)
    assert decision.status == status
    assert rules(decision) == [rule]


def test_rejection_needs_no_scores() -> None:
    # the pipeline stops early on a banned word: no "unscored" hold is added
    decision = decide(PolicyInput(banned_words=("x",)), CONFIG)
    assert rules(decision) == ["banned_word"]


def test_decision_is_deterministic() -> None:
    inp = scored(toxicity={"toxicity": 0.6, "insult": 0.55, "threat": 0.0})
    assert decide(inp, CONFIG) == decide(inp, CONFIG)
