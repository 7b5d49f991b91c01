"""Every registered sampler and pruner drives a sweep-style ask/tell loop over a real space."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from pose.config import read_config_file
from sweeper.space import load_space
from sweeper.study.samplers import PRUNERS, SAMPLERS

SPACE = """
model.heatmap_loss_type: {choices: [mse, kl]}
training.train_batch_size: {low: 8, high: 16, step: 8}
training.optimizer_params.learning_rate: {low: 1.0e-3, high: 3.0e-3, step: 1.0e-3}
"""


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_sampler_in_ask_tell_loop(name: str, synthetic_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    space = load_space([tmp_path / "space.yaml"], read_config_file(synthetic_dir / "config.yaml"))
    grid = space.grid()
    assert len(grid["training.optimizer_params.learning_rate"]) == 3
    study = optuna.create_study(sampler=SAMPLERS.get(name)(0, grid))
    seen = set()
    for _ in range(12):  # the grid has 2 * 2 * 3 points; ask/tell past its end must not raise
        trial = study.ask()
        values = space.sample(trial)
        seen.add(tuple(sorted(space.labels(values).items())))
        study.tell(trial, float(values["training.train_batch_size"]))
    if name == "grid":
        assert len(seen) == 12  # every combination exactly once
    assert len(study.trials) == 12


# the epochs at which each registered pruner may stop a trial far worse than the finished ones
# (median: the first epoch, warm-up 0; hyperband: its bracket's first rung; none: never)
PRUNES_A_FAR_WORSE_TRIAL_AT: dict[str, set[int]] = {
    "median": {0},
    "hyperband": {1, 3, 9},
    "none": set(),
}


@pytest.mark.parametrize("name", PRUNERS.names())
def test_pruner_stops_a_far_worse_trial_and_keeps_a_level_one(name: str) -> None:
    """Trials run as the sweep runs them (report, then ask should_prune, every epoch): twelve
    level trials finish, then one far worse is stopped early and one more level trial is not.
    Hyperband assigns brackets by a hash of the study name and trial number, so the name is
    fixed; 10 epochs put every bracket's first rung (epoch 1, 3 or 9) inside the run."""
    assert set(PRUNES_A_FAR_WORSE_TRIAL_AT) == set(PRUNERS.names()), "state the new pruner's rule"
    study = optuna.create_study(study_name="pruning-test", pruner=PRUNERS.get(name)(1, 0))
    epochs = 10

    def run(value: float) -> int | None:
        """The epoch the trial was pruned at, or None when it finished."""
        trial = study.ask()
        for epoch in range(epochs):
            trial.report(value, epoch)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return epoch
        study.tell(trial, value)
        return None

    assert [run(1.0) for _ in range(12)] == [None] * 12
    expected = PRUNES_A_FAR_WORSE_TRIAL_AT[name]
    pruned_at = run(100.0)
    assert pruned_at in expected if expected else pruned_at is None
    assert run(1.0) is None
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) == int(bool(expected))
