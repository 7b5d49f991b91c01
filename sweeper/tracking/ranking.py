"""Label-free ranking: a study's trials ordered by a metric measured without labels, and how well
each such metric agrees with the labeled validation error across the trials.

A sweep ranks trials on a few dozen labeled validation frames; the video metrics its trials logged
(``eval.predict_vids_after_training``: temporal jump rate, PCA reprojection errors) and each
ensemble member's distance to the ensemble are measured on every frame of unlabeled video. The
Spearman rank correlation with the validation error says which of them to trust on this data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from rich.table import Table

from sweeper.errors import SweepError
from sweeper.study.storage import redact, scrub
from sweeper.tracking.mlflow_runs import TAG_ROLE, TAG_STATE, TAG_STUDY, TAG_TRIAL

LABELED = "val_pixel_error"  # the labeled reference every complete trial logs
ENSEMBLE_DISTANCE = "ensemble.distance_px"  # a member's mean distance to the latest ensemble
_VIDEO_PREFIXES = ("video.", "videos.")  # averaged over the videos, and per video
MIN_TRIALS = 3  # fewer ranks say nothing


@dataclass(frozen=True)
class TrialScores:
    """A complete trial's labeled error and its label-free metrics (lower is better for all)."""

    number: int
    labeled: float | None
    label_free: dict[str, float]


@dataclass
class Ranking:
    metric: str
    trials: list[TrialScores]  # those with ``metric``, best (lowest) first
    # label-free metric -> (trials with it and the labeled error, Spearman rho or None)
    agreement: dict[str, tuple[int, float | None]] = field(default_factory=dict)


def is_label_free(name: str) -> bool:
    return name.startswith(_VIDEO_PREFIXES) or name == ENSEMBLE_DISTANCE


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation (ties share their mean rank); None below three pairs or when
    either side is constant."""
    if len(a) < MIN_TRIALS:
        return None
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def study_scores(
    client: MlflowClient, study: str, experiment_name: str | None = None
) -> list[TrialScores]:
    """Each complete trial's scores from its MLflow run (in ``experiment_name``, by default the
    study's name), plus its distance to the study's newest finished ensemble when it was a
    member."""
    name = experiment_name or study
    uri = client.tracking_uri
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise SweepError(
                f"study {study!r} has no MLflow experiment {name!r} in {redact(uri)}; pass the "
                "sweep's --tracking-uri"
            )
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{TAG_STUDY}` = '{study}'",
            max_results=50000,
            order_by=["attributes.start_time DESC"],
        )
    except MlflowException as err:  # a server away or refusing; its message may carry the URL
        message = scrub(getattr(err, "message", str(err)).splitlines()[0], uri)
        raise SweepError(f"MLflow tracking store {redact(uri)}: {message}") from None
    distances: dict[int, float] = {}
    ensembles = [
        r for r in runs if r.data.tags.get(TAG_ROLE) == "ensemble" and r.info.status == "FINISHED"
    ]
    if ensembles:  # newest first
        for key, value in ensembles[0].data.metrics.items():
            if key.startswith("distance_px.trial-"):
                distances[int(key.rsplit("-", 1)[1])] = float(value)
    scores: dict[int, TrialScores] = {}
    for run in runs:
        tags = run.data.tags
        if tags.get(TAG_ROLE) != "trial" or tags.get(TAG_STATE) != "COMPLETE":
            continue
        number = int(tags[TAG_TRIAL])
        if number in scores:  # a retried trial: its newest complete run
            continue
        metrics = run.data.metrics
        label_free = {
            k: float(v) for k, v in metrics.items() if is_label_free(k) and math.isfinite(v)
        }
        if number in distances:
            label_free[ENSEMBLE_DISTANCE] = distances[number]
        labeled = metrics.get(LABELED)
        scores[number] = TrialScores(
            number, None if labeled is None else float(labeled), label_free
        )
    return [scores[n] for n in sorted(scores)]


def rank_trials(scores: list[TrialScores], metric: str) -> Ranking:
    """The trials that logged ``metric``, lowest first, and every averaged label-free metric's
    (and ``metric``'s) agreement with the labeled error."""
    available = sorted({k for s in scores for k in s.label_free})
    if metric not in available:
        if not available:
            raise SweepError(
                f"--rank-by {metric!r}: the study's complete trials logged no label-free metric; "
                "sweep with eval.predict_vids_after_training=true (video metrics) or run "
                "`sweeper ensemble` (ensemble.distance_px)"
            )
        shown = [k for k in available if not k.startswith("videos.")] or available
        raise SweepError(
            f"--rank-by {metric!r}: expected one of {', '.join(shown)} "
            "(or videos.<video file>.<metric> for one video)"
        )
    ranked = sorted(
        (s for s in scores if metric in s.label_free),
        key=lambda s: (s.label_free[metric], s.number),
    )
    ranking = Ranking(metric, ranked)
    for name in [k for k in available if not k.startswith("videos.")] + (
        [metric] if metric.startswith("videos.") else []
    ):
        pairs = [(s.label_free[name], s.labeled) for s in scores if name in s.label_free]
        pairs = [(a, b) for a, b in pairs if b is not None]
        ranking.agreement[name] = (
            len(pairs),
            spearman([a for a, _ in pairs], [b for _, b in pairs]),  # type: ignore[misc]
        )
    return ranking


def ranking_tables(ranking: Ranking, study: str) -> tuple[Table, Table]:
    """The trials in the order of the label-free metric beside their labeled error and its rank,
    then each label-free metric's Spearman agreement with the labeled error."""
    labeled_rank = pd.Series(
        {s.number: s.labeled for s in ranking.trials if s.labeled is not None}, dtype=float
    ).rank(method="min")
    table = Table(title=f"study {study}: complete trials ranked by {ranking.metric} (lower first)")
    # the metric's last part heads its column (the title names it whole): 80 columns fit it
    short = ranking.metric.rsplit(".", 1)[-1]
    for name in ("rank", "trial", short, LABELED, f"{LABELED} rank"):
        table.add_column(name, justify="right")
    for i, s in enumerate(ranking.trials, 1):
        table.add_row(
            str(i),
            str(s.number),
            f"{s.label_free[ranking.metric]:.4g}",
            "-" if s.labeled is None else f"{s.labeled:.4g}",
            str(int(labeled_rank[s.number])) if s.number in labeled_rank else "-",
        )
    agreement = Table(title=f"agreement with {LABELED} across trials (Spearman rank correlation)")
    agreement.add_column("label-free metric")
    agreement.add_column("trials", justify="right")
    agreement.add_column("Spearman rho", justify="right")
    for name, (n, rho) in ranking.agreement.items():
        agreement.add_row(
            name + (" *" if name == ranking.metric else ""),
            str(n),
            f"{rho:+.2f}" if rho is not None else f"- (needs {MIN_TRIALS}+ distinct)",
        )
    return table, agreement
