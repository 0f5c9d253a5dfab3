"""Where a POST's time goes: ``python -m bench.profile_ingest [SECONDS [STATS_FILE]]``.

Against a PostgreSQL database and a redis-server of its own, each app under one gunicorn
worker (the API's gunicorn config) driven by the ingest benchmark's ``wrk`` script
(2 connections), it prints Markdown for bench/ingest-profile.md:

1. CPU milliseconds per request of the gunicorn worker, the PostgreSQL backends and
   redis-server, for the API and for the minimal durable endpoint (bench/durable_app.py),
   unprofiled. On the benchmark's 2 cores every process is CPU-bound, so this is the cost.
2. CPU milliseconds per request inside each layer of the API's POST, from timers wrapped
   around a few functions (inclusive; nested rows are part of the row above). A dozen
   timers cost microseconds, so these are close to the unprofiled figures.
3. cProfile's top functions (CPU time). cProfile slows call-heavy code several fold,
   so read it for *what* is called, and the layer table for how much it costs.

``STATS_FILE`` keeps cProfile's raw stats for ``pstats``.
"""

from __future__ import annotations

import atexit
import cProfile
import functools
import importlib
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from bench.__main__ import children
from tests.helpers import PrivateRedis, free_port, migrated_pg_database, wait_for
from tests.stack import BIN, ROOT, Stack

#: the layers of a POST: (label, module, attribute path); indented rows are inside the
#: row above them
LAYERS: tuple[tuple[str, str, str], ...] = (
    ("whole request in Flask (`Flask.wsgi_app`)", "flask.app", "Flask.wsgi_app"),
    ("  before_request hooks (request id, JSON check)", "flask.app", "Flask.preprocess_request"),
    ("  body parsing and validation (webargs)", "webargs.core", "Parser.parse"),
    ("    building the input schema (`Schema.__init__`)", "marshmallow.schema", "Schema.__init__"),
    ("    marshmallow `Schema.load`", "marshmallow.schema", "Schema.load"),
    ("      text normalisation (body)", "service.schemas", "normalize_text"),
    ("      text normalisation (name)", "service.schemas", "normalize_line"),
    ("  view: `submit_comment` (until the commit)", "service.comments.services", "submit_comment"),
    (
        "    article lookup (a SELECT)",
        "service.comments.services",
        "get_or_create_article",
    ),
    ("      connection checkout (pool, pre-ping)", "sqlalchemy.pool.base", "Pool.connect"),
    ("  `Session.commit`", "sqlalchemy.orm.session", "Session.commit"),
    ("    ORM flush (the INSERT)", "sqlalchemy.orm.session", "Session.flush"),
    ("    after commit: `Dispatcher.send`", "service.dispatch", "Dispatcher.send"),
    ("      `Celery.send_task`", "celery.app.base", "Celery.send_task"),
    ("        kombu `Producer.publish` (the task)", "kombu.messaging", "Producer.publish"),
    ("        task-sent event", "celery.events.dispatcher", "EventDispatcher.publish"),
    ("      dispatch mark (`Dispatcher.mark`)", "service.dispatch", "Dispatcher.mark"),
    ("  marshmallow `Schema.dump` (the reply)", "marshmallow.schema", "Schema.dump"),
    ("  after_request hooks (access log, request id)", "flask.app", "Flask.process_response"),
    ("    logging (`Logger.handle`)", "logging", "Logger.handle"),
    ("  teardown (session close, contexts)", "flask.ctx", "RequestContext.pop"),
)


def _time_layers(totals: dict[str, list[float]]) -> None:
    """Wrap each layer's function with a CPU timer adding into ``totals[label]``."""
    for label, module_name, path in LAYERS:
        owner: Any = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        original = getattr(owner, name)
        totals[label] = [0.0, 0]
        setattr(owner, name, _timed(original, totals[label]))


def _timed(original: Callable[..., Any], total: list[float]) -> Callable[..., Any]:
    depth = [0]  # count a recursive call once

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if depth[0]:
            return original(*args, **kwargs)
        depth[0] += 1
        started = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            total[0] += time.process_time() - started
            total[1] += 1
            depth[0] -= 1

    return timed


def profiled_app() -> Callable[..., Iterable[bytes]]:
    """The API with layer timers (``PROFILE_INGEST_MODE=layers``) or under cProfile.

    Either writes its figures to ``$PROFILE_INGEST_OUT`` when the worker exits.
    """
    out = os.environ["PROFILE_INGEST_OUT"]
    if os.environ.get("PROFILE_INGEST_MODE") == "layers":
        totals: dict[str, list[float]] = {}
        _time_layers(totals)  # before the app exists: views bind some names at import
        from service import create_app

        atexit.register(lambda: Path(out).write_text(json.dumps(totals)))
        return create_app()

    from service import create_app

    app = create_app()
    # CPU time, not wall time: waits on PostgreSQL and Redis are not this process's cost
    profiler = cProfile.Profile(time.process_time)
    atexit.register(lambda: profiler.dump_stats(out))

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        profiler.enable()
        try:
            return list(app(environ, start_response))
        finally:
            profiler.disable()

    return wsgi


