"""The objective: which metric of a trial's MLflow run holds the value Optuna is told."""

from __future__ import annotations

import pytest

from sweeper.study.study import Objective
from sweeper.trial.runner import _scalar_metrics


@pytest.mark.parametrize("name", Objective.names())
def test_run_metric_holds_the_value_optuna_gets(name: str) -> None:
    """Every objective: the run's metric that the MLflow UI ranks trials by is the trial's value.
    A run's latest value of a per-epoch metric is its last epoch's."""
    metrics = {
        "best_val_loss": 1.0,
        "pixel_error": {"train": 2.0, "validation": 3.0, "test": 4.0},
        "val_pixel_error": 3.0,
        "test_pixel_error": 4.0,
        "train_images_per_second": 5.0,
        "train_seconds": 6.0,
    }
    last_epoch = {"train/loss": 7.0, "val/loss": 8.0, "val/pixel_error": 9.0}
    objective = Objective.parse(name, "minimize")
    run = {**last_epoch, **_scalar_metrics(metrics)}  # logged at the epochs, then at the end
    assert run[objective.run_metric] == objective.final(metrics, last_epoch)
