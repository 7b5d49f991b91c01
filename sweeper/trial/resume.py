"""A retried trial resumes from the last checkpoint its dead worker logged.

With ``training.ckpt_every_n_epochs`` set, each periodic checkpoint (full training state, see
:mod:`pose.train.resume`) goes to the trial's MLflow run under ``checkpoints/`` as soon as the
trial has moved past it, while the trial trains. When a worker dies, Optuna's heartbeat fails its
trial and queues the params again; the retry finds the newest such checkpoint among the runs of
the trials it retries (the one the run's ``sweeper.last_checkpoint`` tag names once its upload
is whole), trains only the epochs after it, and carries the earlier epochs' metrics
into its own run and its Optuna trial, so curves and pruning see the whole run.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import optuna

from sweeper.study.storage import scrub
from sweeper.study.study import ATTR_RUN_ID
from sweeper.tracking.mlflow_runs import TAG_RESUMED_FROM, Tracker

_log = logging.getLogger(__name__)
_EPOCH_FILE = re.compile(r"epoch=(\d+)\.ckpt")


def checkpoint_epoch(name: str) -> int | None:
    """The epoch of a periodic checkpoint's file name (``epoch=N.ckpt``), else None."""
    match = _EPOCH_FILE.fullmatch(Path(name).name)
    return int(match.group(1)) if match else None


@dataclass
class ResumePoint:
    """The checkpoint a retried trial goes on from."""

    trial_number: int  # the dead trial whose run logged it
    run_id: str
    artifact: str  # e.g. checkpoints/epoch=3.ckpt
    epoch: int
    intermediate_values: dict[int, float]  # the dead trial's Optuna reports, epoch -> value

    @property
    def label(self) -> str:
        return f"trial {self.trial_number}, run {self.run_id}, {self.artifact}"


def _why(tracker: Tracker, err: Exception) -> str:
    """An MLflow error for the log, without the password a tracking URI may hold."""
    return scrub(str(err), tracker.tracking_uri)


def find_resume_point(tracker: Tracker, trial: optuna.Trial) -> ResumePoint | None:
    """The furthest checkpoint logged whole by the trials ``trial`` retries (Optuna's retry
    history); None for a trial that retries nothing or whose trials logged none."""
    storage, study_id = trial.storage, trial.study._study_id
    history = storage.get_trial_system_attrs(trial._trial_id).get("retry_history", [])
    best: ResumePoint | None = None
    for number in reversed(history):  # latest first: on a tie, the latest trial's
        dead = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))
        run_id = dead.user_attrs.get(ATTR_RUN_ID)
        if not run_id:
            continue
        try:
            artifact = tracker.last_checkpoint(run_id)
        except Exception as err:  # noqa: BLE001 - an unreachable server: train from the start
            _log.warning("checkpoints of trial %d not found: %s", number, _why(tracker, err))
            continue
        epoch = checkpoint_epoch(artifact) if artifact else None
        if artifact and epoch is not None and (best is None or epoch > best.epoch):
            best = ResumePoint(number, run_id, artifact, epoch, dict(dead.intermediate_values))
    return best


def carry_over(
    tracker: Tracker, trial: optuna.Trial, point: ResumePoint, run_id: str, directory: Path
) -> Path | None:
    """Download ``point``'s checkpoint into ``directory`` and carry the epochs through it into
    the retry's run and trial; the local checkpoint, or None (train from the start) when it
    cannot be fetched."""
    try:
        local = tracker.download(point.run_id, point.artifact, directory)
    except Exception as err:  # noqa: BLE001 - an unreachable server: the retry trains from epoch 0
        _log.warning(
            "%s not downloaded, training from the start: %s", point.label, _why(tracker, err)
        )
        return None
    try:
        tracker.copy_epochs(point.run_id, run_id, point.epoch)
        tracker.set_tag(run_id, TAG_RESUMED_FROM, point.label)
    except Exception as err:  # noqa: BLE001 - the curves miss those epochs; the trial goes on
        _log.warning(
            "epochs through %d of %s not copied: %s", point.epoch, point.label, _why(tracker, err)
        )
    for epoch, value in sorted(point.intermediate_values.items()):
        if epoch <= point.epoch:
            trial.report(value, epoch)
    return local


class CheckpointUploader:
    """Keep the newest complete periodic checkpoint of a training trial in its run.

    A checkpoint of epoch ``k`` is complete once the trial reports a later epoch (Lightning writes
    it at the end of epoch ``k``, after the epoch's report). Uploads run in a thread of their own,
    one at a time, so the trial's epochs and prune verdicts never wait for them; when one ends, the
    next takes the newest checkpoint then complete, and the one before is deleted from the run (a
    retry needs only the newest). A failed upload (the server away) is tried again after the next
    epoch; it never fails the trial.
    """

    def __init__(self, tracker: Tracker, run_id: str, ckpt_dir: Path) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self.ckpt_dir = ckpt_dir
        self.uploaded: str | None = None  # the file name now in the run
        self._thread: threading.Thread | None = None

    def after_epoch(self, epoch: int) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        newest = self._newest_complete(epoch)
        if newest is None:
            return
        self._thread = threading.Thread(
            target=self._upload, args=(newest,), name="checkpoint-upload", daemon=True
        )
        self._thread.start()

    def close(self, wait: bool) -> None:
        """At the trial's end: let the upload in flight finish (``wait``), or leave it (stopping)."""
        if wait and self._thread is not None:
            self._thread.join()

    def _newest_complete(self, epoch: int) -> Path | None:
        if not self.ckpt_dir.is_dir():
            return None
        done = {
            written: path
            for path in self.ckpt_dir.glob("epoch=*.ckpt")
            if (written := checkpoint_epoch(path.name)) is not None and written < epoch
        }
        if not done:
            return None
        newest = done[max(done)]
        uploaded = checkpoint_epoch(self.uploaded) if self.uploaded else None
        return newest if uploaded is None or max(done) > uploaded else None

    def _upload(self, path: Path) -> None:
        try:
            self.tracker.log_checkpoint(self.run_id, path)
        except Exception as err:  # noqa: BLE001 - tried again after the next epoch
            _log.warning("checkpoint %s not logged yet: %s", path.name, _why(self.tracker, err))
            return
        previous, self.uploaded = self.uploaded, path.name
        if previous is not None:
            with contextlib.suppress(Exception):  # left in the run: it costs space, not results
                self.tracker.delete_checkpoint(self.run_id, previous)


def drop_checkpoints(tracker: Tracker, *run_ids: str) -> None:
    """Delete the periodic checkpoints of runs no retry will resume (a trial that ended on its
    own, and the dead trials it resumed); ``best.ckpt`` and the rest stay."""
    for run_id in run_ids:
        try:
            tracker.delete_checkpoints(run_id)
        except Exception as err:  # noqa: BLE001 - left in the run: it costs space, not results
            _log.warning("checkpoints of run %s not deleted: %s", run_id, _why(tracker, err))
