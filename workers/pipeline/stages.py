"""The pipeline's stages, cheapest first, and the decision that ends it.

``run_cheap_stages`` (default queue): article closed / author banned / banned words,
then language, then spam. It stops with a decision when one is already certain, or
when the language is one the toxicity model cannot read; otherwise it stores what it
found and sends the comment to the toxicity queue.

``score_and_decide`` (toxicity queue): claims the comment a task was sent for with the
others waiting for the model, scores them call by call and decides each one. Every
stage's output is stored on the comment, and the decision is re-derivable from it
with :func:`workers.pipeline.decision.decide`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask

from config import Settings
from service.comments.claims import claim_for_scoring, renew
from service.comments.models import LABELS, Comment, Status
from service.comments.status import (
    PIPELINE_ACTOR,
    StatusListener,
    change_status,
    update_pending,
)
from service.db import Session, utcnow
from service.dispatch import SCORE_TOXICITY, Dispatcher
from service.policy import lexicon as lexicons
from service.policy.models import WordKind
from service.policy.services import WordListCache, author_standing, author_standings
from workers.pipeline.decision import Decision, PolicyConfig, PolicyInput, decide
from workers.pipeline.language import LanguageDetector
from workers.spam.learning import LearningSpamClassifier
from workers.spam.signals import (
    BehaviourWindows,
    CommentFacts,
    SpamConfig,
    combine,
    parse_domains,
    text_signals,
)
from workers.toxicity import vi_learning
from workers.toxicity.scorer import (
    ScorerUnavailable,
    Scores,
    ToxicityScorer,
    routed_languages,
)

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    """A worker process's pipeline resources, built once and reused for every task."""

    settings: Settings
    redis: redis.Redis
    dispatcher: Dispatcher
    listeners: list[StatusListener] = field(default_factory=list)

    @cached_property
    def language(self) -> LanguageDetector:
        return LanguageDetector(min_words=self.settings.min_words_for_language)

    @cached_property
    def spam_model(self) -> LearningSpamClassifier:
        return LearningSpamClassifier(
            self.settings.spam_model_dir or None, self.settings.spam_labels_refresh_s
        )

    @cached_property
    def spam_config(self) -> SpamConfig:
        s = self.settings
        return SpamConfig(
            allow_domains=parse_domains(s.spam_allow_domains),
            deny_domains=parse_domains(s.spam_deny_domains),
            window_s=s.spam_window_s,
            velocity_window_s=s.spam_velocity_window_s,
            author_velocity_limit=s.spam_author_velocity,
            ip_velocity_limit=s.spam_ip_velocity,
        )

    @cached_property
    def windows(self) -> BehaviourWindows:
        return BehaviourWindows(self.redis, self.spam_config)

    @cached_property
    def words(self) -> WordListCache:
        lexicon = lexicons.vietnamese() if self.settings.vi_lexicon else None
        return WordListCache(lexicon=lexicon)

    @cached_property
    def policy(self) -> PolicyConfig:
        return PolicyConfig(
            toxicity_bands=self.settings.toxicity_bands, spam_band=self.settings.spam_band
        )

    @cached_property
    def vi_learner(self) -> vi_learning.LearningVietnameseToxicity:
        """What moderators taught about Vietnamese comments (workers/toxicity/vi_learning.py)."""
        return vi_learning.LearningVietnameseToxicity(self.settings.vi_labels_refresh_s)

    @cached_property
    def policy_vi(self) -> PolicyConfig:
        """The policy for comments the Vietnamese model scored: its own bands."""
        return PolicyConfig(
            toxicity_bands=self.settings.toxicity_bands_vi, spam_band=self.settings.spam_band
        )

    @cached_property
    def covered_languages(self) -> frozenset[str]:
        return routed_languages(self.settings)


def pipeline_for(app: Flask) -> Pipeline:
    """The app's pipeline (one per process; the worker's app lives as long as the process)."""
    pipeline = app.extensions.get("pipeline")
    if pipeline is None:
        pipeline = Pipeline(
            settings=app.config["SETTINGS"],
            redis=app.extensions["redis"],
            dispatcher=app.extensions["dispatcher"],
            listeners=list(app.extensions.get("status_listeners", [])),
        )
        app.extensions["pipeline"] = pipeline
    return pipeline


# --- building the policy input from what is stored ---------------------------------


