"""Running the real stack as subprocesses for integration tests.

A private redis-server, a PostgreSQL database of the test's own, and real gunicorn,
Celery worker, beat and Flower processes started from the repository's own commands,
configured only through MODERATION_* variables, as an operator would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

from tests.helpers import PrivateRedis, free_port, wait_for
from workers.toxicity.checkpoint import build_checkpoint

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Process:
    """A service process with its output in a log file, stopped with its whole group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, needle: str, timeout: float = 60.0) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.output()[-4000:]}")
            return needle in self.output()

        try:
            wait_for(seen, timeout, what=f"{self.name} to print {needle!r}")
        except AssertionError:
            print(self.output()[-4000:])
            raise

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process and all its children (a prefork pool)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill()
        self._log.close()


class Stack:
    """The processes of one integration test module, sharing a database and a Redis."""

    def __init__(self, database_url: str, redis: PrivateRedis, log_dir: Path, **env: str) -> None:
        self.database_url = database_url
        self.redis = redis
        self.log_dir = log_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")},
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "MODERATION_DATABASE_URL": database_url,
            "MODERATION_REDIS_URL": redis.url,
            "MODERATION_LOG_FORMAT": "text",
            "MODERATION_DATA_DIR": str(log_dir),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.processes: list[Process] = []
        self._counter = 0

    def start(self, name: str, argv: list[str], **env: str) -> Process:
        self._counter += 1
        process = Process(f"{name}-{self._counter}", argv, {**self.env, **env}, self.log_dir)
        self.processes.append(process)
        return process

    def worker(self, queue: str, *, concurrency: int = 1, prefetch: int = 1, **env: str) -> Process:
        node = f"{queue}-{self._counter + 1}@%h"
        process = self.start(
            f"worker-{queue}",
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "worker",
                "-Q",
                queue,
                "-n",
                node,
                f"--concurrency={concurrency}",
                f"--prefetch-multiplier={prefetch}",
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
            ],
            **env,
        )
        process.wait_for_output("ready.", timeout=90)
        return process

    def api(self) -> tuple[Process, str]:
        port = free_port()
        process = self.start(
            "api",
            [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "service:create_app()"],
            MODERATION_API_PORT=str(port),
            WEB_CONCURRENCY="2",
        )
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url + "/healthz"), 60, what="the API")
        return process, url

    def beat(self) -> Process:
        return self.start(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "beat",
                "--loglevel=INFO",
                f"--schedule={self.log_dir / 'beat-schedule'}",
            ],
        )

    def flower(self, auth: str) -> tuple[Process, str]:
        port = free_port()
        process = self.start(
            "flower",
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "flower",
                f"--port={port}",
                "--address=127.0.0.1",
            ],
            FLOWER_BASIC_AUTH=auth,
        )
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url + "/healthcheck"), 60, what="Flower")
        return process, url

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def poll_until(
    fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float, what: str
) -> Any:
    """Call ``fetch`` until ``done(result)``; return the last result."""
    result: list[Any] = []

    def check() -> bool:
        result[:] = [fetch()]
        return done(result[0])

    wait_for(check, timeout, interval=0.2, what=what)
    return result[0]


@contextlib.contextmanager
def slow_model_stack(database_url: str, tmp: Any, name: str, **env: str) -> Iterator[Stack]:
    """A stack on a redis-server of its own, stopped on exit, whose toxicity model (the
    "small" checkpoint, built under ``tmp``, a pytest TempPathFactory) takes about a
    second per batch of 64, so a batch can be interrupted. Starts no process."""
    small = build_checkpoint(tmp.mktemp(f"{name}-small"), "small")
    redis_server = PrivateRedis().start()
    stack = Stack(
        database_url,
        redis_server,
        tmp.mktemp(f"{name}-logs"),
        MODERATION_TOXICITY_BATCH_SIZE="64",
        MODERATION_TOXICITY_MODEL="original",
        **small.env(),
        **env,
    )
    try:
        yield stack
    finally:
        stack.stop()
        redis_server.stop()
