"""A dead process does not stop `make run`: each Procfile process restarts on its own.

honcho stops every process when one exits, so each Procfile line runs its command under
``config.respawn``. First the restart loop alone, then the real Procfile under honcho,
as `make run` starts it: SIGKILL the default worker's main process and the API keeps
answering, the worker comes back, and a comment posted afterwards is decided. Posted
within milliseconds of the kill, that comment's message may go to the dying worker's
pending BRPOP (its socket closes only once the kernel has torn the process down); the
sweeper then re-sends it at its first sweep past the grace period (60 s
by the defaults, well inside the 120 s allowed); see
``test_a_message_a_dead_consumer_swallowed_is_sent_again_at_the_next_sweep``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from service.migrate import upgrade
from tests.helpers import PrivateRedis, free_port, wait_for
from tests.stack import BIN, ROOT, Process, Stack, poll_until


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (from /proc; no extra dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # the command name may hold spaces; the fields after its ")" do not
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    return "zombie" not in (Path("/proc") / str(pid) / "status").read_text().lower()


def test_the_restart_loop_restarts_a_killed_command_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    script = (
        f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(60)"
    )
    loop = subprocess.Popen(
        [sys.executable, "-m", "config.respawn", sys.executable, "-c", script], cwd=ROOT
    )
    try:
        wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 1, 20, what="start")
        first = int(pids.read_text().split()[0])
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: len(pids.read_text().split()) == 2, 20, what="a restart")
        second = int(pids.read_text().split()[1])
        assert second != first and alive(second)
        loop.send_signal(signal.SIGTERM)
        # the command gets the signal, and the loop ends with it instead of restarting it
        assert loop.wait(timeout=20) == 128 + signal.SIGTERM
        wait_for(lambda: not alive(second), 10, what="the command to stop")
        time.sleep(1.5)
        assert len(pids.read_text().split()) == 2
    finally:
        loop.kill()


def test_a_command_that_keeps_failing_backs_off(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    script = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"
    loop = subprocess.Popen(
        [sys.executable, "-m", "config.respawn", sys.executable, "-c", script], cwd=ROOT
    )
    try:
        time.sleep(5)
        # 1 + 2 s of backoff between the first three starts: not hundreds of starts
        assert 2 <= len(starts.read_text()) <= 4
    finally:
        loop.send_signal(signal.SIGTERM)
        loop.wait(timeout=20)


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[Process, str]]:
    """The Procfile under honcho, as `make run` starts it, on private ports and stores."""
    database_url = f"sqlite:///{tmp_path}/moderation.sqlite3"
    upgrade(database_url)
    redis_server = PrivateRedis().start()
    (tmp_path / "logs").mkdir()
    stack = Stack(database_url, redis_server, tmp_path / "logs")
    port = free_port()
    honcho = stack.start(
        "honcho",
        [str(BIN / "honcho"), "start", "-f", "Procfile", "--no-colour"],
        MODERATION_API_PORT=str(port),
        MODERATION_FLOWER_PORT=str(free_port()),
        MODERATION_FLOWER_BASIC_AUTH="admin:test",
        MODERATION_DEFAULT_CONCURRENCY="1",
        MODERATION_MODELS_DIR=str(tmp_path / "models"),
        WEB_CONCURRENCY="1",
    )
    try:
        yield honcho, f"http://127.0.0.1:{port}"
    finally:
        stack.stop()
        redis_server.stop()


def post(url: str, text: str) -> str:
    response = requests.post(
        f"{url}/v1/articles/respawn/comments",
        json={"author_id": "reader-1", "author_name": "Reader", "body": text},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def decided(url: str, location: str) -> bool:
    return requests.get(url + location, timeout=10).json()["status"] != "pending"


@pytest.mark.integration
def test_make_run_survives_the_default_worker_being_killed(
    make_run: tuple[Process, str],
) -> None:
    honcho, url = make_run
    honcho.wait_for_output("default@", timeout=90)
    honcho.wait_for_output("toxicity@", timeout=90)
    wait_for(lambda: requests.get(url + "/healthz", timeout=2).ok, 60, what="the API")
    first = post(url, "The council should publish the budget before the vote.")
    poll_until(lambda: decided(url, first), bool, 120, "the first comment decided")

    # the worker's main process: the one whose parent is the restart loop
    [worker] = [
        pid
        for loop in descendants(honcho.proc.pid)
        if " -m config.respawn " in cmdline(loop)
        for pid in children(loop)
        if "-Q default" in cmdline(pid) and "config.respawn" not in cmdline(pid)
    ]
    ready_before = honcho.output().count("default@")
    os.kill(worker, signal.SIGKILL)

    # the stack keeps serving, and the worker comes back under the same loop
    assert requests.get(url + "/healthz", timeout=5).ok
    second = post(url, "Thanks for the clear reporting on the budget.")
    wait_for(lambda: honcho.output().count("default@") > ready_before, 60, what="a restart")
    poll_until(lambda: decided(url, second), bool, 120, "the second comment decided")
    assert honcho.proc.poll() is None, honcho.output()[-3000:]
    assert "restarting it in" in honcho.output()
