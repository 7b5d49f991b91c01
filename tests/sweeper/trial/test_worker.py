"""What the trial child reports: the epochs a run will take, in epoch and in step mode."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from sweeper.trial.worker import _planned_epochs


@pytest.mark.parametrize(
    ("max_epochs", "max_steps", "batches", "accumulate", "planned"),
    [
        (15, -1, 10, 1, 15),  # epoch mode
        (-1, 100, 10, 1, 10),  # step mode: 100 steps of 10 per epoch
        (-1, 101, 10, 1, 11),  # a partial last epoch counts
        (-1, 100, 10, 2, 20),  # accumulation: 5 optimizer steps per epoch
        (-1, 100, math.inf, 1, None),  # an endless loader: unknown
        (-1, -1, 10, 1, None),  # neither limit: unknown
    ],
)
def test_planned_epochs(
    max_epochs: int, max_steps: int, batches: float, accumulate: int, planned: int | None
) -> None:
    trainer = SimpleNamespace(
        max_epochs=max_epochs,
        max_steps=max_steps,
        num_training_batches=batches,
        accumulate_grad_batches=accumulate,
    )
    assert _planned_epochs(trainer) == planned  # type: ignore[arg-type]