def policy_input(
    comment: Comment,
    signals: dict[str, Any],
    standing: str,
    *,
    toxicity: dict[str, float] | None = None,
    toxicity_model: str | None = None,
    toxicity_skipped: str | None = None,
) -> PolicyInput:
    words = signals.get("words", {})
    spam = signals.get("spam")
    language = signals.get("language") or {}
    return PolicyInput(
        toxicity=toxicity,
        toxicity_model=toxicity_model,
        toxicity_skipped=toxicity_skipped,
        spam=spam["probability"] if spam else None,
        spam_model=spam.get("model") if spam else None,
        spam_signals=spam.get("contributions", {}) if spam else {},
        language=language.get("code"),
        language_supported=language.get("supported", True),
        article_mode=comment.article.moderation_mode,
        article_open=comment.article.comments_open,
        author_standing=standing,
        banned_words=tuple(words.get("banned", ())),
        suspect_words=tuple(words.get("suspect", ())),
        lexicon=words.get("lexicon"),
        lexicon_words=tuple(words.get("from_lexicon", ())),
    )


def _apply(
    session: Session,
    pipeline: Pipeline,
    comment: Comment,
    decision: Decision,
    fields: dict[str, Any],
) -> bool:
    comment_id = comment.id  # read before the change expires the loaded comment
    entry = change_status(
        session,
        comment_id,
        to_status=decision.status,
        actor=PIPELINE_ACTOR,
        reason_code=decision.reasons[0]["rule"],
        reasons=decision.reasons,
        fields=fields,
        listeners=pipeline.listeners,
    )
    if entry is None:
        log.info("comment %s was decided by someone else first; leaving it", comment_id)
        return False
    log.info(
        "comment %s %s (%s)",
        comment_id,
        decision.status,
        ", ".join(r["rule"] for r in decision.reasons),
        extra={"comment_id": str(comment_id), "status": decision.status},
    )
    return True


# --- stage 1: cheap checks, language, spam ----------------------------------------


def _is_new_author(session: Session, comment: Comment) -> bool:
    earlier = session.scalar(
        sa.select(Comment.id)
        .where(
            Comment.author_id == comment.author_id,
            Comment.created_at < comment.created_at,
            Comment.id != comment.id,
        )
        .limit(1)
    )
    return earlier is None


def run_cheap_stages(session: Session, pipeline: Pipeline, comment_id: uuid.UUID) -> str:
    """Run the stages before toxicity; returns what happened (for logs and tests)."""
    comment = session.get(Comment, comment_id)
    if comment is None:
        log.warning("comment %s does not exist; nothing to do", comment_id)
        return "missing"
    if comment.status != Status.PENDING:
        return "already_decided"

    standing = author_standing(session, comment.author_id)
    # Language before the word lists (it used to come after): the default lexicon's
    # entries that are also English ("dm", "cc") apply only to Vietnamese comments.
    language = pipeline.language.detect(comment.body)
    words = pipeline.words
    matches = words.matcher(session).find(comment.body, vietnamese=language.code == "vi")
    signals: dict[str, Any] = {
        "author": {"standing": standing},
        "words": {
            "banned": [m.phrase for m in matches if m.kind == WordKind.BANNED],
            "suspect": [m.phrase for m in matches if m.kind == WordKind.SUSPECT],
        },
    }
    from_lexicon = [m.phrase for m in matches if m.source != "site"]
    if from_lexicon and words.lexicon is not None:
        signals["words"] |= {"lexicon": words.lexicon.label, "from_lexicon": from_lexicon}

    def finish(decision: Decision, **extra: Any) -> str:
        _apply(session, pipeline, comment, decision, {"signals": signals, **extra})
        return decision.status

    # Certain already: no language model, classifier or Redis needed.
    early = decide(policy_input(comment, signals, standing), pipeline.policy)
    if early.status == Status.REJECTED:
        return finish(early)

    supported = (
        language.code is None
        or not language.reliable
        or language.code in pipeline.covered_languages
    )
    signals["language"] = {**language.as_signal(), "supported": supported}

    classifier = pipeline.spam_model.current(session)
    facts = CommentFacts(
        comment_id=str(comment.id),
        body=comment.body,
        author_id=comment.author_id,
        client_ip=comment.client_ip,
        created_at=comment.created_at.timestamp(),
    )
    new_author = _is_new_author(session, comment)
    signals["author"]["new"] = new_author
    text = text_signals(comment.body, pipeline.spam_config)
    behaviour = pipeline.windows.observe(facts)
    verdict = combine(
        classifier.probability(comment.body),
        text,
        behaviour,
        new_author=new_author,
        config=pipeline.spam_config,
    )
    signals["spam"] = {
        "probability": verdict.probability,
        "classifier": verdict.classifier,
        "model": classifier.version,
        "contributions": verdict.contributions,
        "text": text,
        "behaviour": behaviour,
    }
    stored = {
        "signals": signals,
        "language": language.code,
        "spam_score": verdict.probability,
    }

    decision = decide(
        policy_input(comment, signals, standing, toxicity_skipped="not_scored_yet"),
        pipeline.policy,
    )
    if decision.status == Status.REJECTED or not supported:
        # certain spam, or a language the model cannot read: toxicity would add nothing
        return finish(decision, language=language.code, spam_score=verdict.probability)

    # from now on a toxicity task may claim it (service/comments/claims.py)
    if update_pending(session, comment.id, **stored, toxicity_queued_at=utcnow()):
        pipeline.dispatcher.ring_after_commit(session, comment.id)
        return "sent_to_toxicity"
    return "already_decided"


