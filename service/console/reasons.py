"""A decision's machine-readable reasons, in words a moderator reads at a glance."""

from __future__ import annotations

from typing import Any

from service.comments.models import LABELS
from service.console.i18n import t as _


def _l(message: str) -> str:
    """Marks a message for extraction; translated where it is shown (:func:`tr`)."""
    return message


def tr(message: str) -> str:
    return _(message)


LABEL_NAMES = {
    "toxicity": _l("toxicity"),
    "severe_toxicity": _l("severe toxicity"),
    "obscene": _l("obscene"),
    "threat": _l("threat"),
    "insult": _l("insult"),
    "identity_attack": _l("identity attack"),
    "sexual_explicit": _l("sexually explicit"),
    "spam": _l("spam"),
}

REASON_NAMES = {
    "spam": _l("Spam"),
    "toxic": _l("Toxic"),
    "harassment": _l("Harassment"),
    "hate": _l("Hate"),
    "off_topic": _l("Off topic"),
    "personal_information": _l("Personal information"),
    "illegal": _l("Illegal"),
    "other": _l("Other"),
}

STATUS_NAMES = {
    "pending": _l("pending"),
    "held": _l("held"),
    "approved": _l("approved"),
    "rejected": _l("rejected"),
}

STANDING_NAMES = {
    "normal": _l("normal"),
    "always_review": _l("always review"),
    "banned": _l("banned"),
}

SIGNAL_NAMES = {
    "links": _l("links"),
    "shorteners": _l("link shorteners"),
    "denied_domains": _l("denied domains"),
    "contact_details": _l("contact details"),
    "duplicates": _l("duplicates"),
    "duplicate_authors": _l("other authors posting it"),
    "author_velocity": _l("author's recent comments"),
    "ip_velocity": _l("comments from the IP"),
}


def label_name(label: str) -> str:
    return tr(LABEL_NAMES[label]) if label in LABEL_NAMES else label


def _score(reason: dict[str, Any], name: str) -> str:
    score, threshold = reason.get("score"), reason.get("threshold")
    if score is None:
        return name
    if threshold is None:
        return f"{name} {score:.2f}"
    relation = "≥" if score >= threshold else "<"
    return f"{name} {score:.2f} {relation} {threshold:.2f}"


def describe(reason: dict[str, Any]) -> str:
    """One reason (``workers/pipeline/decision.py``'s shape) as a short phrase."""
    rule = reason.get("rule")
    if rule == "toxicity":
        return _score(reason, label_name(str(reason.get("label"))))
    if rule == "spam":
        text = _score(reason, tr(LABEL_NAMES["spam"]))
        signals = reason.get("signals") or {}
        parts = [
            f"{signal['value']} {tr(SIGNAL_NAMES[name])}"
            for name, signal in signals.items()
            if name in SIGNAL_NAMES and isinstance(signal, dict) and signal.get("value") is not True
        ]
        if "new_author" in signals:
            parts.append(_("new author"))
        return f"{text} ({', '.join(parts)})" if parts else text
    if rule == "banned_word":
        return _("lexicon (banned): %(words)s", words=", ".join(reason.get("words") or []))
    if rule == "suspect_word":
        return _("lexicon: %(words)s", words=", ".join(reason.get("words") or []))
    if rule == "reported":
        return _(
            "reported by %(count)s readers (threshold %(threshold)s)",
            count=reason.get("reports"),
            threshold=reason.get("threshold"),
        )
    if rule == "language_unsupported":
        return _("language %(language)s: no model", language=reason.get("language") or "?")
    if rule == "below_thresholds":
        return _score(reason, label_name(str(reason.get("label") or "toxicity")))
    fixed = {
        "article_closed": _("article closed"),
        "author_banned": _("author banned"),
        "pre_moderation": _("article is pre-moderated"),
        "author_always_review": _("author on always-review"),
        "scorer_unavailable": _("not scored: model unavailable"),
        "scorer_failed": _("not scored: model failed"),
        "not_scored_yet": _("not scored yet"),
    }
    return fixed.get(str(rule), str(rule))


def top_scores(scores: dict[str, float] | None, spam: float | None, n: int = 3) -> list[Any]:
    """The ``n`` highest label scores (spam included), highest first: ``(label, score)``."""
    pairs = [(label, float(v)) for label, v in (scores or {}).items() if label in LABELS]
    if spam is not None:
        pairs.append(("spam", float(spam)))
    return sorted(pairs, key=lambda p: -p[1])[:n]
