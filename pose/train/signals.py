"""A SIGTERM that Lightning caught still stops the process that trains.

Lightning's Trainer replaces the SIGTERM handler while it runs. When the handler it replaced is the
default one, its own only records the signal (and the fit loop then raises ``SIGTERMException``, a
``SystemExit`` with exit code 0), so a caller that catches ``SystemExit``, as pytest does, carries
on as if the process had never been asked to stop; during validation the signal is dropped.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L


@contextmanager
def sigterm_reaches_the_process(trainer: L.Trainer) -> Iterator[None]:
    """Run a Trainer call; if it caught a SIGTERM meant for the default handler, raise it again
    once Lightning has put that handler back, which ends the process as the sender meant."""
    try:
        yield
    finally:
        # a Python handler the caller installed was already called by Lightning's own
        if trainer.received_sigterm and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            sys.stdout.flush()  # the default action ends the process at once: logs first
            sys.stderr.flush()
            signal.raise_signal(signal.SIGTERM)