# --- stage 2: toxicity in batches, then the decision --------------------------------


@dataclass
class _Batch:
    """What deciding a claimed batch needs besides each comment and its score."""

    session: Session
    pipeline: Pipeline
    standings: dict[str, str]
    outcome: dict[str, str]
    scorer: ToxicityScorer | None = None
    policy: PolicyConfig | None = None

    def decide(
        self,
        comment: Comment,
        score: Scores | None = None,
        skipped: str | None = None,
        signals: dict[str, Any] | None = None,
    ) -> None:
        """Decide ``comment``; ``signals`` are added to its stored signals first."""
        scorer = self.scorer if score is not None else None
        stored = {**(comment.signals or {}), **(signals or {})}
        inp = policy_input(
            comment,
            stored,
            self.standings[comment.author_id],
            toxicity=score,
            toxicity_model=f"{scorer.name}@{scorer.version}" if scorer is not None else None,
            toxicity_skipped=skipped,
        )
        decision = decide(inp, self.policy or self.pipeline.policy)
        fields: dict[str, Any] = {"claimed_by": None, "claimed_until": None}
        if signals:
            fields["signals"] = stored
        if score is not None and scorer is not None:
            fields |= {
                "scores": score,
                "scored_by": {"name": scorer.name, "version": scorer.version},
                # per-label columns: the moderation queue filters and sorts on them
                **{f"score_{label}": value for label, value in score.items() if label in LABELS},
            }
        comment_id = str(comment.id)  # before the change expires the loaded comment
        if _apply(self.session, self.pipeline, comment, decision, fields):
            failed = skipped == "scorer_failed"
            self.outcome[comment_id] = "scorer_failed" if failed else decision.status


def _load(get_scorer: Callable[[], ToxicityScorer]) -> tuple[ToxicityScorer | None, str | None]:
    try:
        return get_scorer(), None
    except ScorerUnavailable as exc:
        return None, str(exc)


