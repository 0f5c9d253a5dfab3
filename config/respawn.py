"""Keep one process running: restart it when it dies, stop it when asked.

``make run`` starts the stack with honcho, which stops every process as soon as one
exits: one crashed worker took the API down with it. Each Procfile line therefore runs
its command under :func:`keep_alive` (``python -m config.respawn <command>``), a restart
loop with backoff in the spirit of supervisord's ``autorestart``, small enough to read
here. In docker-compose the Docker daemon does this job (``restart: unless-stopped``).
It lives in ``config`` and imports only the standard library: six of these wait beside
the stack, and importing the service would cost each of them ~100 MB.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

log = logging.getLogger(__name__)

#: a process that ran this long before dying counts as healthy: its next restart is quick
STEADY_AFTER_S = 30.0
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0


def keep_alive(argv: Sequence[str], name: str | None = None) -> int:
    """Run ``argv`` and restart it whenever it exits, until SIGTERM/SIGINT; its last code.

    A signal is passed on to the running command and ends the loop once the command
    exits. Restarts back off (1 s, doubling to 30 s) while the command keeps dying
    quickly, so a command that cannot start does not spin.
    """
    name = name or argv[0]
    stopping = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    backoff = FIRST_BACKOFF_S
    while True:
        started = time.monotonic()
        # its own process group, so whatever it leaves behind can be stopped with it
        child = subprocess.Popen(list(argv), start_new_session=True)
        code = child.wait()
        _kill_leftovers(child.pid)
        if stopping.is_set():
            return code
        if time.monotonic() - started >= STEADY_AFTER_S:
            backoff = FIRST_BACKOFF_S
        log.error("%s exited with %s; restarting it in %.0f s", name, _describe(code), backoff)
        if stopping.wait(backoff):
            return code
        backoff = min(backoff * 2, MAX_BACKOFF_S)


def _kill_leftovers(pgid: int) -> None:
    """SIGKILL what the dead command left in its process group (a prefork pool's children).

    Orphaned Celery pool children hold the dead worker's broker connection open, and
    Redis keeps handing the next message to that connection's pending BRPOP, which
    nobody will read: the message would be lost until the sweeper finds its comment.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _describe(code: int) -> str:
    if code < 0:
        return signal.Signals(-code).name
    return f"code {code}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m config.respawn [--] COMMAND [ARG...]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="respawn: %(message)s")
    code = keep_alive(args)
    # a command ended by a signal: the shell's convention, 128 + the signal's number
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    raise SystemExit(main())
