"""The live view and trial lines: values rendered literally (a list is not Rich markup), elapsed
time and an estimate of what is left from the epochs done so far."""

from __future__ import annotations

from datetime import datetime, timedelta

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from rich.console import Console

from sweeper.cli.progress import (
    duration,
    ended_line,
    render,
    sweep_remaining,
    trial_remaining,
)
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
    assert "labeled image [x] not found" in _text(ended_line(failed))


def _finished(
    seconds: float, state: optuna.trial.TrialState = optuna.trial.TrialState.COMPLETE
) -> optuna.trial.FrozenTrial:
    start = datetime(2026, 12, 1, 12, 0, 0)
    trial = optuna.trial.create_trial(
        state=state, value=1.0 if state == optuna.trial.TrialState.COMPLETE else None
    )
    trial.datetime_start, trial.datetime_complete = start, start + timedelta(seconds=seconds)
    return trial


def _view(
    ended: list[optuna.trial.FrozenTrial],
    running: list[TrialStatus],
    target: int,
    slots: int = 1,
    started: float | None = 0.0,
) -> SweepView:
    counts: dict[str, int] = {}
    for t in ended:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    if running:
        counts["RUNNING"] = len(running)
    return SweepView("s", target, counts, None, running, "val/pixel_error", ended, started, slots)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (45, "45 s"), (192, "3 min 12 s"), (3900, "1 h 05 min")],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_trial_remaining_follows_the_pace_of_its_epochs() -> None:
    # started at t=100, 3 of 10 epochs done by t=130 (10 s each), now t=135: 70 - 5 s left
    status = TrialStatus(1, {}, epoch=2, max_epochs=10, started=100.0, epoch_ended=130.0)
    assert trial_remaining(status, now=135.0) == pytest.approx(65.0)
    assert trial_remaining(TrialStatus(1, {}, started=100.0), now=135.0) is None  # no epoch yet
    unknown = TrialStatus(1, {}, epoch=2, max_epochs=None, started=100.0, epoch_ended=130.0)
    assert trial_remaining(unknown, now=135.0) is None  # a length the trial did not report


def test_sweep_remaining_from_finished_trials_and_running_epochs() -> None:
    # 2 finished (60 s and 100 s: median 80 s), one running with 20 s left, target 4: one queued
    running = TrialStatus(2, {}, epoch=3, max_epochs=5, started=0.0, epoch_ended=80.0)
    view = _view([_finished(60), _finished(100)], [running], target=4)
    assert sweep_remaining(view, now=80.0) == pytest.approx(20.0 + 80.0)
    # two slots: the queued trial runs beside the running one
    both = _view([_finished(60), _finished(100)], [running], target=4, slots=2)
    assert sweep_remaining(both, now=80.0) == pytest.approx(50.0)
    # pruned trials count (they end early); failed ones do not
    pruned = _finished(10, optuna.trial.TrialState.PRUNED)
    failed = _finished(1000, optuna.trial.TrialState.FAIL)
    assert sweep_remaining(_view([pruned, _finished(30), failed], [], target=4), 0.0) == 40.0


def test_sweep_remaining_before_any_trial_finished() -> None:
    starting = TrialStatus(0, {}, started=0.0)
    assert sweep_remaining(_view([], [starting], target=3), now=5.0) is None
    # the first trial's epochs project its length (2 of 4 epochs in 20 s: 40 s a trial)
    first = TrialStatus(0, {}, epoch=1, max_epochs=4, started=0.0, epoch_ended=20.0)
    assert sweep_remaining(_view([], [first], target=3), now=20.0) == pytest.approx(20 + 2 * 40)


def test_view_and_ended_line_show_elapsed_and_estimate() -> None:
    running = TrialStatus(2, {"lr": "0.01"}, epoch=3, max_epochs=5, started=0.0, epoch_ended=80.0)
    view = _view([_finished(60), _finished(100)], [running], target=4, started=-120.0)
    text = _text(render(view, now=80.0))
    assert "3 min 20 s elapsed, about 1 min 40 s left" in text
    assert "4/5" in text and "1 min 20 s" in text and "20 s" in text  # epoch, elapsed, left
    line = _text(ended_line(_finished(61), view, now=80.0))
    assert "complete in 1 min 01 s: val/pixel_error 1  []" in line
    assert "(2/4 finished, 3 min 20 s elapsed, about 1 min 40 s left)" in line
    assert "estimating the time left" in _text(render(_view([], [TrialStatus(0, {})], 2), 1.0))
