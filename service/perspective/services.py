"""Perspective's questions in our terms: attributes, languages, spans, what is kept.

Pure functions (attribute mapping, language check, sentence spans, building the
response) and the two writes (:func:`store_analysis`, :func:`record_suggestion`).
The views in ``api.py`` only parse, call these, and answer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from service.db import Session, utcnow
from service.moderation.models import ApiToken
from service.perspective.models import AnalyzeRequest

#: Perspective attribute -> the label of ours that answers it (the first the model has).
#: The one table of the mapping; the README's "Switching" section shows it.
ATTRIBUTE_LABELS: dict[str, tuple[str, ...]] = {
    "TOXICITY": ("toxicity",),
    "SEVERE_TOXICITY": ("severe_toxicity",),
    "IDENTITY_ATTACK": ("identity_attack", "identity_hate"),
    "INSULT": ("insult",),
    "PROFANITY": ("obscene",),
    "THREAT": ("threat",),
    # Detoxify's `unbiased` and `multilingual` have it; `original` and ours do not
    "SEXUALLY_EXPLICIT": ("sexual_explicit",),
}
#: Perspective attributes no model of ours answers (experimental and New York Times ones)
UNSUPPORTED_ATTRIBUTES = frozenset(
    {
        "FLIRTATION",
        "ATTACK_ON_AUTHOR",
        "ATTACK_ON_COMMENTER",
        "INCOHERENT",
        "INFLAMMATORY",
        "LIKELY_TO_REJECT",
        "OBSCENE",
        "SPAM",
        "UNSUBSTANTIAL",
        "TOXICITY_EXPERIMENTAL",
        "SEVERE_TOXICITY_EXPERIMENTAL",
        "IDENTITY_ATTACK_EXPERIMENTAL",
        "INSULT_EXPERIMENTAL",
        "PROFANITY_EXPERIMENTAL",
        "THREAT_EXPERIMENTAL",
        "SEXUALLY_EXPLICIT_EXPERIMENTAL",
        "AFFINITY_EXPERIMENTAL",
        "COMPASSION_EXPERIMENTAL",
        "CURIOSITY_EXPERIMENTAL",
        "NUANCE_EXPERIMENTAL",
        "PERSONAL_STORY_EXPERIMENTAL",
        "REASONING_EXPERIMENTAL",
        "RESPECT_EXPERIMENTAL",
    }
)
#: Perspective's limit on ``comment.text`` (its docs: "20 KB"), in UTF-8 bytes
MAX_TEXT_BYTES = 20 * 1024
SCORE_TYPE = "PROBABILITY"


def attribute_score(attribute: str, scores: Mapping[str, float]) -> float | None:
    """The score our model gives for a Perspective ``attribute``, or None if it has none."""
    for label in ATTRIBUTE_LABELS[attribute]:
        if label in scores:
            return float(scores[label])
    return None


# --- languages ----------------------------------------------------------------------


def primary_language(code: str) -> str:
    """``en-US`` -> ``en``, ``pt_BR`` -> ``pt``: Perspective's codes are ISO 639-1."""
    return re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()


@dataclass(frozen=True)
class LanguageCheck:
    #: what the response reports as ``languages``
    languages: list[str]
    #: what detection found (``detectedLanguages``), empty when it could not tell
    detected: list[str]
    #: languages no model covers; non-empty means the request is refused
    unsupported: list[str]
    #: the language that picks the model: detection when sure, else the first of
    #: ``languages`` (the pipeline routes a comment by what detection calls it)
    scored_as: str


def check_languages(
    requested: Iterable[str],
    detected: str | None,
    reliable: bool,
    covered: frozenset[str],
) -> LanguageCheck:
    """Which languages a text is scored as, and which of them no model covers.

    The client's ``languages`` are checked as given. Detection is checked too, and wins
    when it is sure: a site that sends ``languages: ["en"]`` for everything (Coral Talk
    does, for locales Perspective lacks) must not get Vietnamese scored by an English
    model. A text too short to call, or with no letters, is scored as the pipeline
    scores it: as the model's first language.
    """
    asked = list(dict.fromkeys(primary_language(c) for c in requested if c.strip()))
    found = [detected] if detected else []
    unsupported = [code for code in asked if code not in covered]
    if detected and reliable and detected not in covered and detected not in unsupported:
        unsupported.append(detected)
    if asked:
        languages = asked
    elif detected and reliable:
        languages = [detected]
    else:
        languages = ["en"] if "en" in covered else sorted(covered)[:1]
    scored_as = detected if detected and reliable else (languages or ["en"])[0]
    return LanguageCheck(languages, found, unsupported, scored_as)


