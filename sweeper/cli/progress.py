"""The live view of ``sweeper run``: trial counts, the best trial so far, and running trials' epochs."""

from __future__ import annotations

from collections.abc import Mapping

from optuna.trial import FrozenTrial
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sweeper.study.report import trial_note
from sweeper.sweep import SweepView


def _params(params: Mapping[str, object], width: int = 80) -> str:
    text = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def render(view: SweepView) -> RenderableType:
    c = view.counts
    done = c.get("COMPLETE", 0) + c.get("PRUNED", 0)
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
    if view.best is not None:
        parts.append(
            Text(
                f"best {view.metric} {view.best.value:.4g} (trial {view.best.number}): "
                f"{_params(view.best.params)}"
            )
        )
    if view.running:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("trial", "epoch", view.metric, "params"):
            table.add_column(column)
        for status in view.running:
            epoch = "starting" if status.epoch < 0 else f"{status.epoch + 1}/{status.max_epochs}"
            value = "" if status.last_value is None else f"{status.last_value:.4g}"
            table.add_row(str(status.number), epoch, value, Text(_params(status.params)))
        parts.append(table)
    return Group(*parts)


def ended_line(trial: FrozenTrial, metric: str) -> Text:
    """One line when a trial ends: its state, value or reason, and params."""
    state = trial.state.name
    style = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}.get(state, "")
    if state == "COMPLETE" and trial.value is not None:
        detail = f"{metric} {trial.value:.4g}"
    else:
        detail = trial_note(trial)
    return Text.assemble(
        (f"trial {trial.number} {state.lower()}", style), f": {detail}  [{_params(trial.params)}]"
    )
