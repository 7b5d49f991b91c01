"""Label-free ranking: Spearman's known answers, and a study's scores read from its MLflow runs
(complete trials only, a retry's newest run, the newest finished ensemble's member distances)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from rich.console import Console

from sweeper.errors import SweepError
from sweeper.tracking.mlflow_runs import default_tracking_uri
from sweeper.tracking.ranking import (
    ENSEMBLE_DISTANCE,
    rank_trials,
    ranking_tables,
    spearman,
    study_scores,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 2, 3, 4], [1, 4, 9, 100], 1.0),  # ranks, not values
        ([1, 2, 2, 3], [1, 2, 3, 4], 0.9486833),  # ties share their mean rank
        ([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], 0.8),
    ],
)
def test_spearman_known_answers(a: list[float], b: list[float], expected: float) -> None:
    assert spearman(a, b) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("a", "b"), [([1, 2], [1, 2]), ([1, 1, 1], [1, 2, 3])])
def test_spearman_needs_three_distinct_pairs(a: list[float], b: list[float]) -> None:
    assert spearman(a, b) is None


def _trial_run(
    client: MlflowClient, experiment: str, number: int, state: str, metrics: dict[str, float]
) -> str:
    tags = {
        "sweeper.study": "s",
        "sweeper.role": "trial",
        "sweeper.trial_number": str(number),
        "sweeper.state": state,
    }
    run = client.create_run(experiment, tags=tags)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id, "FINISHED" if state == "COMPLETE" else "FAILED")
    return str(run.info.run_id)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MlflowClient:
    """A study of 5 trials: 0-3 complete (trial 3's first run failed, its retry completed), 4
    pruned; 0 and 1 logged a video metric per video; an old ensemble and a newer one."""
    root = tmp_path_factory.mktemp("ranking") / "mlruns"
    root.mkdir()
    client = MlflowClient(tracking_uri=default_tracking_uri(root))
    experiment = client.create_experiment("s", artifact_location=str(root / "artifacts"))
    val = {0: 4.0, 1: 2.0, 2: 3.0, 3: 1.0}
    jumps = {0: 0.4, 1: 0.2, 2: 0.3, 3: 0.1}  # agrees with val exactly
    pca = {0: 1.0, 1: 4.0, 2: 3.0, 3: 2.0}
    _trial_run(client, experiment, 3, "FAIL", {"val_pixel_error": 99.0})
    for n in range(4):
        metrics = {
            "val_pixel_error": val[n],
            "video.temporal_jump_rate": jumps[n],
            "video.pca_singleview_error": pca[n],
            "train_seconds": 10.0 + n,  # not label-free
        }
        if n < 2:
            metrics["videos.clip.temporal_jump_rate"] = jumps[n]
        _trial_run(client, experiment, n, "COMPLETE", metrics)
    _trial_run(client, experiment, 4, "PRUNED", {"video.temporal_jump_rate": 0.0})
    for distances in ({0: 9.0, 1: 9.0}, {3: 1.5, 1: 2.0, 2: 2.5}):  # the newer one last
        time.sleep(0.01)  # distinct start times
        run = client.create_run(experiment, tags={"sweeper.study": "s", "sweeper.role": "ensemble"})
        for n, d in distances.items():
            client.log_metric(run.info.run_id, f"distance_px.trial-{n}", d)
        client.set_terminated(run.info.run_id, "FINISHED")
    return client


def test_scores_come_from_complete_runs_and_the_newest_ensemble(store: MlflowClient) -> None:
    scores = {s.number: s for s in study_scores(store, "s")}
    assert sorted(scores) == [0, 1, 2, 3]  # the pruned trial is not ranked
    assert scores[3].labeled == 1.0  # the retry, not the failed first run
    assert "train_seconds" not in scores[0].label_free
    assert ENSEMBLE_DISTANCE not in scores[0].label_free  # only in the older ensemble
    assert {n: s.label_free.get(ENSEMBLE_DISTANCE) for n, s in scores.items() if n} == {
        1: 2.0,
        2: 2.5,
        3: 1.5,
    }


def test_ranking_orders_trials_and_measures_agreement(store: MlflowClient) -> None:
    ranking = rank_trials(study_scores(store, "s"), "video.temporal_jump_rate")
    assert [s.number for s in ranking.trials] == [3, 1, 2, 0]
    assert ranking.agreement["video.temporal_jump_rate"] == (4, pytest.approx(1.0))
    assert ranking.agreement["video.pca_singleview_error"] == (4, pytest.approx(-0.4))
    assert ranking.agreement[ENSEMBLE_DISTANCE] == (3, pytest.approx(1.0))
    assert not any(k.startswith("videos.") for k in ranking.agreement)
    per_video = rank_trials(study_scores(store, "s"), "videos.clip.temporal_jump_rate")
    assert [s.number for s in per_video.trials] == [1, 0]
    assert per_video.agreement["videos.clip.temporal_jump_rate"] == (2, None)
    console = Console(file=io.StringIO(), width=200)
    for table in ranking_tables(ranking, "s"):
        console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "ranked by video.temporal_jump_rate" in text and "+1.00" in text and "-0.40" in text


def test_an_unknown_metric_names_the_ones_logged(store: MlflowClient) -> None:
    with pytest.raises(SweepError) as info:
        rank_trials(study_scores(store, "s"), "val_pixel_error")
    assert str(info.value) == (
        "--rank-by 'val_pixel_error': expected one of ensemble.distance_px, "
        "video.pca_singleview_error, video.temporal_jump_rate "
        "(or videos.<video file>.<metric> for one video)"
    )


def test_a_study_without_video_metrics_says_how_to_get_them(tmp_path: Path) -> None:
    (tmp_path / "mlruns").mkdir()
    client = MlflowClient(tracking_uri=default_tracking_uri(tmp_path / "mlruns"))
    experiment = client.create_experiment("s", artifact_location=str(tmp_path / "a"))
    _trial_run(client, experiment, 0, "COMPLETE", {"val_pixel_error": 1.0})
    with pytest.raises(SweepError, match="eval.predict_vids_after_training=true"):
        rank_trials(study_scores(client, "s"), "video.temporal_jump_rate")
    with pytest.raises(SweepError, match="study 'other' has no MLflow experiment"):
        study_scores(client, "other")


def test_an_unreachable_server_is_one_line_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    client = MlflowClient(tracking_uri="http://me:hunter2@127.0.0.1:9")  # nothing listens on 9
    with pytest.raises(SweepError) as info:
        study_scores(client, "s")
    text = str(info.value)
    assert text.startswith("MLflow tracking store http://me:***@127.0.0.1:9: ")
    assert "hunter2" not in text and "\n" not in text
