"""What every trial child does first, whatever it runs: die with its sweep, write to its log."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path


def exit_when_parent_dies(alive: Connection) -> None:
    """The parent holds the only writer of ``alive``; EOF means it died, so stop training now."""

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            alive.recv()
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


def redirect_output(log_file: Path) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
