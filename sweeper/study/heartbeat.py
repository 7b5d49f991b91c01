"""A worker's heartbeats for its running trials, sent from a thread of their own.

Why a thread: the sweep loop also asks for trials, fails other workers' stale ones and, for
those, ends their MLflow runs, which waits out an unreachable tracking server. Heartbeats sent
from that loop stop whenever it waits, and other workers then fail this worker's live trials
as dead ones (Optuna's own ``optimize`` sends them from a thread for the same reason).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from optuna.storages import RDBStorage

_log = logging.getLogger(__name__)


class Heartbeat:
    """Record a heartbeat every ``interval`` seconds for each trial id in the set, until closed."""

    def __init__(self, storage: RDBStorage, interval: float) -> None:
        self._storage = storage
        self._interval = interval
        self._trial_ids: set[int] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def add(self, trial_id: int) -> None:
        """Start beating for a trial, with one heartbeat now: a trial without any is never stale."""
        self._storage.record_heartbeat(trial_id)
        with self._lock:
            self._trial_ids.add(trial_id)

    def discard(self, trial_id: int) -> None:
        with self._lock:
            self._trial_ids.discard(trial_id)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed.set()
        # a beat stuck on a dead connection must not hold the sweep's exit (the thread is a daemon)
        self._thread.join(timeout=max(10.0, 3 * self._interval))

    def _beat(self) -> None:
        while not self._closed.wait(self._interval):
            with self._lock:
                trial_ids = sorted(self._trial_ids)
            for trial_id in trial_ids:
                try:
                    self._storage.record_heartbeat(trial_id)
                except Exception as err:  # noqa: BLE001 - an unreachable storage: beat again later
                    _log.warning("heartbeat for trial id %d not recorded: %s", trial_id, err)
