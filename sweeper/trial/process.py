"""Start trial processes from a fork server that has already imported the engine.

Python's ``forkserver`` start method does the job: the server process imports torch, Lightning and
the engine once per sweep (``set_forkserver_preload``), then forks a fresh single-threaded child per
trial. Each child is a separate process (a crash ends that trial only) that starts without paying
the imports again.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
from collections.abc import Iterator
from multiprocessing.context import ForkServerContext
from typing import TYPE_CHECKING, Any

from sweeper.trial.wait_engine import wait_seconds

if TYPE_CHECKING:
    from sweeper.trial.request import TrialRequest

# the engine: the server imports it at warm_up(); this process not before it needs it, meanwhile
_PRELOAD = ["sweeper.trial.worker"]


@functools.cache
def _context() -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    # the platform benchmark's engine needs no torch (bench/scaling.py: many workers, one machine)
    ctx.set_forkserver_preload(
        ["sweeper.trial.wait_engine"] if wait_seconds() is not None else _PRELOAD
    )
    return ctx


def warm_up() -> None:
    """Start the fork server now; it imports the engine in the background while the sweep sets up."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def _noop() -> None:
    """Target of the readiness probe."""


def wait_until_ready() -> None:
    """Block until the fork server has imported the engine (a no-op child returns only then).

    Called before the first trial, so that one-off wait is sweep setup, not the first trial's cost.
    """
    probe = _context().Process(target=_noop, name="fork-server-probe")
    probe.start()
    probe.join()
    probe.close()


class TrialProcess:
    """One running trial: its messages, a way to answer prune questions, and a way to stop it."""

    def __init__(self, request: TrialRequest) -> None:
        if wait_seconds() is not None:
            from sweeper.trial.wait_engine import run_wait_trial as run_trial
        else:
            from sweeper.trial.worker import run_trial  # torch and Lightning: see _PRELOAD

        ctx = _context()
        self.conn, child_conn = ctx.Pipe()
        alive_reader, self._alive_writer = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=run_trial,
            args=(request, child_conn, alive_reader),
            name=f"trial:{request.output_dir.name}",
        )
        self.process.start()
        child_conn.close()
        alive_reader.close()

    def messages(self, poll_seconds: float = 0.5) -> Iterator[dict[str, Any] | None]:
        """Messages from the child; ``None`` every ``poll_seconds`` of silence; ends on EOF."""
        while True:
            try:
                if not self.conn.poll(poll_seconds):
                    if not self.process.is_alive() and not self.conn.poll(0):
                        return
                    yield None
                    continue
                yield self.conn.recv()
            except (EOFError, OSError):
                return

    def reply(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):  # a dead child's exit code says why
            self.conn.send(message)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the child (SIGTERM, then SIGKILL) and wait for it."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()

    def exit_code(self, timeout: float = 30.0) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode

    def close(self) -> None:
        self.conn.close()
        self._alive_writer.close()
        self.process.close()
