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


@pytest.mark.parametrize("name", PRUNERS.names())
def test_pruner_decides_on_reported_values(name: str) -> None:
    study = optuna.create_study(pruner=PRUNERS.get(name)(1, 0))
    for value in (1.0, 1.0):
        trial = study.ask()
        for step in range(3):
            trial.report(value, step)
        study.tell(trial, value)
    worse = study.ask()
    for step in range(3):
        worse.report(float("nan") if step == 2 else 100.0, step)
    pruned = worse.should_prune()
    if name == "median":
        assert pruned  # far above the median of the finished trials
    elif name == "none":
        assert not pruned
    else:  # hyperband decides per bracket; it must at least answer
        assert isinstance(pruned, bool)
