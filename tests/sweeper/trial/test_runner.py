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


@pytest.mark.parametrize("seeded", [False, True], ids=["search", "seed"])
def test_the_pruner_never_stops_a_seed_retraining(seeded: bool) -> None:
    """A trial far worse than the others at the same epoch is pruned; a seed retraining of a
    chosen config (``sweeper ensemble --seeds``) reports the same value and trains on."""
    from sweeper.study.study import ATTR_MODEL_SEED, ATTR_SEED_OF, Objective
    from sweeper.trial.runner import TrialStatus, _report

    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=0))
    for value in (1.0, 1.2):  # two finished trials with low errors at epoch 0
        done = study.ask()
        done.report(value, 0)
        study.tell(done, value)
    if seeded:
        study.enqueue_trial({}, user_attrs={ATTR_MODEL_SEED: 7, ATTR_SEED_OF: 0})
    trial = study.ask()
    ctx: Any = SimpleNamespace(objective=Objective("val/pixel_error", "minimize"))
    message = {"epoch": 0, "metrics": {"val/pixel_error": 50.0}}
    assert _report(ctx, trial, message, TrialStatus(trial.number, {})) is not seeded
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {0: 50.0}
