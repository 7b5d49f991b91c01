"""Telling the study a trial's outcome when another worker already failed it as stale."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from sweeper.study.storage import open_storage
from sweeper.trial.runner import TrialOutcome, _tell


@pytest.mark.parametrize(
    "outcome",
    [TrialOutcome("COMPLETE", value=2.0), TrialOutcome("PRUNED", reason="pruned at epoch 2")],
    ids=["complete", "pruned"],
)
def test_an_outcome_for_a_trial_failed_meanwhile_keeps_the_fail(
    tmp_path: Path, outcome: TrialOutcome
) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat_seconds=5)
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # as fail_stale_trials does
    ctx: Any = SimpleNamespace(study=study)
    _tell(ctx, trial, outcome)
    assert study.trials[0].state == TrialState.FAIL
    assert outcome.reason is not None and outcome.reason.endswith(
        "(already failed by another worker)"
    )


def test_an_outcome_for_a_running_trial_is_told() -> None:
    study = optuna.create_study()
    trial = study.ask()
    outcome = TrialOutcome("COMPLETE", value=2.0)
    _tell(SimpleNamespace(study=study), trial, outcome)  # type: ignore[arg-type]
    assert (study.trials[0].state, study.trials[0].value, outcome.reason) == (
        TrialState.COMPLETE,
        2.0,
        None,
    )
