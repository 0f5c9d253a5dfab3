"""The decision: a pure function from what the pipeline learned to a status and reasons.

No database, no Redis, no clock: the same inputs always give the same decision, so a
moderator (or a test) can re-apply it to the stored scores and get the stored result.

Rules, strongest first. Any *reject* rule rejects; otherwise any *hold* rule holds;
otherwise the comment is approved. Every rule that fired is listed, so moderators see
all of them, not only the first:

- reject: article closed, author banned, a banned word (a site's or the default
  lexicon's ``certain`` entry: the reason names the lexicon), spam probability at or above
  the spam band's high edge, any toxicity label at or above its band's high edge;
- hold: pre-moderated article, author on always-review, a suspect word, the language
  is one the model does not cover (never scored as if it were English), the scorer
  was unavailable or failed, spam probability inside its band, any toxicity label
  inside its band.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.articles.models import ModerationMode
from service.comments.models import Status
from service.policy.models import Standing

#: the outcomes, as the comment statuses they become
APPROVED, HELD, REJECTED = Status.APPROVED.value, Status.HELD.value, Status.REJECTED.value


@dataclass(frozen=True)
class PolicyConfig:
    #: label -> (low, high): approve below low, review in [low, high), reject at high or above
    toxicity_bands: Mapping[str, tuple[float, float]]
    spam_band: tuple[float, float]


@dataclass(frozen=True)
class PolicyInput:
    """Everything the decision depends on; built from the stored comment."""

    toxicity: Mapping[str, float] | None = None
    #: "detoxify-original@c1212f89" style name of the scorer that produced ``toxicity``
    toxicity_model: str | None = None
    #: why toxicity was not scored, when it was not: language_unsupported, scorer_unavailable...
    toxicity_skipped: str | None = None
    spam: float | None = None
    spam_model: str | None = None
    #: spam signals that contributed to ``spam``, for the reasons
    spam_signals: Mapping[str, Any] = field(default_factory=dict)
    language: str | None = None
    language_supported: bool = True
    article_mode: str = ModerationMode.POST.value
    article_open: bool = True
    #: normal, banned or always_review
    author_standing: str = Standing.NORMAL.value
    banned_words: tuple[str, ...] = ()
    suspect_words: tuple[str, ...] = ()
    #: the default lexicon's name ("vi-default@1") and which of the words came from it
    lexicon: str | None = None
    lexicon_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    status: str
    reasons: list[dict[str, Any]]


def _reason(rule: str, effect: str, **detail: Any) -> dict[str, Any]:
    return {"rule": rule, "effect": effect, **{k: v for k, v in detail.items() if v is not None}}


def _word_reason(
    rule: str, effect: str, found: tuple[str, ...], inp: PolicyInput
) -> dict[str, Any]:
    """A word rule's reason; names the default lexicon when some of the words are its."""
    from_lexicon = [w for w in found if w in inp.lexicon_words]
    return _reason(
        rule,
        effect,
        words=list(found),
        lexicon=inp.lexicon if from_lexicon else None,
        lexicon_words=from_lexicon or None,
    )


def decide(inp: PolicyInput, config: PolicyConfig) -> Decision:
    """Apply the rules to one comment's pipeline results."""
    reasons: list[dict[str, Any]] = []

    if not inp.article_open:
        reasons.append(_reason("article_closed", REJECTED))
    if inp.author_standing == Standing.BANNED:
        reasons.append(_reason("author_banned", REJECTED))
    if inp.banned_words:
        reasons.append(_word_reason("banned_word", REJECTED, inp.banned_words, inp))

    if inp.spam is not None:
        low, high = config.spam_band
        common = {"label": "spam", "score": round(inp.spam, 4), "model": inp.spam_model}
        if inp.spam_signals:
            common["signals"] = dict(inp.spam_signals)
        if inp.spam >= high:
            reasons.append(_reason("spam", REJECTED, threshold=high, **common))
        elif inp.spam >= low:
            reasons.append(_reason("spam", HELD, threshold=low, **common))

    for label, score in sorted((inp.toxicity or {}).items()):
        band = config.toxicity_bands.get(label)
        if band is None:
            continue
        low, high = band
        detail = {"label": label, "score": round(score, 4), "model": inp.toxicity_model}
        if score >= high:
            reasons.append(_reason("toxicity", REJECTED, threshold=high, **detail))
        elif score >= low:
            reasons.append(_reason("toxicity", HELD, threshold=low, **detail))

    if inp.article_mode == ModerationMode.PRE:
        reasons.append(_reason("pre_moderation", HELD))
    if inp.author_standing == Standing.ALWAYS_REVIEW:
        reasons.append(_reason("author_always_review", HELD))
    if inp.suspect_words:
        reasons.append(_word_reason("suspect_word", HELD, inp.suspect_words, inp))
    if not inp.language_supported:
        reasons.append(_reason("language_unsupported", HELD, language=inp.language))
    rejected = any(r["effect"] == REJECTED for r in reasons)
    if inp.toxicity is None and inp.language_supported and not rejected:
        # Never approve a comment nobody scored. (A rejection needs no scores: the
        # pipeline stops early on a banned author, a banned word or certain spam.)
        reasons.append(_reason(inp.toxicity_skipped or "scorer_unavailable", HELD))

    if rejected:
        return Decision(REJECTED, reasons)
    if reasons:
        return Decision(HELD, reasons)
    # ties go to the first label alphabetically: stored JSON may come back reordered
    top = max(sorted((inp.toxicity or {}).items()), key=lambda kv: kv[1], default=(None, None))
    return Decision(
        APPROVED,
        [
            _reason(
                "below_thresholds",
                APPROVED,
                label=top[0],
                score=round(top[1], 4) if top[1] is not None else None,
                threshold=config.toxicity_bands.get(top[0], (None,))[0] if top[0] else None,
                model=inp.toxicity_model,
                spam=round(inp.spam, 4) if inp.spam is not None else None,
            )
        ],
    )
