"""``sweeper report``: a study's trials as a Rich table, optionally an HTML page with Optuna's plots."""

from __future__ import annotations

import html
import io
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sweeper.space.params import value_label
from sweeper.study.study import ATTR_METRIC, ATTR_REASON, best_complete_trial

_STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan"}


def trials_table(study: optuna.Study) -> Table:
    """One row per trial: number, state, each param, the metric, duration and reason."""
    trials = study.get_trials(deepcopy=False)
    metric = str(study.user_attrs.get(ATTR_METRIC, "value"))
    keys = list(dict.fromkeys(k for t in trials for k in t.params))
    best = best_complete_trial(study)
    table = Table(title=f"study {study.study_name}: {len(trials)} trials")
    table.add_column("trial", justify="right")
    table.add_column("state")
    for key in keys:
        table.add_column(key.rsplit(".", 1)[-1], overflow="fold")
    table.add_column(metric, justify="right")
    table.add_column("duration", justify="right")
    table.add_column("note", overflow="fold")
    for t in trials:
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        value = f"{t.value:.4g}" if t.value is not None else ""
        if t.state.name == "PRUNED" and t.intermediate_values:
            value = f"({t.intermediate_values[max(t.intermediate_values)]:.4g})"
        table.add_row(
            str(t.number) + (" *" if best is not None and t.number == best.number else ""),
            Text(t.state.name.lower(), style=_STYLE.get(t.state.name, "")),
            *[Text(_format(t.params.get(k))) for k in keys],  # Text: values are not markup
            value,
            "" if seconds is None else f"{seconds:.0f} s",
            Text(trial_note(t)),
        )
    return table


def trial_note(trial: FrozenTrial) -> str:
    """Why a trial ended as it did (empty for complete trials)."""
    reason = trial.user_attrs.get(ATTR_REASON)
    if reason:
        return str(reason)
    if trial.state.name == "FAIL":  # failed by Optuna's heartbeat check, not by its worker
        return "its worker stopped sending heartbeats (killed?); retried with the same params"
    return ""


def _format(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return value_label(value)


def write_html_report(study: optuna.Study, path: Path) -> None:
    """The table as Rich renders it, then Optuna's plots, in one page that opens offline."""
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(trials_table(study))
    table_html = console.export_html(inline_styles=True, code_format="<pre>{code}</pre>")
    from sweeper.tracking.plots import study_figures  # here: plotting imports matplotlib (0.4 s)

    metric = str(study.user_attrs.get(ATTR_METRIC, "value"))
    figures = study_figures(study, metric).values()
    plots = "\n".join(
        figure.to_html(full_html=False, include_plotlyjs=i == 0) for i, figure in enumerate(figures)
    )
    title = html.escape(study.study_name)
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h2>Study {title}</h2>{table_html}{plots}</body></html>"
    )
