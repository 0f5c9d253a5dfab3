"""The benchmark harness: ``python -m bench [--quick]`` (``make bench``, ``make bench-quick``).

Runs the real stack (gunicorn, PostgreSQL, a private redis-server, Celery workers)
and reports every figure that matters as a ratio to a baseline measured in the same
run, on the same machine, minutes apart: these machines are shared and noisy, so
absolute numbers mean little from one run to the next. Writes
``bench/results/latest.json`` (and a timestamped copy) and prints a Markdown table.

Scoring is measured for two models, side by side: a bert-base-shaped checkpoint with
random weights (Detoxify ``original``'s shape: its speed, not its scores) and the model
we ship, ``minilm-toxic-en`` (real weights, the default ``TOXICITY_MODEL``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
import sqlalchemy as sa
from celery import Celery

from bench.corpus import comments as make_comments
from config.settings import SHIPPED_TOXICITY_MODEL, Settings
from service.db import Database
from service.dispatch import SCORE_TOXICITY
from service.moderation.auth import create_token
from tests.helpers import (
    PrivateRedis,
    WebhookReceiver,
    free_port,
    migrated_pg_database,
    wait_for,
)
from tests.stack import BIN, ROOT, Process, Stack
from workers.toxicity import shipped
from workers.toxicity.checkpoint import CheckpointFiles, build_checkpoint

RESULTS = ROOT / "bench" / "results"
#: the settings `make run` uses, recorded with each result
DEFAULTS = Settings.from_env(environ={})
#: an English comment the pipeline must score (not Vietnamese, not spam)
WARM_UP = {"author_id": "warm", "body": "Thanks for the clear report on the council budget."}
#: the same, for a restarted worker (another text and author: no duplicate for the spam stage)
WARM_UP_AGAIN = {
    "author_id": "warm-again",
    "body": "The new library opening hours on weekends are a welcome change for students.",
}
CACHE = ROOT / "bench" / ".cache"
#: the two models scored: ``Bench.model_speed`` and ``Bench.pipeline`` take one of these
MODELS = ("bert-base", "shipped")


@dataclass(frozen=True)
class Plan:
    """How much of everything to measure."""

    name: str
    model_texts: int  # texts for the model-bound limit
    pipeline_comments: int
    ingest_seconds: int
    e2e_seconds: int
    queue_rows: int
    queue_requests: int  # per query kind
    # the shipped MiniLM is several times faster than bert-base: more texts keep its
    # measurements as long (and as steady) as bert-base's
    shipped_model_texts: int
    shipped_pipeline_comments: int
    #: each of the two runs (no receiver, a receiver that sleeps) of the webhooks measure
    webhook_seconds: int
    #: each part (steady rate, closed loop, steady rate during a backlog) of the
    #: comments:analyze measure
    analyze_seconds: int = 20


QUICK = Plan(
    "quick",
    64,
    96,
    6,
    12,
    100_000,
    40,
    shipped_model_texts=128,
    shipped_pipeline_comments=384,
    webhook_seconds=12,
    analyze_seconds=8,
)
FULL = Plan(
    "full",
    256,
    512,
    20,
    60,
    100_000,
    300,
    shipped_model_texts=512,
    shipped_pipeline_comments=1536,
    webhook_seconds=30,
)
#: how long the slow receiver of the webhooks measure sleeps before it answers
RECEIVER_SLEEP_S = 10.0
#: the posting rate of ``--only webhooks`` (the full run uses the end-to-end rate)
WEBHOOKS_ONLY_RATE = 2.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def percentiles(values: list[float], unit: str = "s", digits: int = 3) -> dict[str, float]:
    """``p50_<unit>`` and ``p99_<unit>`` of ``values`` (nearest rank), rounded to ``digits``."""
    return {f"p{q}_{unit}": round(pct(values, q), digits) for q in (50, 99)}


Item = TypeVar("Item")
Result = TypeVar("Result")


def at_steady_rate(
    items: Sequence[Item], rate: float, call: Callable[[Item], Result], threads: int
) -> list[Result]:
    """``call(item)`` for each item, started at ``rate`` per second on ``threads`` threads.

    An open loop: the schedule does not wait for answers, so a slow answer shows as its
    own latency instead of holding back the requests behind it. Results in item order.
    """
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        futures = []
        t0 = time.perf_counter()
        for i, item in enumerate(items):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(call, item))
        return [f.result() for f in futures]


def peak_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, in MB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return round(int(re.search(r"VmHWM:\s+(\d+)", text).group(1)) / 1024, 1)  # type: ignore[union-attr]


#: the toxicity worker's line per batch (workers/pipeline/stages.py)
BATCH_LINE = re.compile(r"scored (\d+) comment\(s\) in ([\d.]+) s(?: \(deciding ([\d.]+) s\))?")


def batch_log(output: str) -> list[tuple[int, float, float]]:
    """(comments, seconds, of which deciding) for each batch a toxicity worker logged."""
    return [(int(n), float(t), float(d or 0)) for n, t, d in BATCH_LINE.findall(output)]


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


MODEL_ROLE = "model (toxicity worker)"
#: what each process on the machine is, by its command line: (role, pattern)
CPU_ROLES = (
    ("API (gunicorn)", re.compile(r"gunicorn")),
    ("cheap stages (default worker)", re.compile(r"celery .*-Q default")),
    (MODEL_ROLE, re.compile(r"celery .*-Q toxicity")),
    ("PostgreSQL", re.compile(r"^postgres")),
    ("Redis", re.compile(r"redis-server")),
)
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_by_role() -> dict[str, float]:
    """CPU seconds (user + system) used so far by the live processes of each role."""
    used = dict.fromkeys((role for role, _ in CPU_ROLES), 0.0)
    me = os.times()  # this process posts the comments and polls the database
    used["the benchmark (posting, polling)"] = me.user + me.system
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        for role, pattern in CPU_ROLES:
            if pattern.search(command):
                used[role] += (int(fields[11]) + int(fields[12])) / _TICKS
                break
    return used


def maps_torch(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


# ---------------------------------------------------------------------------------------


class Bench:
    def __init__(self, plan: Plan, workdir: Path, overrides: dict[str, str] | None = None) -> None:
        self.plan = plan
        self.workdir = workdir
        self.overrides = overrides or {}
        self.corpus = make_comments(
            max(
                plan.pipeline_comments,
                plan.model_texts,
                plan.shipped_pipeline_comments,
                plan.shipped_model_texts,
            )
            * 2
        )

    # --- setup ---------------------------------------------------------------------
    def __enter__(self) -> Bench:
        self._database = migrated_pg_database("moderation_bench")
        self.db_url = self._database.__enter__()
        self.engine = sa.create_engine(self.db_url)
        self.redis = PrivateRedis().start()
        CACHE.mkdir(parents=True, exist_ok=True)
        target = CACHE / "bert-base"
        if not (target / "model.ckpt").exists():
            log("building a bert-base-shaped Detoxify checkpoint (random weights, once)")
        self.checkpoint = build_checkpoint(target, "bert-base")
        # The shipped model for the model-alone measurement, assembled once into the
        # cache. Its pipeline stacks assemble their own, into an empty models folder.
        if not (CACHE / "shipped").is_dir():
            log(f"assembling the shipped model {shipped.SHIPPED_MODEL} (once)")
        self.shipped = shipped.assemble(CACHE / "shipped")
        manifest = shipped.manifest()
        self.shipped_name = f"{manifest.name} {manifest.version}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()
        self.redis.stop()
        self._database.__exit__(None, None, None)

    def stack(self, name: str, model: str = "bert-base", **env: str) -> Stack:
        """A stack whose toxicity workers load ``model`` (one of :data:`MODELS`).

        ``bert-base``: the random-weights checkpoint, through TOXICITY_CHECKPOINT.
        ``shipped``: no checkpoint setting at all, as `make run` has it: the worker
        assembles and loads the default model itself, into a models folder of the
        stack's own that starts empty (unless ``MODERATION_MODELS_DIR`` is given).
        """
        log_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))
        if model == "bert-base":
            model_env = self.checkpoint.env()
        elif model == "shipped":
            model_env = {"MODERATION_MODELS_DIR": str(log_dir / "models")}
        else:
            raise ValueError(f"model must be one of {MODELS}, not {model!r}")
        return Stack(
            self.db_url,
            self.redis,
            log_dir,
            MODERATION_SWEEPER_INTERVAL_S="3600",  # no sweeper traffic during measurements
            **{**model_env, **env, **self.overrides},
        )

    def reset(self) -> None:
        """Empty the database and Redis between sections."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "TRUNCATE webhook_events, spam_labels, reports, audit_log, comments, articles, "
                "api_tokens RESTART IDENTITY CASCADE"
            )
        self.redis.client().flushall()

    # --- 1. the model alone ----------------------------------------------------------
    def model_speed(self, model: str = "bert-base") -> dict[str, Any]:
        """Detoxify alone on ``model`` (one of :data:`MODELS`): limit, naive, int8."""
        files: CheckpointFiles
        if model == "bert-base":
            files, count = self.checkpoint, self.plan.model_texts
        elif model == "shipped":
            files, count = self.shipped, self.plan.shipped_model_texts
        else:
            raise ValueError(f"model must be one of {MODELS}, not {model!r}")
        texts = [c["body"] for c in self.corpus if c["language"] == "en"][:count]
        spec = {
            "checkpoint": str(files.checkpoint),
            "hf_config": str(files.hf_config_dir),
            "threads": os.cpu_count() or 1,
            "texts": texts,
            "quantize": True,
            # the pipelines route Vietnamese comments to the Vietnamese model: its limit
            # too, on the corpus's Vietnamese texts, for the limit of the pipelines' mix
            "vi_model": DEFAULTS.toxicity_model_vi,
            "vi_models_dir": str(CACHE / "shipped"),
            "vi_texts": [c["body"] for c in self.corpus if c["language"] == "vi"][
                : max(64, count // 4)
            ],
        }
        path = self.workdir / f"model_speed-{model}.json"
        path.write_text(json.dumps(spec))
        log(f"model alone ({model}): {len(texts)} texts, sorted batches and one at a time")
        out = subprocess.run(
            [sys.executable, "-m", "bench.model_speed", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return json.loads(out.split("RESULT ", 1)[1])

    # --- 2. ingest -------------------------------------------------------------------
    def _wrk(self, url: str, seconds: int, connections: int) -> dict[str, Any]:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                str(ROOT / "bench" / "post.lua"),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        raw = json.loads(out.split("JSON ", 1)[1].splitlines()[0])
        return {
            "per_s": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
            "p50_ms": round(raw["p50_us"] / 1000, 2),
            "p99_ms": round(raw["p99_us"] / 1000, 2),
            "errors": raw["errors_status"] + raw["errors_connect"] + raw["errors_timeout"],
            "requests": raw["requests"],
        }

    def ingest(self) -> dict[str, Any]:
        """The API's POST against two baselines, each under the same gunicorn settings.

        ``bare``: Flask parsing the JSON, nothing stored (the framework's ceiling).
        ``durable``: plain WSGI, one psycopg INSERT and COMMIT, one Redis push (the least
        work that keeps a comment safe: the honest limit, bench/durable_app.py).
        """
        self.reset()
        workers = str(2 * (os.cpu_count() or 1))  # gunicorn config's default
        connections = 2 * int(workers)
        stack = self.stack("ingest")
        try:
            api, url = self._gunicorn(stack, "api", "service:create_app()", workers, "/healthz")
            bare, bare_url = self._gunicorn(
                stack, "bare", "bench.bare_app:create_app()", workers, "/nothing"
            )
            durable, durable_url = self._gunicorn(
                stack, "durable", "bench.durable_app:create_app()", workers, "/nothing"
            )
            seconds = self.plan.ingest_seconds
            log(f"ingest: wrk {seconds}s x3, {connections} connections, {workers} gunicorn workers")
            # warm all three up, then measure back to back
            for target in (url, bare_url, durable_url):
                self._wrk(target, 2, connections)
            ours = self._wrk(url, seconds, connections)
            baseline = self._wrk(bare_url, seconds, connections)
            floor = self._wrk(durable_url, seconds, connections)
            api_workers = children(api.proc.pid)
            memory = max(peak_mb(p) for p in api_workers)
            torch_loaded = any(maps_torch(p) for p in [api.proc.pid, *api_workers])
            with self.engine.connect() as conn:
                stored = conn.execute(sa.text("SELECT count(*) FROM comments")).scalar_one()
            bare.stop()
            durable.stop()
            return {
                "api": ours,
                "bare": baseline,
                "durable": floor,
                "ratio": round(ours["per_s"] / baseline["per_s"], 3),
                "ratio_durable": round(ours["per_s"] / floor["per_s"], 3),
                "gunicorn_workers": int(workers),
                "connections": connections,
                "stored": stored,
                "api_worker_peak_mb": memory,
                "api_imports_torch": torch_loaded,
            }
        finally:
            stack.stop()

    @staticmethod
    def _gunicorn(
        stack: Stack, name: str, app: str, workers: str, probe: str
    ) -> tuple[Process, str]:
        """``app`` under gunicorn with the API's config and ``workers`` workers, once it answers."""
        port = free_port()
        process = stack.start(
            name,
            [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", app],
            MODERATION_API_PORT=str(port),
            WEB_CONCURRENCY=workers,
        )
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url + probe), 60, what=name)
        return process, url

    # --- 3. the pipeline -------------------------------------------------------------
    def _post_all(self, url: str, items: list[dict[str, Any]], article: str) -> list[str]:
        local = threading.local()

        def post(item: dict[str, Any]) -> str:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            r = session.post(
                f"{url}/v1/articles/{article}/comments",
                json={
                    "author_id": item["author_id"],
                    "author_name": "Reader",
                    "body": item["body"],
                },
                timeout=30,
            )
            r.raise_for_status()
            return r.json()["id"]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return list(pool.map(post, items))

    def _decided(self, ids: list[str]) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT id, status, language, created_at, decided_at, "
                    "scores IS NOT NULL AS scored "
                    "FROM comments WHERE id = ANY(:ids)"
                ),
                {"ids": [uuid.UUID(i) for i in ids]},
            ).all()

    def _wait_decided(self, ids: list[str], timeout: float) -> list[tuple[Any, ...]]:
        rows: list[Any] = []

        def done() -> bool:
            rows[:] = self._decided(ids)
            return len(rows) == len(ids) and all(r.status != "pending" for r in rows)

        wait_for(done, timeout, interval=0.1, what=f"{len(ids)} decisions")
        return rows

    def _cold_start(
        self, stack: Stack, url: str, item: dict[str, Any]
    ) -> tuple[Process, dict[str, Any]]:
        """Post ``item``, launch a toxicity worker, time launch to the item's decision."""
        warm_up = self._post_all(url, [item], "warm-up")
        launched = time.perf_counter()
        toxicity = stack.worker("toxicity", concurrency=1, prefetch=16)
        (row,) = self._wait_decided(warm_up, 120)
        seconds = time.perf_counter() - launched
        loaded = re.search(
            r"toxicity model (\S+) loaded in ([\d.]+) s", toxicity.output()
        )  # name@version, seconds (for the shipped model, assembling included)
        if not row.scored:
            log(f"warning: the warm-up comment was decided ({row.status}) without a score")
        return toxicity, {
            "s": round(seconds, 1),
            "model_load_s": float(loaded.group(2)) if loaded else None,
            "model": loaded.group(1) if loaded else None,
            "scored": bool(row.scored),
        }

    def pipeline(self, model: str = "bert-base") -> dict[str, Any]:
        """Comments through the API and both workers, the toxicity worker loading ``model``.

        For the shipped model the worker starts with an empty models folder (so its cold
        start includes assembling the model), and after the measurement it is restarted
        on the assembled folder: that second cold start is the one after `make run`,
        which assembles the model (`moderation prepare-model`) before starting workers.
        """
        self.reset()
        stack = self.stack(f"pipeline-{model}", model)
        plan = self.plan
        count = plan.shipped_pipeline_comments if model == "shipped" else plan.pipeline_comments
        try:
            _api, url = stack.api()
            stack.worker("default", concurrency=2)
            toxicity, cold = self._cold_start(stack, url, WARM_UP)
            cold_start = cold["s"]
            if model == "shipped" and not str(cold["model"]).startswith(SHIPPED_TOXICITY_MODEL):
                log(f"warning: the shipped stack's worker loaded {cold['model']}")

            items = self.corpus[:count]
            log(
                f"pipeline ({model}): {len(items)} comments through API, default and "
                "toxicity workers"
            )
            cpu_before = cpu_by_role()
            ids = self._post_all(url, items, "pipeline")
            rows = self._wait_decided(ids, 600)
            cpu_after = cpu_by_role()
            start = min(r.created_at for r in rows)
            end = max(r.decided_at for r in rows)
            elapsed = (end - start).total_seconds()
            scored = sum(1 for r in rows if r.scored)
            scored_vi = sum(1 for r in rows if r.scored and r.language == "vi")
            child = children(toxicity.proc.pid)
            # the warm-up's batch includes loading the model
            batches = [(n, s) for n, s, _ in batch_log(toxicity.output())][1:]
            result = {
                "model": model,
                "loaded": cold["model"],
                "batches": len(batches),
                "batch_log": batches,
                "mean_batch": round(statistics.mean(n for n, _ in batches), 1) if batches else 0,
                "model_busy_s": round(sum(s for _, s in batches), 2),
                "comments": len(ids),
                "scored": scored,
                "scored_vi": scored_vi,
                "elapsed_s": round(elapsed, 2),
                "per_s": round(len(ids) / elapsed, 2),
                "scored_per_s": round(scored / elapsed, 2),
                "cold_start_s": cold_start,
                "cold_start_model_load_s": cold["model_load_s"],
                "cold_start_scored": cold["scored"],
                "toxicity_child_peak_mb": max(peak_mb(p) for p in child),
                "toxicity_parent_peak_mb": peak_mb(toxicity.proc.pid),
                "statuses": {
                    s: sum(1 for r in rows if r.status == s)
                    for s in ("approved", "held", "rejected")
                },
                # where the two cores went, per comment posted (the processes' own
                # counters, read before the first POST and after the last decision)
                "cpu_ms_per_comment": {
                    role: round((cpu_after[role] - cpu_before[role]) / len(ids) * 1000, 2)
                    for role in cpu_before
                },
                "batch_size": DEFAULTS.toxicity_batch_size,
                "batch_tokens": DEFAULTS.toxicity_batch_tokens,
            }
            result["drain"] = self._drain(stack, toxicity, ids)
            if model == "shipped":
                toxicity.stop()
                log("pipeline (shipped): restarting the toxicity worker on the assembled model")
                _again, warm = self._cold_start(stack, url, WARM_UP_AGAIN)
                result["cold_start_prepared_s"] = warm["s"]
                result["cold_start_prepared_model_load_s"] = warm["model_load_s"]
                result["cold_start_prepared_scored"] = warm["scored"]
            return result
        finally:
            stack.stop()

    def _drain(self, stack: Stack, toxicity: Process, ids: list[str]) -> dict[str, Any]:
        """The toxicity stage alone: every scored comment waiting again, sent at once.

        The pipeline measure shares 2 cores between the API, the cheap stages, the
        databases and the model. Here the warm toxicity worker has the machine: the
        comments it scored are put back to waiting (as the cheap stages leave them),
        one toxicity message sent, as the cheap stages' doorbell would, and the time from
        that send to the last decision is what the claims, batching and decisions cost
        around the model.
        """
        with self.engine.begin() as conn:
            scored = [
                str(i)
                for (i,) in conn.execute(
                    sa.text(
                        "UPDATE comments SET status = 'pending', decided_at = NULL, "
                        "decided_by = NULL, scores = NULL, scored_by = NULL, reasons = NULL, "
                        "toxicity_attempts = 0, claimed_by = NULL, claimed_until = NULL, "
                        "toxicity_queued_at = now(), version = version + 1 "
                        "WHERE id = ANY(:ids) AND scored_by IS NOT NULL RETURNING id"
                    ),
                    {"ids": [uuid.UUID(i) for i in ids]},
                )
            ]
        sender = Celery(broker=stack.redis.url)
        logged = len(batch_log(toxicity.output()))
        log(f"toxicity stage alone: {len(scored)} waiting comments, one message")
        with self.engine.connect() as conn:
            started = conn.execute(sa.text("SELECT now()")).scalar_one()
        # one message, as the doorbell sends for a backlog (Dispatcher.ring): each task
        # claims a full batch and rings for the next
        sender.send_task(SCORE_TOXICITY, args=[scored[0]], queue="toxicity")
        rows = self._wait_decided(scored, 600)
        elapsed = (max(r.decided_at for r in rows) - started).total_seconds()
        timed = batch_log(toxicity.output())[logged:]
        batches = [n for n, _, _ in timed]
        return {
            "comments": len(scored),
            "scored": sum(1 for r in rows if r.scored),
            "scored_vi": sum(1 for r in rows if r.scored and r.language == "vi"),
            "elapsed_s": round(elapsed, 2),
            "scored_per_s": round(sum(1 for r in rows if r.scored) / elapsed, 2),
            "batches": len(batches),
            "mean_batch": round(statistics.mean(batches), 1) if batches else 0,
            # seconds spent scoring and deciding, out of elapsed_s: the rest is claims,
            # commits and the hand-over from one task to the next
            "scoring_s": round(sum(t for _, t, _ in timed), 2),
            "deciding_s": round(sum(d for _, _, d in timed), 2),
            "batch_log": timed,
        }

    # --- 4. end-to-end latency at a steady rate ---------------------------------------
    def end_to_end(self, rate: float) -> dict[str, Any]:
        self.reset()
        stack = self.stack("e2e")
        try:
            _api, url = stack.api()
            stack.worker("default", concurrency=2)
            stack.worker("toxicity", concurrency=1, prefetch=16)
            self._wait_decided(self._post_all(url, [WARM_UP], "warm-up"), 120)
            count = max(1, int(rate * self.plan.e2e_seconds))
            log(f"end to end: {count} comments at {rate:.1f}/s")
            return self._steady(url, self.corpus[-count:], rate, "e2e")
        finally:
            stack.stop()

    def _steady(
        self, url: str, items: list[dict[str, Any]], rate: float, article: str
    ) -> dict[str, Any]:
        """Post ``items`` at ``rate`` per second; each one's submit-to-decision latency."""
        local = threading.local()

        def post(item: dict[str, Any]) -> str:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            r = session.post(
                f"{url}/v1/articles/{article}/comments",
                json={"author_id": item["author_id"], "author_name": "R", "body": item["body"]},
                timeout=30,
            )
            return r.json()["id"]

        ids = at_steady_rate(items, rate, post, threads=4)
        rows = self._wait_decided(ids, 300)
        latencies = [(r.decided_at - r.created_at).total_seconds() for r in rows]
        return {
            "rate_per_s": round(rate, 2),
            "comments": len(rows),
            **percentiles(latencies),
            "max_s": round(max(latencies), 3),
        }

    # --- 4b. decisions while the site's webhook receiver is slow -------------------------
    def webhooks(self, rate: float) -> dict[str, Any]:
        """Decision latency with a webhook receiver that sleeps RECEIVER_SLEEP_S before
        each answer, beside the same run with no webhooks at all.

        The same comments at the same rate, through the same processes and model as
        `make run` (API, default, toxicity and webhooks workers; the shipped model, fast
        enough that the rate stays well inside its capacity on a busy machine, so that
        the latency measured is the queues', not the model's); only WEBHOOK_URL differs.
        Every decision makes a webhook event; the receiver holds each POST past the
        default WEBHOOK_TIMEOUT_S, so every attempt fails and is retried: the webhooks
        worker stays busy for the whole run. Target: the same within noise.
        """
        items = self.corpus[: max(1, int(rate * self.plan.webhook_seconds))]
        none = self._decisions_with_webhooks("webhooks-none", items, rate)

        def slow(request: dict[str, Any]) -> tuple[int, dict[str, str]]:
            time.sleep(RECEIVER_SLEEP_S)
            return 200, {}

        receiver = WebhookReceiver(answer=slow)
        try:
            with_receiver = self._decisions_with_webhooks(
                "webhooks-slow",
                items,
                rate,
                MODERATION_WEBHOOK_URL=receiver.url,
                MODERATION_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver is on 127.0.0.1
            )
            with_receiver["receiver_requests"] = len(receiver.requests)
        finally:
            receiver.close()
        return {
            "rate_per_s": round(rate, 2),
            "receiver_sleep_s": RECEIVER_SLEEP_S,
            "webhook_timeout_s": DEFAULTS.webhook_timeout_s,
            "none": none,
            "slow_receiver": with_receiver,
            "p50_ratio": round(with_receiver["p50_s"] / none["p50_s"], 2),
            "p99_ratio": round(with_receiver["p99_s"] / none["p99_s"], 2),
        }

    def _decisions_with_webhooks(
        self, name: str, items: list[dict[str, Any]], rate: float, **env: str
    ) -> dict[str, Any]:
        self.reset()
        stack = self.stack(name, "shipped", **env)
        try:
            _api, url = stack.api()
            stack.worker("default", concurrency=DEFAULTS.default_concurrency)
            stack.worker("toxicity", concurrency=1, prefetch=16)
            stack.worker("webhooks", concurrency=DEFAULTS.webhook_concurrency)
            self._wait_decided(self._post_all(url, [WARM_UP], "warm-up"), 120)
            receiver = "a receiver that sleeps" if env else "no webhooks"
            log(f"webhooks ({receiver}): {len(items)} comments at {rate:.1f}/s")
            result = self._steady(url, items, rate, "hooks")
            with self.engine.connect() as conn:
                result["events"] = dict(
                    conn.execute(
                        sa.text("SELECT state, count(*) FROM webhook_events GROUP BY state")
                    ).all()
                )
            return result
        finally:
            stack.stop()

    # --- 5. the moderation queue on 100k comments ---------------------------------------
    # --- 5. Perspective-compatible comments:analyze --------------------------------------
    def analyze(self, limit_per_s: float) -> dict[str, Any]:
        """``comments:analyze`` through gunicorn and the toxicity worker, shipped model.

        Each request is one text, scored alone, so the model-bound limit is the model
        one text at a time (``limit_per_s``, the model-alone ``naive`` figure). Three
        parts of ANALYZE_SECONDS each: a steady rate at half that limit (latency), a
        closed loop of 4 clients (throughput), and the steady rate at a quarter of the
        limit while the same worker drains a backlog of comments (analyze requests go
        in between the batch's model calls). Latency is the client's, request to answer;
        Coral Talk gives the call 800 ms (its PERSPECTIVE_TIMEOUT default).
        """
        self.reset()
        stack = self.stack("analyze", model="shipped", MODERATION_ANALYZE_RATE_PER_KEY="")
        try:
            api, url = stack.api()
            stack.worker("default", concurrency=2)
            stack.worker("toxicity", concurrency=1, prefetch=16)
            db = Database(self.db_url)
            with db.session() as session:
                key = create_token(session, "bench-analyze", "analyze")
            db.dispose()
            texts = [c["body"] for c in self.corpus if c["language"] == "en"]
            endpoint = f"{url}/v1alpha1/comments:analyze?key={key}"
            local = threading.local()

            def call(text: str) -> tuple[int, float]:
                session = getattr(local, "session", None) or requests.Session()
                local.session = session
                t = time.perf_counter()
                r = session.post(
                    endpoint,
                    json={
                        "comment": {"text": text},
                        "requestedAttributes": {"TOXICITY": {}},
                        "doNotStore": True,
                    },
                    timeout=30,
                )
                return r.status_code, time.perf_counter() - t

            wait_for(lambda: call(texts[0])[0] == 200, 180, interval=1, what="the model")
            seconds = self.plan.analyze_seconds

            def steady(rate: float, offset: int) -> dict[str, Any]:
                count = max(1, int(rate * seconds))
                batch = [texts[(offset + i) % len(texts)] for i in range(count)]
                results = at_steady_rate(batch, rate, call, threads=16)
                latencies = [s for code, s in results if code == 200]
                return {
                    "rate_per_s": round(rate, 2),
                    "requests": len(results),
                    "answered": len(latencies),
                    **percentiles(latencies),
                }

            rate = max(1.0, limit_per_s / 2)
            log(f"analyze: steady {rate:.1f}/s for {seconds} s")
            at_rate = steady(rate, 0)

            log(f"analyze: closed loop, 4 clients, {seconds} s")
            done: list[int] = []
            stop_at = time.perf_counter() + seconds

            def loop(start: int) -> None:
                i = start
                while time.perf_counter() < stop_at:
                    if call(texts[i % len(texts)])[0] == 200:
                        done.append(1)
                    i += 4

            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(loop, range(4)))
            throughput = round(len(done) / (time.perf_counter() - t0), 1)

            backlog = self.corpus[: self.plan.shipped_pipeline_comments]
            log(f"analyze: steady {rate / 2:.1f}/s while {len(backlog)} comments are scored")
            ids = self._post_all(url, backlog, "analyze-backlog")
            during = steady(rate / 2, 1000)
            pending = sum(1 for r in self._decided(ids) if r.status == "pending")
            during["backlog"] = len(backlog)
            during["pending_at_end"] = pending
            self._wait_decided(ids, 600)
            workers = children(api.proc.pid)
            return {
                "limit_per_s": limit_per_s,
                "steady": at_rate,
                "throughput_per_s": throughput,
                "ratio": round(throughput / limit_per_s, 2),
                "during_backlog": during,
                "api_worker_peak_mb": max(peak_mb(pid) for pid in workers),
                "api_imports_torch": any(maps_torch(pid) for pid in workers),
            }
        finally:
            stack.stop()

    def queue(self) -> dict[str, Any]:
        self.reset()
        n = self.plan.queue_rows
        log(f"queue: inserting {n} comments")
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO articles (external_id, moderation_mode, comments_open, created_at, "
                "updated_at) SELECT 'qa-' || g, 'post', true, now(), now() "
                "FROM generate_series(1, 200) g"
            )
            first = conn.execute(sa.text("SELECT min(id) FROM articles")).scalar_one()
            conn.execute(
                sa.text(
                    """
                    WITH src AS (
                      SELECT g, gen_random_uuid() AS id, random() AS r, random() AS t,
                             random() AS i, random() AS s
                      FROM generate_series(1, :n) g)
                    INSERT INTO comments (id, article_id, root_id, author_id, author_name, body,
                      status, language, score_toxicity, score_insult, spam_score, scores,
                      report_count, created_at, updated_at, version)
                    SELECT id, :first + (g % 200), id, 'reader-' || (g % 5000), 'Reader',
                      'Comment number ' || g || ' about the news of the day',
                      CASE WHEN r < 0.6 THEN 'approved' WHEN r < 0.8 THEN 'held'
                           WHEN r < 0.95 THEN 'rejected' ELSE 'pending' END,
                      CASE WHEN g % 10 = 0 THEN 'vi' ELSE 'en' END,
                      CASE WHEN g % 10 = 0 THEN NULL ELSE t END,
                      CASE WHEN g % 10 = 0 THEN NULL ELSE i END, s,
                      CASE WHEN g % 10 = 0 THEN NULL
                           ELSE jsonb_build_object('toxicity', t, 'insult', i) END,
                      CASE WHEN g % 50 = 0 THEN 1 ELSE 0 END,
                      now() - make_interval(secs => g), now(), 1
                    FROM src
                    """
                ),
                {"n": n, "first": first},
            )
            conn.exec_driver_sql("ANALYZE")
        db = Database(self.db_url)
        with db.session() as session:
            token = create_token(session, "bench", "moderator")
        db.dispose()
        stack = self.stack("queue")
        try:
            _api, url = stack.api()
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {token}"
            first_page = http.get(f"{url}/v1/moderation/queue", timeout=10).json()
            kinds: dict[str, dict[str, Any]] = {
                "held, oldest first": {},
                "held, by toxicity": {"sort": "score:toxicity"},
                "one article": {"article": "qa-7"},
                "score ranges": {"score": ["toxicity:0.5:1", "insult:0.3:1"]},
                "reported, two statuses": {"reported": "true", "status": ["approved", "held"]},
                "second page": {"cursor": first_page["next_cursor"]},
            }
            return {
                "comments": n,
                "held": first_page["counts"]["held"],
                **self._time_queries(
                    http,
                    f"{url}/v1/moderation/queue",
                    kinds,
                    lambda r: r.status_code == 200,
                ),
                "console": self._console_queue(url, token, first_page["next_cursor"]),
            }
        finally:
            stack.stop()

    def _console_queue(self, url: str, token: str, cursor: str) -> dict[str, Any]:
        """The console's queue page (HTML, 50 rows) on the same database, beside the JSON."""
        http = requests.Session()
        login = http.get(f"{url}/console/login", timeout=10)
        # the session cookie is Secure: a client sends it over http only if told to
        cookie = login.headers["Set-Cookie"].split(";", 1)[0]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
        signed_in = http.post(
            f"{url}/console/login",
            data={"token": token, "csrf_token": csrf},
            headers={"Cookie": cookie},
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.status_code == 302, signed_in.text
        http.headers["Cookie"] = signed_in.headers["Set-Cookie"].split(";", 1)[0]
        kinds: dict[str, dict[str, Any]] = {
            "held, oldest first": {},
            "held, by toxicity": {"sort": "score:toxicity"},
            "one article": {"article": "qa-7"},
            "score range": {"score_label": "toxicity", "score_min": "0.5", "score_max": "1"},
            "reported, two statuses": {"reported": "true", "status": ["approved", "held"]},
            "second page": {"cursor": cursor},
        }
        return self._time_queries(
            http,
            f"{url}/console/",
            kinds,
            lambda r: r.status_code == 200 and "queue-rows" in r.text,
        )

    def _time_queries(
        self,
        http: requests.Session,
        endpoint: str,
        kinds: dict[str, dict[str, Any]],
        ok: Callable[[requests.Response], bool],
    ) -> dict[str, Any]:
        """Times of GET ``endpoint`` per kind of query (after 5 warm-up calls), each answer
        checked by ``ok``: percentiles overall and per kind, of the round trip (``p50_ms``,
        ``p99_ms``) and of the server's own time from its ``Server-Timing`` header
        (``server``)."""
        per_kind: dict[str, dict[str, Any]] = {}
        everything: list[float] = []
        server_everything: list[float] = []
        for name, params in kinds.items():
            for _ in range(5):  # warm
                http.get(endpoint, params=params, timeout=10)
            times, server = [], []
            for _ in range(self.plan.queue_requests):
                t = time.perf_counter()
                r = http.get(endpoint, params=params, timeout=10)
                times.append((time.perf_counter() - t) * 1000)
                assert ok(r), r.text[:500]
                server.append(server_ms(r))
            per_kind[name] = {
                **percentiles(times, "ms", 2),
                "server": percentiles(server, "ms", 2),
            }
            everything += times
            server_everything += server
        return {
            **percentiles(everything, "ms", 2),
            "server": percentiles(server_everything, "ms", 2),
            "requests": len(everything),
            "per_query": per_kind,
        }


def server_ms(response: requests.Response) -> float:
    """The server's own time for ``response``, from its ``Server-Timing: app;dur=…``."""
    found = re.search(r"\bapp;dur=([0-9.]+)", response.headers.get("Server-Timing", ""))
    assert found, f"no Server-Timing header: {dict(response.headers)}"
    return float(found.group(1))


def console_rows(q: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    c = q.get("console")
    if not c:
        return []
    return [
        (
            f"Console queue page (HTML, 50 rows) on {q['comments']:,} comments: "
            "server time p50 / p99",
            f"{c['server']['p50_ms']:.1f} / {c['server']['p99_ms']:.1f} ms",
            "p99 < 100 ms",
            ok(c["server"]["p99_ms"] < 100),
        ),
        (
            "Console queue page: round trip p50 / p99 (the client's clock)",
            f"{c['p50_ms']:.1f} / {c['p99_ms']:.1f} ms",
            "",
            "",
        ),
    ]


def _up(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
        return True
    except requests.RequestException:
        return False


# ---------------------------------------------------------------------------------------


BERT_BASE_LABEL = "bert-base shape, random weights"


def shipped_label(shipped: dict[str, Any]) -> str:
    return f"{shipped['name']}, real weights"


def ok(flag: bool) -> str:
    return "yes" if flag else "**no**"


def mix_limit(m: dict[str, Any], run: dict[str, Any]) -> float:
    """The model-bound limit for what ``run`` scored: its English comments at the main
    model's limit, its Vietnamese ones at the Vietnamese model's (one after the other,
    each with the whole machine). Results without the split: the main model's limit."""
    vi, limit_vi = run.get("scored_vi"), m.get("vi_limit_per_s")
    if not vi or not limit_vi:
        return float(m["limit_per_s"])
    seconds = (run["scored"] - vi) / m["limit_per_s"] + vi / limit_vi
    return run["scored"] / seconds


def scoring_rows(
    label: str, m: dict[str, Any], p: dict[str, Any], naive_target: float | None
) -> list[tuple[str, str, str, str]]:
    """The model-alone and pipeline rows of one model, labelled with it."""
    limit = mix_limit(m, p)
    pipeline_vs_limit = round(p["scored_per_s"] / limit, 2)
    pipeline_vs_naive = round(p["scored_per_s"] / m["naive_per_s"], 2)
    return [
        (
            f"Scoring ({label}): model-bound limit (best sorted batching, whole set, one process)",
            f"{m['limit_per_s']:.1f} comments/s ({m['limit_how']}, {m['threads']} threads)",
            "",
            "",
        ),
        *vi_limit_rows(label, m, p, limit),
        (
            f"Scoring ({label}): naive `predict(text)` one at a time",
            f"{m['naive_per_s']:.1f} comments/s",
            "",
            "",
        ),
        (
            f"Scoring ({label}): our pipeline, first POST to last decision",
            f"{p['scored_per_s']:.1f} scored/s ({p['per_s']:.1f} all/s, {p['comments']} comments)",
            "",
            "",
        ),
        (
            f"Pipeline / limit ({label})",
            f"**{pipeline_vs_limit:.2f}x**",
            ">= 0.9x",
            ok(pipeline_vs_limit >= 0.9),
        ),
        *cpu_rows(label, p),
        *drain_rows(label, m, p),
        (
            f"Pipeline / naive ({label})",
            f"**{pipeline_vs_naive:.2f}x**",
            f">= {naive_target}x" if naive_target else "",
            ok(pipeline_vs_naive >= naive_target) if naive_target else "",
        ),
    ]


def vi_limit_rows(
    label: str, m: dict[str, Any], p: dict[str, Any], limit: float
) -> list[tuple[str, ...]]:
    """The Vietnamese model's limit and the limit of the pipeline's mix, when measured."""
    if not p.get("scored_vi") or not m.get("vi_limit_per_s"):
        return []
    english = p["scored"] - p["scored_vi"]
    return [
        (
            f"Scoring: the Vietnamese model's limit ({m['vi_model']}, best token budget)",
            f"{m['vi_limit_per_s']:.1f} comments/s ({m['vi_limit_how']})",
            "",
            "",
        ),
        (
            f"Scoring ({label}): model-bound limit for the pipeline's mix, what the ratios "
            "below divide by",
            f"{limit:.1f} comments/s ({english} English, {p['scored_vi']} Vietnamese)",
            "",
            "",
        ),
    ]


def cpu_rows(label: str, p: dict[str, Any]) -> list[tuple[str, ...]]:
    """Where the cores went per comment in the pipeline, and the rate that allows."""
    cpu = p.get("cpu_ms_per_comment")
    if not cpu:
        return []
    model = cpu.get(MODEL_ROLE, 0.0)
    total = sum(cpu.values())
    cores = os.cpu_count() or 1
    return [
        (
            f"Pipeline ({label}): CPU per comment posted, by process",
            ", ".join(f"{role} {ms:.1f} ms" for role, ms in cpu.items()),
            "",
            "",
        ),
        (
            f"Pipeline ({label}): what {cores} cores allow at that CPU per comment "
            "(everything but the model / everything)",
            f"{cores * 1000 / max(total - model, 1e-9):.0f} / {cores * 1000 / total:.0f} "
            "comments/s",
            "",
            "",
        ),
    ]


def drain_rows(label: str, m: dict[str, Any], p: dict[str, Any]) -> list[tuple[str, ...]]:
    """The toxicity stage alone (absent from results written before it was measured)."""
    d = p.get("drain")
    if not d:
        return []
    ratio = round(d["scored_per_s"] / mix_limit(m, d), 2)
    return [
        (
            f"Toxicity stage alone ({label}): {d['comments']} waiting comments, warm worker",
            f"{d['scored_per_s']:.1f} scored/s ({d['batches']} batches, mean {d['mean_batch']})",
            "",
            "",
        ),
        (f"Toxicity stage / limit ({label})", f"**{ratio:.2f}x**", ">= 0.9x", ok(ratio >= 0.9)),
    ]


def memory_row(label: str, p: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        f"Toxicity worker peak memory, child / parent ({label})",
        f"{p['toxicity_child_peak_mb']:.0f} / {p['toxicity_parent_peak_mb']:.0f} MB",
        "< 1.5 GB",
        ok(p["toxicity_child_peak_mb"] + p["toxicity_parent_peak_mb"] < 1536),
    )


def int8_row(label: str, m: dict[str, Any]) -> tuple[str, str, str, str]:
    mean = m.get("int8_mean_score_change")
    return (
        f"Dynamic int8 quantisation ({label}): speed-up / largest (mean) score change",
        f"{m['int8_speedup']:.2f}x / {m['int8_max_score_change']:.4f}"
        + (f" ({mean:.4f})" if mean is not None else ""),
        "",
        "",
    )


def webhook_rows(
    w: dict[str, Any] | None, shipped: dict[str, Any] | None
) -> list[tuple[str, str, str, str]]:
    """Decisions with a slow webhook receiver beside none (absent from older results)."""
    if not w:
        return []
    none, slow = w["none"], w["slow_receiver"]
    label = shipped_label(shipped) if shipped else SHIPPED_TOXICITY_MODEL
    return [
        (
            f"Decisions with a webhook receiver that sleeps {w['receiver_sleep_s']:.0f} s "
            f"vs none ({label}): p50 / p99 submit to decision",
            f"{slow['p50_s']:.2f} / {slow['p99_s']:.2f} s vs {none['p50_s']:.2f} / "
            f"{none['p99_s']:.2f} s = **{w['p50_ratio']:.2f}x / {w['p99_ratio']:.2f}x** "
            f"at {w['rate_per_s']:.1f}/s, {slow['comments']} comments each",
            "p99 <= 1.5x (the same within noise)",
            ok(w["p99_ratio"] <= 1.5),
        )
    ]


def durable_rows(i: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The ingest row against the minimal durable endpoint (absent from older results)."""
    if "durable" not in i:
        return []
    return [
        (
            "Ingest: ratio to a minimal durable endpoint (psycopg INSERT+COMMIT, Redis push)",
            f"{i['api']['per_s']:.0f} / {i['durable']['per_s']:.0f} = "
            f"**{i['ratio_durable']:.2f}x** (durable p50 / p99 {i['durable']['p50_ms']:.1f} / "
            f"{i['durable']['p99_ms']:.1f} ms)",
            ">= 0.8x",
            ok(i["ratio_durable"] >= 0.8),
        )
    ]


def analyze_rows(
    a: dict[str, Any] | None, shipped: dict[str, Any] | None
) -> list[tuple[str, str, str, str]]:
    """The comments:analyze rows (absent from results written before it was measured)."""
    if not a:
        return []
    label = shipped_label(shipped) if shipped else "shipped model"
    st, db = a["steady"], a["during_backlog"]
    return [
        (
            f"`comments:analyze` ({label}): closed-loop throughput / the model one text at a time",
            f"{a['throughput_per_s']:.1f} / {a['limit_per_s']:.1f} = **{a['ratio']:.2f}x**",
            "",
            "",
        ),
        (
            f"`comments:analyze` ({label}): p50 / p99 at a steady rate",
            f"{st['p50_s'] * 1000:.0f} / {st['p99_s'] * 1000:.0f} ms at {st['rate_per_s']:.1f}/s "
            f"({st['answered']} of {st['requests']} answered)",
            "p99 < 800 ms (Coral's timeout)",
            ok(st["p99_s"] < 0.8 and st["answered"] == st["requests"]),
        ),
        (
            f"`comments:analyze` ({label}): p50 / p99 while the worker scores a backlog",
            f"{db['p50_s'] * 1000:.0f} / {db['p99_s'] * 1000:.0f} ms at {db['rate_per_s']:.1f}/s "
            f"({db['backlog']} comments, {db['pending_at_end']} still waiting at the end)",
            "p99 < 800 ms",
            ok(db["p99_s"] < 0.8 and db["answered"] == db["requests"]),
        ),
        (
            "API worker peak memory after `comments:analyze` (imports torch?)",
            f"{a['api_worker_peak_mb']:.0f} MB ({'yes' if a['api_imports_torch'] else 'no'})",
            "< 150 MB",
            ok(a["api_worker_peak_mb"] < 150 and not a["api_imports_torch"]),
        ),
    ]


def table(r: dict[str, Any]) -> str:
    m, i, p, e, q = r["model"], r["ingest"], r["pipeline"], r["e2e"], r["queue"]
    shipped = r.get("shipped")  # absent from results written before it was measured
    e2e_target = 1.0 + e.get("batch_wait_ms", 0) / 1000
    rows = [
        (
            "Ingest: accepted POST/s (ratio to bare Flask endpoint)",
            f"{i['api']['per_s']:.0f} / {i['bare']['per_s']:.0f} = **{i['ratio']:.2f}x**",
            ">= 0.5x",
            ok(i["ratio"] >= 0.5),
        ),
        *durable_rows(i),
        (
            "Ingest: p50 / p99 latency at that rate",
            f"{i['api']['p50_ms']:.1f} / {i['api']['p99_ms']:.1f} ms "
            f"(bare {i['bare']['p50_ms']:.1f} / {i['bare']['p99_ms']:.1f})",
            "p99 < 50 ms",
            ok(i["api"]["p99_ms"] < 50),
        ),
        *scoring_rows(BERT_BASE_LABEL, m, p, naive_target=1.7),
    ]
    if shipped:
        label, sm, sp = shipped_label(shipped), shipped["model"], shipped["pipeline"]
        statuses = sp["statuses"]
        rows += [
            *scoring_rows(label, sm, sp, naive_target=None),
            (
                f"Decisions ({label}): approved / held / rejected",
                f"{statuses['approved']} / {statuses['held']} / {statuses['rejected']} "
                f"of {sp['comments']} ({sp['comments'] - sp['scored']} decided without the "
                "model: not English, or spam)",
                "",
                "",
            ),
        ]
    rows += [
        (
            f"End to end at half capacity ({BERT_BASE_LABEL}): p50 / p99 submit to decision",
            f"{e['p50_s']:.2f} / {e['p99_s']:.2f} s at {e['rate_per_s']:.1f}/s",
            f"p99 < {e2e_target:.1f} s",
            ok(e["p99_s"] < e2e_target),
        ),
        *webhook_rows(r.get("webhooks"), shipped),
        (
            f"Moderation queue on {q['comments']:,} comments: p50 / p99",
            f"{q['p50_ms']:.1f} / {q['p99_ms']:.1f} ms",
            "p99 < 50 ms",
            ok(q["p99_ms"] < 50),
        ),
        *console_rows(q),
        (
            "API worker peak memory (imports torch?)",
            f"{i['api_worker_peak_mb']:.0f} MB ({'yes' if i['api_imports_torch'] else 'no'})",
            "< 150 MB",
            ok(i["api_worker_peak_mb"] < 150 and not i["api_imports_torch"]),
        ),
        memory_row(BERT_BASE_LABEL, p),
    ]
    if shipped:
        rows.append(memory_row(shipped_label(shipped), shipped["pipeline"]))
    rows.append(
        (
            f"Toxicity worker cold start, launch to first decision ({BERT_BASE_LABEL})",
            f"{p['cold_start_s']:.1f} s",
            "",
            "",
        )
    )
    if shipped:
        sp = shipped["pipeline"]

        def load(key: str) -> str:
            seconds = sp.get(key)
            return f" (model loaded in {seconds:.1f} s)" if seconds is not None else ""

        rows += [
            (
                f"Toxicity worker cold start ({shipped_label(shipped)}): after `make run` "
                "(model assembled beforehand by `prepare-model`)",
                f"{sp['cold_start_prepared_s']:.1f} s{load('cold_start_prepared_model_load_s')}",
                "< 10 s",
                ok(sp["cold_start_prepared_s"] < 10),
            ),
            (
                f"Toxicity worker cold start ({shipped_label(shipped)}): empty models folder "
                "(the worker assembles the model first)",
                f"{sp['cold_start_s']:.1f} s{load('cold_start_model_load_s')}",
                "< 10 s",
                ok(sp["cold_start_s"] < 10),
            ),
        ]
    rows.append(int8_row(BERT_BASE_LABEL, m))
    if shipped:
        rows.append(int8_row(shipped_label(shipped), shipped["model"]))
    rows += analyze_rows(r.get("analyze"), shipped)
    lines = ["| measure | result | target | met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, about 3 minutes")
    parser.add_argument(
        "--only",
        choices=["model", "ingest", "pipeline", "webhooks", "analyze", "queue"],
        help="run one section and print it (webhooks: at 2 comments/s; analyze measures the "
        "shipped model alone first, for its limit)",
    )
    parser.add_argument(
        "--model",
        choices=[*MODELS, "both"],
        default="both",
        help="with --only model or --only pipeline: which model (default both)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a MODERATION_ setting for the stack under test, e.g. TOXICITY_THREADS=1",
    )
    args = parser.parse_args(argv)
    overrides = {f"MODERATION_{k.upper()}": v for k, v in (s.split("=", 1) for s in args.set)}
    plan = QUICK if args.quick else FULL
    started = time.time()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        Bench(plan, Path(tmp), overrides) as bench,
    ):
        if args.only:
            models = MODELS if args.model == "both" else (args.model,)
            if args.only == "ingest":
                out: dict[str, Any] = bench.ingest()
            elif args.only == "webhooks":
                out = bench.webhooks(rate=WEBHOOKS_ONLY_RATE)
            elif args.only == "queue":
                out = bench.queue()
            elif args.only == "analyze":
                limit = bench.model_speed("shipped")["naive_per_s"]
                out = bench.analyze(limit)
                print(json.dumps(out, indent=2, default=str))
                print(
                    "\n".join(
                        f"| {a} | {b} | {c} | {d} |" for a, b, c, d in analyze_rows(out, None)
                    )
                )
                return 0
            elif args.only == "model":
                out = {name: bench.model_speed(name) for name in models}
            else:
                out = {name: bench.pipeline(name) for name in models}
            print(json.dumps(out, indent=2, default=str))
            return 0
        model = bench.model_speed("bert-base")
        shipped_model = bench.model_speed("shipped")
        ingest = bench.ingest()
        pipeline = bench.pipeline("bert-base")
        shipped_pipeline = bench.pipeline("shipped")
        e2e = bench.end_to_end(rate=pipeline["per_s"] / 2)
        webhooks = bench.webhooks(rate=shipped_pipeline["per_s"] / 2)
        queue = bench.queue()
        analyze = bench.analyze(shipped_model["naive_per_s"])
        shipped_name = bench.shipped_name
    results = {
        "plan": asdict(plan),
        "overrides": overrides,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        # "model", "pipeline" and "e2e": the bert-base shape with random weights
        "model": model,
        "ingest": ingest,
        "pipeline": pipeline,
        "e2e": e2e,
        "webhooks": webhooks,
        "queue": queue,
        # comments:analyze with the shipped model, against its one-text-at-a-time speed
        "analyze": analyze,
        # the model we ship (the default TOXICITY_MODEL), real weights
        "shipped": {"name": shipped_name, "model": shipped_model, "pipeline": shipped_pipeline},
    }
    results["table"] = table(results)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started))
    for name in (f"{plan.name}-{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(results, indent=2, default=str))
    print(results["table"])
    print(f"\n{plan.name} run, {results['seconds']} s; results in bench/results/latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