# --- measuring -------------------------------------------------------------------------
def _cpu_s(pids: Iterable[int]) -> float:
    """User plus system CPU seconds of ``pids`` so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _wrk(url: str, seconds: int) -> dict[str, Any]:
    script = str(ROOT / "bench" / "post.lua")
    out = subprocess.run(
        ["wrk", "-t1", "-c2", f"-d{seconds}s", "--latency", "-s", script, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.split("JSON ", 1)[1].splitlines()[0])


def _answers(url: str) -> bool:
    try:
        requests.get(url + "/healthz", timeout=2)
        return True
    except requests.RequestException:
        return False


class Session:
    """One database, one redis-server and the gunicorn apps run against them."""

    def __init__(self, stack: Stack, db_url: str, redis: PrivateRedis) -> None:
        self.stack, self.db_url, self.redis = stack, db_url, redis

    def serve(self, name: str, app: str, **env: str) -> tuple[Any, str]:
        port = free_port()
        master = self.stack.start(
            name,
            [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", app],
            MODERATION_API_PORT=str(port),
            WEB_CONCURRENCY="1",
            **env,
        )
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url), 60, what=name)
        _wrk(url, 2)  # warm up: connections open, statements cached
        return master, url

    def cpu_per_request(self, name: str, app: str, seconds: int) -> dict[str, Any]:
        """``app`` unprofiled: its rate and CPU ms per request by process."""
        master, url = self.serve(name, app)
        (worker,) = children(master.proc.pid)
        engine = sa.create_engine(self.db_url, poolclass=sa.NullPool)
        with engine.connect() as conn:
            backends = (
                conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                .scalars()
                .all()
            )
        engine.dispose()
        assert self.redis.proc is not None
        groups = {
            "gunicorn worker": [worker],
            "PostgreSQL backends": backends,
            "redis-server": [self.redis.proc.pid],
        }
        before = {k: _cpu_s(v) for k, v in groups.items()}
        raw = _wrk(url, seconds)
        after = {k: _cpu_s(v) for k, v in groups.items()}
        master.stop()
        count = raw["requests"]
        return {
            "per_s": round(count / (raw["duration_us"] / 1e6), 1),
            "cpu_ms": {k: (after[k] - before[k]) / count * 1000 for k in groups},
        }

    def profiled(self, mode: str, out: Path, seconds: int) -> None:
        master, url = self.serve(
            f"profiled-{mode}",
            "bench.profile_ingest:profiled_app()",
            PROFILE_INGEST_OUT=str(out),
            PROFILE_INGEST_MODE=mode,
        )
        _wrk(url, seconds)
        master.stop()  # the worker writes its figures as it exits
        wait_for(out.exists, 30, what="the profile")


# --- reporting -------------------------------------------------------------------------
def cpu_table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    processes = list(results[names[0]]["cpu_ms"])
    lines = [
        "| CPU ms per request | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for process in processes:
        cells = [f"{results[n]['cpu_ms'][process]:.2f}" for n in names]
        lines.append(f"| {process} | " + " | ".join(cells) + " |")
    totals = [f"**{sum(results[n]['cpu_ms'].values()):.2f}**" for n in names]
    lines.append("| **all three** | " + " | ".join(totals) + " |")
    rates = [f"{results[n]['per_s']:.0f}" for n in names]
    lines.append("| requests/s (1 worker, 2 connections) | " + " | ".join(rates) + " |")
    return "\n".join(lines)


def layer_table(totals: dict[str, list[float]]) -> str:
    whole_s, requests = totals[LAYERS[0][0]]
    lines = ["| layer (inclusive) | CPU ms / request | share | calls / request |"]
    lines.append("|---|---:|---:|---:|")
    for label, _module, _path in LAYERS:
        seconds, calls = totals[label]
        indent = "&nbsp;" * 2 * (len(label) - len(label.lstrip()))
        lines.append(
            f"| {indent}{label.strip()} | {seconds / requests * 1000:.3f} | "
            f"{seconds / whole_s:.0%} | {calls / requests:.1f} |"
        )
    return f"{requests:.0f} requests\n\n" + "\n".join(lines)


def top_functions(stats_path: Path, top: int = 25) -> str:
    stats = pstats.Stats(str(stats_path))
    rows = list(stats.stats.items())  # type: ignore[attr-defined]
    requests = max(nc for (f, _l, name), (_cc, nc, *_r) in rows if name == "wsgi_app")
    lines = [f"cProfile (CPU time), {requests} requests, ms per request:", ""]
    for title, column in (("cumulative", 3), ("own time", 2)):
        lines += [f"By {title}:", "", "```"]
        rows.sort(key=lambda item: item[1][column], reverse=True)
        for (filename, line, func), stat in rows[:top]:
            short = "/".join(Path(filename).parts[-3:])
            calls = stat[1] / requests
            lines.append(
                f"{stat[column] / requests * 1000:7.3f}  {calls:6.1f} calls  {short}:{line} {func}"
            )
        lines += ["```", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    seconds = int(argv[0]) if argv else 15
    with (
        tempfile.TemporaryDirectory(prefix="profile-ingest-") as tmp,
        migrated_pg_database("moderation_profile") as db_url,
    ):
        redis = PrivateRedis().start()
        stack = Stack(db_url, redis, Path(tmp), MODERATION_SWEEPER_INTERVAL_S="3600")
        session = Session(stack, db_url, redis)
        layers, stats = Path(tmp) / "layers.json", Path(tmp) / "api.prof"
        try:
            cpu = {
                name: session.cpu_per_request(name, app, seconds)
                for name, app in (
                    ("API", "service:create_app()"),
                    ("durable", "bench.durable_app:create_app()"),
                )
            }
            session.profiled("layers", layers, seconds)
            session.profiled("cprofile", stats, seconds)
        finally:
            stack.stop()
            redis.stop()
        if len(argv) > 1:
            shutil.copy(stats, argv[1])
        print(cpu_table(cpu), "", layer_table(json.loads(layers.read_text())), "", sep="\n")
        print(top_functions(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