def score_and_decide(
    session: Session,
    pipeline: Pipeline,
    comment_id: str,
    get_scorer: Callable[[], ToxicityScorer],
    checkpoint: Callable[[], None],
    *,
    token: str,
    lease: timedelta,
    get_vi_scorer: Callable[[], ToxicityScorer] | None = None,
) -> dict[str, str]:
    """Claim ``comment_id`` with the other comments waiting for the model, score, decide.

    The claim (:func:`service.comments.claims.claim_for_scoring`) is committed before
    the model runs, so other tasks leave these comments alone; after each model call
    its comments are decided and ``checkpoint()`` (the task's commit) makes them final,
    so a large batch does not keep its first comments waiting for its last.
    ``get_scorer`` returns the process's scorer or raises :class:`ScorerUnavailable`;
    then every claimed comment is held with that reason. Comments routed as Vietnamese
    go to ``get_vi_scorer``'s model and are decided with the Vietnamese bands (without
    one they are never scored by the main model: held as ``language_unsupported``).
    Returns comment id -> outcome
    for the comments claimed (empty when ``comment_id`` was decided or claimed already).
    """
    # The model is loaded (on first use, seconds) before any transaction opens: on
    # SQLite a transaction holds the database's only write lock from its first
    # statement, so a load inside one would stall every POST until it ended.
    scorer, unavailable = _load(get_scorer)
    vi_scorer, vi_unavailable = _load(get_vi_scorer) if get_vi_scorer else (None, None)
    # Cleared before claiming: a comment committed from now on rings for a new task,
    # one committed before is in this claim (or waits for the next if this one is full).
    pipeline.dispatcher.answer()
    limit = pipeline.settings.toxicity_batch_size
    claim = claim_for_scoring(session, uuid.UUID(comment_id), token, limit=limit, lease=lease)
    if len(claim.comments) >= limit:
        # full: more may be waiting, with nobody to ring for them
        pipeline.dispatcher.ring_after_commit(session, claim.comments[-1].id)
    if claim.released:
        log.warning(
            "toxicity task %s ran before and died; %d comment(s) of its batch re-sent alone",
            token,
            len(claim.released),
        )
        pipeline.dispatcher.after_commit(session, claim.released, task=SCORE_TOXICITY)
    comments = claim.comments
    if not comments:
        # the common case under load: this comment was claimed (or decided) in another
        # task's batch. One query, nothing else: there is a message like this per comment
        return {}
    # read now, not when the comments arrived: a ban in between still applies
    standings = author_standings(session, (c.author_id for c in comments))
    checkpoint()  # the claim is visible to other tasks; no lock is held while scoring
    batch = _Batch(session, pipeline, standings, dict.fromkeys(map(str, (c.id for c in comments))))
    most = pipeline.settings.toxicity_max_attempts
    for comment in comments:
        if comment.toxicity_attempts > most:
            # Claimed again and again without an answer (the scorer crashes on it, or its
            # process keeps dying): a person decides instead of an endless loop.
            batch.decide(comment, skipped="scorer_failed")
    comments = [c for c in comments if c.toxicity_attempts <= most]
    vietnamese = [c for c in comments if c.language == "vi"]
    groups = [
        ([c for c in comments if c.language != "vi"], scorer, unavailable, pipeline.policy),
        (vietnamese, vi_scorer, vi_unavailable, pipeline.policy_vi),
    ]
    if vietnamese and get_vi_scorer is None:
        # routed here before TOXICITY_MODEL_VI was emptied: never the English model
        for comment in vietnamese:
            batch.decide(comment, skipped="language_unsupported")
        groups.pop()
    for group, model, reason, policy in groups:
        if not group:
            continue
        batch.scorer, batch.policy = model, policy
        if model is None:
            log.error("toxicity scorer unavailable, holding %d comment(s): %s", len(group), reason)
            for comment in group:
                batch.decide(comment, skipped="scorer_unavailable")
            continue
        learn = _vi_learning(session, pipeline) if policy is pipeline.policy_vi else None
        _score_group(session, batch, model, group, token, lease, checkpoint, learn)
    checkpoint()
    return {i: o or "already_decided" for i, o in batch.outcome.items()}


def _score_group(
    session: Session,
    batch: _Batch,
    scorer: ToxicityScorer,
    comments: list[Comment],
    token: str,
    lease: timedelta,
    checkpoint: Callable[[], None],
    learn: Callable[[str, Scores], tuple[Scores, dict[str, Any]]] | None = None,
) -> None:
    """Score ``comments`` with one model call after another, deciding and committing each.

    ``learn`` adjusts each text's scores with what moderators taught (Vietnamese) and
    says how, for the comment's signals.
    """
    started = time.perf_counter()
    deciding = 0.0  # of which deciding and committing, the rest is the model
    for call, scores in scorer.score_batches([c.body for c in comments]):
        scored = time.perf_counter()
        for i, score in zip(call, scores, strict=True):
            extra: dict[str, Any] | None = None
            if learn is not None:
                score, info = learn(comments[i].body, score)
                extra = {"vi_learner": info}
            # rounded before deciding, so the stored scores re-derive the stored decision
            batch.decide(
                comments[i], {label: round(v, 5) for label, v in score.items()}, signals=extra
            )
        # alive: the rest of the batch stays ours (a dead batch's lease runs out soon)
        renew(session, token, lease)
        checkpoint()
        deciding += time.perf_counter() - scored
    seconds = time.perf_counter() - started
    log.info(
        "scored %d comment(s) in %.3f s (deciding %.3f s)",
        len(comments),
        seconds,
        deciding,
        extra={
            "batch": len(comments),
            "model": scorer.name,
            "seconds": round(seconds, 3),
            "deciding_seconds": round(deciding, 3),
        },
    )


def _vi_learning(
    session: Session, pipeline: Pipeline
) -> Callable[[str, Scores], tuple[Scores, dict[str, Any]]]:
    """The moderators' Vietnamese labels as a score adjustment (the model's score alone
    until there are ``VI_LABELS_MIN_PER_CLASS`` of each class)."""
    learner = pipeline.vi_learner.current(session)  # new labels, at most every refresh
    settings = pipeline.settings

    def learn(text: str, score: Scores) -> tuple[Scores, dict[str, Any]]:
        toxicity, info = vi_learning.combine(
            learner,
            score["toxicity"],
            text,
            min_per_class=settings.vi_labels_min_per_class,
            max_weight=settings.vi_labels_max_weight,
        )
        return {**score, "toxicity": toxicity}, info

    return learn
