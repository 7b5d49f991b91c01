"""The heartbeat thread keeps a worker's trials alive while its sweep loop waits on something else."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from sweeper.study.heartbeat import Heartbeat
from sweeper.study.storage import open_storage

HEARTBEAT = 1  # seconds; Optuna's grace period is twice that


def test_beating_trials_outlive_the_grace_period_and_dropped_ones_go_stale(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat_seconds=HEARTBEAT)
    study = optuna.create_study(study_name="s", storage=storage)
    kept, dropped = study.ask(), study.ask()
    with Heartbeat(storage, HEARTBEAT / 3) as beats:
        beats.add(kept._trial_id)
        beats.add(dropped._trial_id)
        beats.discard(dropped._trial_id)
        time.sleep(3 * HEARTBEAT)  # past the grace period, with nothing else beating
        optuna.storages.fail_stale_trials(study)
        states = {t.number: t.state for t in study.get_trials()}
    assert states == {kept.number: TrialState.RUNNING, dropped.number: TrialState.FAIL}


def test_a_closed_heartbeat_stops_beating(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat_seconds=HEARTBEAT)
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    with Heartbeat(storage, HEARTBEAT / 3) as beats:
        beats.add(trial._trial_id)
    time.sleep(3 * HEARTBEAT)
    optuna.storages.fail_stale_trials(study)
    assert study.trials[0].state == TrialState.FAIL
