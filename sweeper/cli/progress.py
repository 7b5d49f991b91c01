"""The live view of ``sweeper run``: trial counts, the best trial so far, running trials' epochs,
and how long the sweep has run and has left."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from optuna.trial import FrozenTrial
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sweeper.study.report import trial_note
from sweeper.study.study import finished
from sweeper.sweep import SweepView

if TYPE_CHECKING:  # the runner imports torch: `sweeper run` answers bad input before that
    from sweeper.trial.runner import TrialStatus

_COUNTED = ("COMPLETE", "PRUNED")  # the states that count towards --n-trials (see finished())


def _params(params: Mapping[str, object], width: int = 80) -> str:
    text = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def duration(seconds: float) -> str:
    """A human duration: ``45 s``, ``3 min 12 s``, ``1 h 05 min``."""
    whole = int(round(max(0.0, seconds)))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def trial_seconds(trial: FrozenTrial) -> float | None:
    """How long a finished trial ran, from Optuna's timestamps (any worker's trial)."""
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def trial_remaining(status: TrialStatus, now: float) -> float | None:
    """Seconds a running trial has left at the pace of its epochs so far (None before the first)."""
    if status.epoch < 0 or not status.max_epochs or status.epoch_ended is None:
        return None  # no epoch yet, or a length the trial did not report
    done = status.epoch + 1
    per_epoch = (status.epoch_ended - status.started) / done
    return max(0.0, per_epoch * (status.max_epochs - done) - (now - status.epoch_ended))


def sweep_remaining(view: SweepView, now: float) -> float | None:
    """Seconds until the study has its target of finished trials, or None while nothing says yet.

    A trial's length is the median of the finished ones (pruned ones included: they end early), or
    before any has finished, the running trials' projected lengths. Running trials take what their
    epochs' pace leaves; queued ones share this worker's slots.
    """
    lengths = [
        s for t in view.ended if t.state.name in _COUNTED and (s := trial_seconds(t)) is not None
    ]
    if not lengths:
        lengths = [
            now - s.started + left
            for s in view.running
            if (left := trial_remaining(s, now)) is not None
        ]
    if not lengths:
        return None
    per_trial = statistics.median(lengths)
    running = []
    for status in view.running:
        left = trial_remaining(status, now)
        running.append(left if left is not None else max(0.0, per_trial - (now - status.started)))
    queued = max(0, view.target - finished(view.counts) - view.counts.get("RUNNING", 0))
    spread = (sum(running) + queued * per_trial) / max(1, view.slots)
    return max(max(running, default=0.0), spread)


def progress_text(view: SweepView, now: float | None = None) -> str:
    """``3 min 12 s elapsed, about 2 min 10 s left`` (empty before the sweep loop starts)."""
    if view.started is None:
        return ""
    now = time.monotonic() if now is None else now
    left = sweep_remaining(view, now)
    estimate = "estimating the time left" if left is None else f"about {duration(left)} left"
    if left == 0:
        estimate = "finishing"
    return f"{duration(now - view.started)} elapsed, {estimate}"


def render(view: SweepView, now: float | None = None) -> RenderableType:
    now = time.monotonic() if now is None else now
    c = view.counts
    done = finished(c)
    header = Text.assemble(
        (f"study {view.study}", "bold"),
        f"  {done}/{view.target} finished   ",
        (f"complete {c.get('COMPLETE', 0)}", "green"),
        "  ",
        (f"pruned {c.get('PRUNED', 0)}", "yellow"),
        "  ",
        (f"failed {c.get('FAIL', 0)}", "red"),
        "  ",
        (f"running {c.get('RUNNING', 0)}", "cyan"),
    )
    parts: list[RenderableType] = [header]
    timing = progress_text(view, now)
    if timing:
        parts.append(Text(timing, style="dim"))
    if view.best is not None:
        parts.append(
            Text(
                f"best {view.metric} {view.best.value:.4g} (trial {view.best.number}): "
                f"{_params(view.best.params)}"
            )
        )
    if view.running:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("trial", "epoch", view.metric, "elapsed", "left", "params"):
            table.add_column(column)
        for status in view.running:
            epoch = "starting" if status.epoch < 0 else str(status.epoch + 1)
            if status.epoch >= 0 and status.max_epochs:
                epoch += f"/{status.max_epochs}"
            value = "" if status.last_value is None else f"{status.last_value:.4g}"
            left = trial_remaining(status, now)
            table.add_row(
                str(status.number),
                epoch,
                value,
                duration(now - status.started),
                "" if left is None else duration(left),
                Text(_params(status.params)),
            )
        parts.append(table)
    return Group(*parts)


def ended_line(trial: FrozenTrial, view: SweepView | None = None, now: float | None = None) -> Text:
    """One line when a trial ends: its state, time, value or reason, params, and the sweep's progress."""
    state = trial.state.name
    style = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}.get(state, "")
    metric = view.metric if view is not None else "value"
    if state == "COMPLETE" and trial.value is not None:
        detail = f"{metric} {trial.value:.4g}"
    else:
        detail = trial_note(trial)
    seconds = trial_seconds(trial)
    took = "" if seconds is None else f" in {duration(seconds)}"
    line = Text.assemble(
        (f"trial {trial.number} {state.lower()}{took}", style),
        f": {detail}  [{_params(trial.params)}]",
    )
    if view is not None and view.started is not None:
        line.append(
            f"  ({finished(view.counts)}/{view.target} finished, {progress_text(view, now)})",
            style="dim",
        )
    return line
