"""The toxicity stage in one process: the model alone vs claims, scoring and decisions.

Run from the repository root (PostgreSQL on localhost, the shipped model)::

    .venv/bin/python -m bench.profile_stage [COMMENTS] [BATCH_SIZE] [--profile]

It builds a scratch database, scores the texts once with the model alone (the same
scorer, the whole set sorted at once), then puts them back as comments waiting for the
model and drains them with ``score_and_decide`` exactly as the toxicity task does, one
claim after another, without Celery. The ratio of the two is what the batch design
costs around the model; ``--profile`` prints where the stage's time goes (cProfile
inflates Python-heavy parts, so take the ratio from a run without it).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from datetime import timedelta

import sqlalchemy as sa

from bench.corpus import comments as make_comments
from config import Settings
from service import create_app
from service.comments.models import Comment, Status
from service.db import utcnow
from tests.factories import make_article, make_comment
from tests.helpers import migrated_pg_database
from workers.pipeline.stages import pipeline_for, score_and_decide
from workers.toxicity.scorer import collect, scorer_from_settings

REDIS_URL = "redis://127.0.0.1:6379/8"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("comments", nargs="?", type=int, default=1024)
    parser.add_argument("batch_size", nargs="?", type=int, default=128)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with migrated_pg_database("moderation_stage") as url:
        settings = Settings.from_env(
            environ={},
            database_url=url,
            redis_url=REDIS_URL,
            log_level="WARNING",
            toxicity_batch_size=args.batch_size,
        )
        app = create_app(settings)
        scorer = scorer_from_settings(app.config["SETTINGS"])
        scorer.load()
        texts = [str(c["body"]) for c in make_comments(args.comments)][: args.comments]
        started = time.perf_counter()
        collect(scorer, texts)
        model_s = time.perf_counter() - started
        db = app.extensions["db"]
        with app.app_context():
            session = db.sessionmaker()
            article = make_article(session)
            signals = {
                "spam": {"probability": 0.01, "contributions": {}},
                "language": {"code": "en", "supported": True},
            }
            for i, body in enumerate(texts):
                make_comment(
                    session,
                    article,
                    status=Status.PENDING,
                    body=body,
                    signals=signals,
                    toxicity_queued_at=utcnow() + timedelta(microseconds=i),
                )
            session.commit()
            session.close()
            pipeline = pipeline_for(app)
            profile = cProfile.Profile()
            started = time.perf_counter()
            if args.profile:
                profile.enable()
            batches = 0
            while True:
                task = db.sessionmaker()
                waiting = task.scalar(
                    sa.select(Comment.id).where(Comment.status == Status.PENDING).limit(1)
                )
                if waiting is None:
                    break
                score_and_decide(
                    task,
                    pipeline,
                    str(waiting),
                    lambda: scorer,
                    task.commit,
                    token=f"stage-{batches}",
                    lease=timedelta(seconds=pipeline.settings.toxicity_lease_s),
                )
                task.commit()
                task.close()
                batches += 1
            profile.disable()
            stage_s = time.perf_counter() - started
        db.dispose()
    n = len(texts)
    print(
        f"{n} comments: model alone {n / model_s:.1f}/s, stage {n / stage_s:.1f}/s "
        f"in {batches} batches of up to {args.batch_size}: {model_s / stage_s:.2f}x"
    )
    if args.profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
