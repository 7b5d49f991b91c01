"""The live view and trial lines render values literally (a list is not Rich markup)."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution
from rich.console import Console

from sweeper.cli.progress import ended_line, render
from sweeper.sweep import SweepView
from sweeper.trial.runner import TrialStatus


def _text(renderable) -> str:
    console = Console(width=200, record=True)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def test_render_counts_best_and_running() -> None:
    best = optuna.trial.create_trial(
        value=3.25,
        params={"model.losses_to_use": "[pca_singleview, temporal]"},
        distributions={
            "model.losses_to_use": CategoricalDistribution(["[pca_singleview, temporal]", "[]"])
        },
    )
    view = SweepView(
        study="s",
        target=10,
        counts={"COMPLETE": 2, "PRUNED": 1, "FAIL": 1, "RUNNING": 1},
        best=best,
        running=[TrialStatus(4, {"model.losses_to_use": "[temporal]"}, epoch=2, max_epochs=15)],
        metric="val/pixel_error",
        ended=[best],
    )
    text = _text(render(view))
    assert "3/10 finished" in text and "pruned 1" in text and "failed 1" in text
    assert "best val/pixel_error 3.25" in text and "[pca_singleview, temporal]" in text
    assert "3/15" in text and "[temporal]" in text  # epoch 2 (0-based) of 15, list shown as is


def test_ended_line_shows_reason() -> None:
    failed = optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL, user_attrs={"reason": "labeled image [x] not found"}
    )
    assert "labeled image [x] not found" in _text(ended_line(failed, "val/pixel_error"))
