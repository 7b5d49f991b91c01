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

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import optuna

from sweeper.study.study import ATTR_RUN_ID
from sweeper.tracking.mlflow_runs import Tracker

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


def find_resume_point(tracker: Tracker, trial: optuna.Trial) -> ResumePoint | None:
    """The newest checkpoint logged by the trials ``trial`` retries (Optuna's retry history,
    latest first); None for a trial that retries nothing or whose trials logged none."""
    storage, study_id = trial.storage, trial.study._study_id
    history = storage.get_trial_system_attrs(trial._trial_id).get("retry_history", [])
    for number in reversed(history):
        dead = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))
        run_id = dead.user_attrs.get(ATTR_RUN_ID)
        if not run_id:
            continue
        try:
            artifact = tracker.last_checkpoint(run_id)
        except Exception as err:  # noqa: BLE001 - an unreachable server: train from the start
            _log.warning("checkpoints of trial %d not found: %s", number, err)
            continue
        epoch = checkpoint_epoch(artifact) if artifact else None
        if artifact and epoch is not None:
            return ResumePoint(number, run_id, artifact, epoch, dict(dead.intermediate_values))
    return None


class CheckpointUploader:
    """Log a training trial's periodic checkpoints to its run, each once the trial is past it.

    A checkpoint of epoch ``k`` is complete once the trial reports a later epoch (Lightning writes
    it at the end of epoch ``k``, after the epoch's report). Failed uploads (the server away) are
    tried again at the next epoch; they never fail the trial.
    """

    def __init__(self, tracker: Tracker, run_id: str, ckpt_dir: Path) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self.ckpt_dir = ckpt_dir
        self.logged: set[str] = set()

    def after_epoch(self, epoch: int) -> None:
        if not self.ckpt_dir.is_dir():
            return
        for path in sorted(self.ckpt_dir.glob("epoch=*.ckpt")):
            written = checkpoint_epoch(path.name)
            if path.name in self.logged or written is None or written >= epoch:
                continue
            try:
                self.tracker.log_checkpoint(self.run_id, path)
            except Exception as err:  # noqa: BLE001 - tried again after the next epoch
                _log.warning("checkpoint %s not logged yet: %s", path.name, err)
                return
            self.logged.add(path.name)


def carry_over(
    tracker: Tracker, trial: optuna.Trial, point: ResumePoint, run_id: str, directory: Path
) -> Path | None:
    """Download ``point``'s checkpoint into ``directory`` and carry the epochs through it into
    the retry's run and trial; the local checkpoint, or None (train from the start) when it
    cannot be fetched."""
    try:
        local = tracker.download(point.run_id, point.artifact, directory)
    except Exception as err:  # noqa: BLE001 - an unreachable server: the retry trains from epoch 0
        _log.warning("%s not downloaded, training from the start: %s", point.label, err)
        return None
    try:
        tracker.copy_epochs(point.run_id, run_id, point.epoch)
    except Exception as err:  # noqa: BLE001 - the curves miss those epochs; the trial goes on
        _log.warning("epochs through %d of %s not copied: %s", point.epoch, point.label, err)
    for epoch, value in sorted(point.intermediate_values.items()):
        if epoch <= point.epoch:
            trial.report(value, epoch)
    return local
