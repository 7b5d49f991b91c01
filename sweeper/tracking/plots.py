"""Optuna's study plots (history, importances, parallel coordinates) as plotly figures and HTML."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

PLOTS: dict[str, Callable[..., Any]] = {
    "optimization_history": optuna.visualization.plot_optimization_history,
    "param_importances": optuna.visualization.plot_param_importances,
    "parallel_coordinate": optuna.visualization.plot_parallel_coordinate,
}


def study_figures(study: optuna.Study, metric: str) -> dict[str, Any]:
    """Each plot the study has enough completed trials for (importances need two and a param)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return {}
    figures = {}
    for name, plot in PLOTS.items():
        if name == "param_importances" and (len(complete) < 2 or not complete[0].params):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figures[name] = plot(study, target_name=metric)
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue  # e.g. importances when no param varies
    return figures


def write_study_plots(study: optuna.Study, out_dir: Path, metric: str) -> list[Path]:
    """One standalone HTML file per plot, plotly.js embedded so it opens offline."""
    written = []
    for name, figure in study_figures(study, metric).items():
        path = out_dir / f"{name}.html"
        figure.write_html(str(path), include_plotlyjs=True, full_html=True)
        written.append(path)
    return written
