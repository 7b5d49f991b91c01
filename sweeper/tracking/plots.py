"""Optuna's study plots as standalone HTML files (the MLflow UI shows them as artifacts)."""

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


def write_study_plots(study: optuna.Study, out_dir: Path, metric: str) -> list[Path]:
    """Write each plot the study has enough trials for; plotly.js is embedded (works offline)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return []
    written = []
    for name, plot in PLOTS.items():
        if name == "param_importances" and (len(complete) < 2 or not complete[0].params):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figure = plot(study, target_name=metric)
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue  # e.g. importances when no param varies
        path = out_dir / f"{name}.html"
        figure.write_html(str(path), include_plotlyjs=True, full_html=True)
        written.append(path)
    return written