# --- spans ---------------------------------------------------------------------------

# A sentence ends at . ! ? … (and their runs, closing quotes or brackets) before a space,
# or at a line break.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``[begin, end)`` character offsets of the text's sentences, spaces left out."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed = []
    for begin, end in spans:
        piece = text[begin:end]
        lead = len(piece) - len(piece.lstrip())
        tail = len(piece.rstrip())
        if tail > lead:
            trimmed.append((begin + lead, begin + tail))
    return trimmed or [(0, len(text))]


# --- the response --------------------------------------------------------------------


def _score(value: float) -> dict[str, Any]:
    return {"value": value, "type": SCORE_TYPE}


def attribute_scores(
    requested: Mapping[str, Mapping[str, Any]],
    summary: Mapping[str, float],
    spans: Sequence[tuple[int, int]],
    span_scores: Sequence[Mapping[str, float]],
) -> tuple[dict[str, Any], list[str]]:
    """Perspective's ``attributeScores`` for the requested attributes; and those the
    model lacks (the caller refuses the request if there are any).

    ``span_scores[i]`` scores ``spans[i]``; one span over the whole text has the summary.
    An attribute whose summary is below its ``scoreThreshold`` is left out, as
    Perspective leaves it out.
    """
    out: dict[str, Any] = {}
    missing: list[str] = []
    for attribute, options in requested.items():
        value = attribute_score(attribute, summary)
        if value is None:
            missing.append(attribute)
            continue
        threshold = options.get("scoreThreshold")
        if threshold is not None and value < threshold:
            continue
        span_list = []
        for (begin, end), scores in zip(spans, span_scores, strict=True):
            span_value = attribute_score(attribute, scores)
            span_list.append(
                {
                    "begin": begin,
                    "end": end,
                    "score": _score(value if span_value is None else span_value),
                }
            )
        out[attribute] = {"spanScores": span_list, "summaryScore": _score(value)}
    return out, missing


# --- what is kept ---------------------------------------------------------------------


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def store_analysis(
    session: Session,
    key: ApiToken,
    text: str,
    *,
    languages: list[str],
    scores: Mapping[str, float],
    model: str,
    client_token: str | None,
    session_id: str | None,
    community_id: str | None,
) -> AnalyzeRequest:
    """Keep an analysed text (the client did not say ``doNotStore``)."""
    row = AnalyzeRequest(
        token_id=key.id,
        text=text,
        text_sha256=text_sha256(text),
        languages=languages,
        scores=dict(scores),
        model=model,
        client_token=client_token,
        session_id=session_id,
        community_id=community_id,
    )
    session.add(row)
    session.flush()
    return row


def record_suggestion(
    session: Session,
    key: ApiToken,
    text: str,
    suggested: Mapping[str, float],
    *,
    languages: list[str],
    client_token: str | None,
    community_id: str | None,
) -> AnalyzeRequest:
    """A client's correction: on the latest analysed row of this key and text, else new."""
    row = session.scalars(
        sa.select(AnalyzeRequest)
        .where(AnalyzeRequest.token_id == key.id, AnalyzeRequest.text_sha256 == text_sha256(text))
        .order_by(AnalyzeRequest.created_at.desc(), AnalyzeRequest.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if row is None:
        row = AnalyzeRequest(
            token_id=key.id,
            text=text,
            text_sha256=text_sha256(text),
            languages=languages,
            client_token=client_token,
            community_id=community_id,
        )
        session.add(row)
    row.suggested = {**(row.suggested or {}), **suggested}
    row.suggested_at = utcnow()
    session.flush()
    return row
