"""``sweeper run --workers K``: K local worker processes that join one study.

Each worker is an ordinary ``sweeper run`` with the same arguments (so it is exactly what a user
would start by hand on another machine), its output in its own log file. With GPUs, worker ``i``
gets GPU ``i mod G``; on CPU the cores are split between the workers. The launcher only watches:
it forwards Ctrl-C and SIGTERM (a cluster's preemption) to the workers and waits for them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper.errors import SweepError


@dataclass
class Worker:
    index: int
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None


# the workers read these instead of --storage/--tracking-uri: a password in a URL stays out of
# their command lines, which any user of the machine can list (ps)
STORAGE_ENV = "SWEEPER_STORAGE"
TRACKING_ENV = "SWEEPER_TRACKING_URI"


def split_option(argv: Sequence[str], name: str) -> tuple[list[str], str | None]:
    """``argv`` without ``name VALUE`` / ``name=VALUE``, and the (last) value it had."""
    out: list[str] = []
    value: str | None = None
    args = iter(argv)
    for arg in args:
        if arg == name:
            value = next(args, None)
        elif arg.startswith(f"{name}="):
            value = arg.removeprefix(f"{name}=")
        else:
            out.append(arg)
    return out, value


def without_option(argv: Sequence[str], name: str) -> list[str]:
    """``argv`` without ``name VALUE`` / ``name=VALUE`` (the workers must not launch workers)."""
    return split_option(argv, name)[0]


def plan_workers(argv: Sequence[str], count: int, gpus: list[int], log_dir: Path) -> list[Worker]:
    """The command, environment and log file of each worker; ``argv`` is ``sweeper``'s own."""
    if count < 1:
        raise SweepError(f"--workers: expected at least 1 worker process, got {count}")
    if not argv or argv[0] != "run":
        raise SweepError("--workers: start it as `sweeper run ... --workers K` from a shell")
    args = without_option(without_option(argv, "--workers"), "--gpus")
    shared_env: dict[str, str] = {}
    for name, variable in (("--storage", STORAGE_ENV), ("--tracking-uri", TRACKING_ENV)):
        args, value = split_option(args, name)
        if value is not None:
            shared_env[variable] = value
    base = [sys.executable, "-m", "sweeper", *args]
    threads = max(1, (os.cpu_count() or 1) // count)
    workers = []
    for i in range(count):
        env = {**os.environ, **shared_env}
        if gpus:
            command = [*base, "--gpus", str(gpus[i % len(gpus)])]
        else:
            command = [*base, "--gpus", ""]
            env["OMP_NUM_THREADS"] = str(threads)  # the workers share the cores
        workers.append(Worker(i, command, env, log_dir / f"worker-{i}.log"))
    return workers


def run_workers(
    workers: list[Worker], on_tick: Callable[[], None] | None = None, poll_seconds: float = 2.0
) -> list[int]:
    """Start ``workers``, wait for all of them, and return their exit codes (128 + N for a worker
    ended by signal N; 130: interrupted).

    The workers get their own session, so a terminal's Ctrl-C reaches only this launcher, which
    sends each worker one SIGINT (a second one would cut short a worker marking its trials).
    """

    def forward(signum: int, frame: Any = None) -> None:
        for worker in workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)  # before any worker starts: none orphaned
    try:
        for worker in workers:
            worker.log.parent.mkdir(parents=True, exist_ok=True)
            with worker.log.open("ab") as out:
                worker.process = subprocess.Popen(
                    worker.command,
                    env=worker.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        interrupted = False
        while any(w.process is not None and w.process.poll() is None for w in workers):
            try:
                if on_tick:
                    with contextlib.suppress(Exception):  # progress is best effort
                        on_tick()
                time.sleep(poll_seconds)
            except KeyboardInterrupt:
                if not interrupted:
                    forward(signal.SIGINT)
                interrupted = True
    finally:
        signal.signal(signal.SIGTERM, previous)
    codes = [w.process.wait() if w.process is not None else 1 for w in workers]
    return [128 - code if code < 0 else code for code in codes]


def last_line(log: Path) -> str:
    """The last non-empty line of a worker's log (its error, when it failed)."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""
