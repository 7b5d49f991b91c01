"""End-to-end sweeps on CPU: Optuna states, MLflow runs, promotion, crashes, pruning, kill/resume."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from sweeper.study.storage import default_storage_url, open_storage
from sweeper.study.study import ATTR_RUN_ID
from sweeper.sweep import SURPLUS_REASON, Sweep, SweepOptions
from sweeper.tracking.mlflow_runs import TAG_LAST_CHECKPOINT, default_tracking_uri
from sweeper.tracking.ranking import spearman
from tests.conftest import REPO
from tests.sweeper.conftest import SWEEP_FAST, cli, overrides, run_args, write_space

pytestmark = pytest.mark.slow

LR_SPACE = """
training.optimizer_params.learning_rate:
  low: 5.0e-4
  high: 3.0e-3
  log: true
model.heatmap_loss_type:
  choices: [mse, kl]
"""


def _client(root: Path) -> MlflowClient:
    uri = default_tracking_uri(root)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _runs(client: MlflowClient, study: str) -> tuple[list, list]:
    experiment = client.get_experiment_by_name(study)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("sweeper.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("sweeper.role") == "trial"]
    return parents, children


def _study(root: Path, name: str) -> optuna.Study:
    # through open_storage: its file lock keeps this reader from racing a sweep's table creation
    return optuna.load_study(
        study_name=name, storage=open_storage(default_storage_url(root), heartbeat_seconds=60)
    )


def test_three_trial_sweep_is_tracked_and_promoted(
    sweep_data: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path / "space.yaml", LR_SPACE)
    code, out, err = cli(
        monkeypatch,
        capsys,
        *run_args(
            sweep_data,
            space,
            3,
            "--study-name",
            "tiny",
            "--sampler",
            "random",
            "--pruner",
            "none",
            "--seed",
            1,
            *overrides(
                *SWEEP_FAST,
                "eval.predict_vids_after_training=true",
                "eval.save_vids_after_training=true",
            ),
        ),
    )
    assert code == 0, err
    assert "3 complete, 0 pruned, 0 failed" in out
    root = tmp_path / "mlruns"
    assert (root / "optuna.db").is_file() and (root / "mlflow.db").is_file()

    study = _study(root, "tiny")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    client = _client(root)
    parents, children = _runs(client, "tiny")
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["sweeper.best_trial"] == str(study.best_trial.number)
    assert math.isclose(parent.data.metrics["best_value"], study.best_value, rel_tol=1e-9)
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"spaces", "plots", "best_trial.yaml"} <= parent_files
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/optimization_history.html" in plots
    # the MLflow UI: a model-training experiment, trials ranked by the value Optuna got
    experiment = client.get_experiment_by_name("tiny")
    assert experiment is not None
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    best = study.best_trial
    assert experiment.tags["mlflow.note.content"].startswith(
        f"Study tiny minimizes val/pixel_error; best so far: trial {best.number}, "
        f"val_pixel_error = {best.value:.4g}."
    )
    view = json.loads(experiment.tags["mlflow.sharedViewState.sweeper-tiny"])
    assert view["orderByKey"] == "metrics.`val_pixel_error`" and view["orderByAsc"] is True

    by_number = {int(r.data.tags["sweeper.trial_number"]): r for r in children}
    assert sorted(by_number) == [0, 1, 2]
    for trial in study.trials:
        run = by_number[trial.number]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["sweeper.study"] == "tiny"
        assert run.info.status == "FINISHED" and run.data.tags["sweeper.state"] == "COMPLETE"
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
        # sampled params, and the rest of the resolved config
        lr = trial.params["training.optimizer_params.learning_rate"]
        assert float(run.data.params["training.optimizer_params.learning_rate"]) == lr
        assert run.data.params["model.heatmap_loss_type"] == trial.params["model.heatmap_loss_type"]
        assert run.data.params["data.image_resize_dims.height"] == "64"
        assert run.data.params["training.max_epochs"] == "3"
        # per-epoch histories
        for name in ("val/pixel_error", "val/loss", "train/loss"):
            history = client.get_metric_history(run.info.run_id, name)
            assert sorted(m.step for m in history) == [0, 1, 2], name
        assert math.isclose(run.data.metrics["val_pixel_error"], trial.value, rel_tol=1e-9)
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        expected = {"config.yaml", "best.ckpt", "predictions.csv", "predictions_pixel_error.csv"}
        assert expected | {"metrics.json", "trial.log", "logs", "video_preds"} <= files
        videos = {a.path for a in client.list_artifacts(run.info.run_id, "video_preds")}
        assert {"video_preds/synthetic.csv", "video_preds/labeled_videos"} <= videos
    assert not any((root / "trials" / "tiny").glob("trial-*")), "trial dirs are removed once logged"

    code, out, err = cli(monkeypatch, capsys, "promote", "tiny", "--model-name", "mouse")
    assert code == 0, err
    version = client.get_model_version_by_alias("mouse", "champion")
    assert version.tags["sweeper.trial_number"] == str(study.best_trial.number)
    assert version.tags["sweeper.study"] == "tiny"
    mlflow.set_tracking_uri(default_tracking_uri(root))
    mlflow.set_registry_uri(default_tracking_uri(root))
    model = mlflow.pyfunc.load_model("models:/mouse@champion")
    labels = pd.read_csv(sweep_data / "CollectedData.csv", header=[0, 1, 2], index_col=0)
    images = [str(sweep_data / p) for p in labels.index[:4]]
    predicted = model.predict(pd.DataFrame({"image_path": images}))
    keypoints = list(dict.fromkeys(labels.columns.get_level_values(1)))
    assert list(predicted.columns) == [
        f"{k}_{part}" for k in keypoints for part in ("x", "y", "likelihood")
    ]
    assert len(predicted) == 4 and predicted.notna().all().all()
    assert predicted.filter(like="_likelihood").stack().between(0, 1).all()

    code, out, _ = cli(monkeypatch, capsys, "report", "tiny", "--html", tmp_path / "r.html")
    assert code == 0
    assert out.count("complete") == 3
    page = (tmp_path / "r.html").read_text()
    assert "learning_rate" in page and "plotly" in page

    _check_ensemble(sweep_data, tmp_path, client, parent.info.run_id, study, monkeypatch, capsys)


def _check_ensemble(
    data: Path,
    tmp_path: Path,
    client: MlflowClient,
    parent_id: str,
    study: optuna.Study,
    monkeypatch,
    capsys,
) -> None:
    """``sweeper ensemble`` on the tracked study: the members lend the predictions their trials
    logged of the same video, the ensemble is one nested MLflow run with the CSVs and the video."""
    pytest.importorskip("eks", reason="the ensemble extra")
    code, out, err = cli(monkeypatch, capsys, "ensemble", "tiny", data / "videos", "--top-k", "3")
    assert code == 0, err
    assert out.count("reused its trial's predictions of synthetic.mp4") == 3
    out_dir = tmp_path / "tiny-ensemble"
    consensus = pd.read_csv(
        out_dir / "ensemble" / "synthetic_ensemble.csv", header=[0, 1, 2], index_col=0
    )
    smoothed = pd.read_csv(
        out_dir / "ensemble" / "synthetic_eks.csv", header=[0, 1, 2], index_col=0
    )
    truth = pd.read_csv(data / "ground_truth" / "synthetic.csv", header=[0, 1, 2], index_col=0)
    assert len(consensus) == len(smoothed) == len(truth)
    assert {"x_ens_median", "x_ens_var"} <= set(consensus.columns.get_level_values(2))
    assert {"x_posterior_var", "y_posterior_var"} <= set(smoothed.columns.get_level_values(2))
    assert (
        out_dir / "ensemble" / "labeled_videos" / "synthetic_eks_labeled.mp4"
    ).stat().st_size > 0
    ranked = sorted(study.trials, key=lambda t: t.value)
    runs = client.search_runs(
        [client.get_run(parent_id).info.experiment_id],
        filter_string="tags.`sweeper.role` = 'ensemble'",
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.parentRunId"] == parent_id
    assert run.data.tags["sweeper.members"] == ",".join(str(t.number) for t in ranked)
    assert run.data.tags["sweeper.centre"] == "median"
    assert run.data.tags["sweeper.smoother"].startswith("eks ")
    assert {f"distance_px.trial-{t.number}" for t in ranked} <= set(run.data.metrics)
    # EKS smoothed the inliers: the members within 3x the median distance to the centre
    distances = {
        f"trial-{t.number}": run.data.metrics[f"distance_px.trial-{t.number}"] for t in ranked
    }
    cut = 3 * float(np.median(list(distances.values())))
    inliers = [label for label, d in distances.items() if d <= cut]
    assert run.data.tags["sweeper.smoothed_members.synthetic"] == ",".join(inliers)
    left_out = [label for label in distances if label not in inliers]
    assert ("left out of smoothing as outliers" in out) == bool(left_out)
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "ensemble")}
    assert {"ensemble/synthetic_ensemble.csv", "ensemble/synthetic_eks.csv"} <= logged
    # a video the trials never saw: each member predicts it
    other = tmp_path / "other"
    other.mkdir()
    (other / "clip.mp4").write_bytes((data / "videos" / "synthetic.mp4").read_bytes())
    code, out, err = cli(
        monkeypatch, capsys, "ensemble", "tiny", other, "--top-k", "2", "--smoother", "none",
        "--no-save-video", "--output-dir", tmp_path / "e2",
    )  # fmt: skip
    assert code == 0, err
    assert out.count("predicted of clip.mp4") == 2
    assert (tmp_path / "e2" / "ensemble" / "clip_ensemble.csv").is_file()
    assert not (tmp_path / "e2" / "ensemble" / "clip_eks.csv").exists()
    # bad input: one line, exit code 2, nothing new logged
    for args, message in [
        (["--top-k", "4"], "has 3 complete trial(s)"),
        (["--top-k", "1"], "at least 2 members"),
        (["--centre", "mode"], "--centre 'mode': expected one of median, mean"),
        (["--smoother", "kalman"], "--smoother 'kalman': expected one of eks, none"),
    ]:
        code, out, err = cli(monkeypatch, capsys, "ensemble", "tiny", other, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert (
        len(client.search_runs([run.info.experiment_id], "tags.`sweeper.role` = 'ensemble'")) == 2
    )
    _check_ranking(study, client, monkeypatch, capsys)
    _check_ensemble_promotion(data, tmp_path, client, run, study, monkeypatch, capsys)
    _check_seed_members(data, tmp_path, client, study, monkeypatch, capsys)


def _check_seed_members(
    data: Path, tmp_path: Path, client: MlflowClient, study: optuna.Study, monkeypatch, capsys
) -> None:
    """``sweeper ensemble --seeds 2``: the best trial's params retrained with the next model seed
    as a trial of the same study (tracked like any, never pruned), then ensembled with it; the
    next call reuses it instead of training again."""
    best = min(study.trials, key=lambda t: t.value)
    own = int(client.get_run(best.user_attrs["mlflow_run_id"]).data.params[
        "training.rng_seed_model_pt"
    ])  # fmt: skip
    args = ["ensemble", "tiny", data / "videos", "--seeds", "2", "--smoother", "none"]
    code, out, err = cli(monkeypatch, capsys, *args, "--no-save-video", "--output-dir", "e3")
    assert code == 0, err
    assert f"seed members: trials {best.number}, 3 (trial {best.number}'s config)" in out
    trials = _study(tmp_path / "mlruns", "tiny").trials
    assert len(trials) == 4
    retrained = trials[3]
    assert retrained.state == TrialState.COMPLETE and retrained.params == best.params
    assert retrained.value != best.value  # another initialisation, another model
    assert retrained.user_attrs["sweeper.model_seed"] == own + 1
    assert retrained.user_attrs["sweeper.seed_of"] == best.number
    run = client.get_run(retrained.user_attrs["mlflow_run_id"])
    assert run.data.params["training.rng_seed_model_pt"] == str(own + 1)
    assert run.data.tags["sweeper.seed_of"] == str(best.number)
    assert run.info.status == "FINISHED"
    ensembles = client.search_runs(
        [run.info.experiment_id],
        "tags.`sweeper.role` = 'ensemble'",
        order_by=["attributes.start_time DESC"],
    )
    assert ensembles[0].data.tags["sweeper.members"] == f"{best.number},3"
    assert ensembles[0].info.run_name == "tiny-ensemble-seeds2"
    code, out, err = cli(monkeypatch, capsys, *args, "--no-save-video", "--output-dir", "e4")
    assert code == 0, err
    assert len(_study(tmp_path / "mlruns", "tiny").trials) == 4  # reused, not trained again
    code, out, err = cli(monkeypatch, capsys, *args, "--top-k", "2")
    assert code == 2 and "--top-k and --seeds" in err and len(err.strip().splitlines()) == 1


def _rows(out: str, title: str) -> list[list[str]]:
    """The body rows of the Rich table printed under ``title``, as cell texts."""
    lines = out[out.index(title) :].splitlines()
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith("┡")) + 1
    body = []
    for line in lines[first:]:
        if not line.lstrip().startswith("│"):
            break
        body.append([cell.strip() for cell in line.strip().strip("│").split("│")])
    return body


def _check_ranking(study: optuna.Study, client: MlflowClient, monkeypatch, capsys) -> None:
    """``sweeper report --rank-by``: the video metric the trials logged and the newest ensemble's
    member distances rank the trials, with their agreement with the validation error."""
    metric = "video.temporal_jump_rate"
    code, out, err = cli(monkeypatch, capsys, "report", "tiny", "--rank-by", metric)
    assert code == 0, err
    rows = _rows(out, f"ranked by {metric}")
    assert sorted(int(r[1]) for r in rows) == [0, 1, 2]
    rates = [float(r[2]) for r in rows]
    assert rates == sorted(rates)
    runs = {t.number: client.get_run(t.user_attrs["mlflow_run_id"]) for t in study.trials}
    for row in rows:
        assert float(row[2]) == pytest.approx(runs[int(row[1])].data.metrics[metric], rel=1e-3)
        assert float(row[3]) == pytest.approx(study.trials[int(row[1])].value, rel=1e-3)
    agreement = {r[0]: r[1:] for r in _rows(out, "agreement with val_pixel_error")}
    assert agreement[f"{metric} *"][0] == "3"
    numbers = sorted(runs)
    rho = spearman(
        [runs[n].data.metrics[metric] for n in numbers], [study.trials[n].value for n in numbers]
    )
    shown = agreement[f"{metric} *"][1]
    assert shown == f"{rho:+.2f}" if rho is not None else shown.startswith("- (needs 3+")
    # the newest ensemble (the top 2, second call) has two members: too few to correlate
    code, out, err = cli(monkeypatch, capsys, "report", "tiny", "--rank-by", "ensemble.distance_px")
    assert code == 0, err
    rows = _rows(out, "ranked by ensemble.distance_px")
    best_two = sorted(study.trials, key=lambda t: t.value)[:2]
    assert sorted(int(r[1]) for r in rows) == sorted(t.number for t in best_two)
    agreement = {r[0]: r[1:] for r in _rows(out, "agreement with val_pixel_error")}
    assert agreement["ensemble.distance_px *"][0] == "2"
    assert agreement["ensemble.distance_px *"][1].startswith("- (needs 3+")
    code, out, err = cli(monkeypatch, capsys, "report", "tiny", "--rank-by", "video.nothing")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (
        "--rank-by 'video.nothing': expected one of ensemble.distance_px, "
        f"video.pca_singleview_error, {metric} (or videos.<video file>.<metric> for one video)"
    ) in err


def _check_ensemble_promotion(
    data: Path, tmp_path: Path, client: MlflowClient, run, study, monkeypatch, capsys
) -> None:
    """``sweeper promote --ensemble``: one pyfunc that a fresh process loads by alias; its output
    is the members' median and variance of what each member predicts on its own."""
    run_id = run.info.run_id
    code, out, err = cli(
        monkeypatch, capsys, "promote", "tiny", "--ensemble", run_id, "--model-name", "herd"
    )
    assert code == 0, err
    members = run.data.tags["sweeper.members"]
    assert f"promoted the ensemble of trials {members.replace(',', ', ')} (median)" in out
    version = client.get_model_version_by_alias("herd", "champion")
    assert version.tags["sweeper.ensemble_run"] == run_id
    assert client.get_run(run_id).info.status == "FINISHED"
    labels = pd.read_csv(data / "CollectedData.csv", header=[0, 1, 2], index_col=0)
    images = [str(data / p) for p in labels.index[:4]]
    script = (
        "import sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({default_tracking_uri(tmp_path / 'mlruns')!r})\n"
        "model = mlflow.pyfunc.load_model('models:/herd@champion')\n"
        f"model.predict(pd.DataFrame({{'image_path': {images!r}}})).to_csv(sys.argv[1])\n"
    )
    target = tmp_path / "herd.csv"
    done = subprocess.run(
        [sys.executable, "-c", script, str(target)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    predicted = pd.read_csv(target, index_col=0)
    keypoints = list(dict.fromkeys(labels.columns.get_level_values(1)))
    parts = ("x", "y", "likelihood", "x_ens_var", "y_ens_var")
    assert list(predicted.columns) == [f"{k}_{p}" for k in keypoints for p in parts]
    from pose.predict.images import load_trained, predict_images
    from sweeper.tracking.models import resolve_model

    each = []
    for member_run in run.data.tags["sweeper.member_runs"].split(","):
        files = resolve_model(
            f"runs:/{member_run}", default_tracking_uri(tmp_path / "mlruns"), tmp_path / member_run
        )
        each.append(predict_images(load_trained(*files), images)[0])
    xy = np.stack(each)  # [members, images, keypoints, 2]
    for k, name in enumerate(keypoints):
        for c, axis in enumerate("xy"):
            got = predicted[f"{name}_{axis}"].to_numpy()
            assert np.allclose(got, np.median(xy[:, :, k, c], axis=0), atol=1e-3)
            var = predicted[f"{name}_{axis}_ens_var"].to_numpy()
            assert np.allclose(var, xy[:, :, k, c].var(axis=0), rtol=1e-3, atol=1e-3)
    assert predicted.filter(like="_ens_var").to_numpy().max() > 0  # the members differ
    # the engine's own commands take one model: the promoted ensemble is refused by name
    code, out, err = cli(monkeypatch, capsys, "predict", "models:/herd@champion", data / "videos")
    assert code == 2 and "models:/herd@champion is an ensemble" in err, err
    # bad input: a trial's run is not an ensemble; one line, exit code 2
    trial_run = study.best_trial.user_attrs["mlflow_run_id"]
    code, out, err = cli(
        monkeypatch, capsys, "promote", "tiny", "--ensemble", trial_run, "--model-name", "herd"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"--ensemble {trial_run}: not an ensemble of study 'tiny' (a trial run" in err
    assert len(client.search_model_versions("name='herd'")) == 1


def test_crashing_and_pruned_trials_end_in_the_right_states(
    sweep_data: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "mlruns"
    space = write_space(
        tmp_path / "space.yaml",
        "training.optimizer_params.learning_rate: {choices: [0.002, .inf]}\n"
        "data.csv_file: {choices: [CollectedData.csv, broken.csv]}\n",
    )
    root.mkdir()
    study = optuna.create_study(study_name="faults", storage=default_storage_url(root))
    for lr, csv in [
        (0.002, "CollectedData.csv"),
        (0.002, "CollectedData.csv"),
        (0.002, "broken.csv"),  # a missing image: this trial crashes
        (math.inf, "CollectedData.csv"),  # diverges (NaN val loss): pruned
    ]:
        study.enqueue_trial({"training.optimizer_params.learning_rate": lr, "data.csv_file": csv})
    code, out, err = cli(
        monkeypatch,
        capsys,
        *run_args(
            sweep_data,
            space,
            3,
            "--study-name",
            "faults",
            "--pruner-startup-trials",
            2,
            "--pruner-warmup-epochs",
            1,
            "--metric",
            "val/loss",
            *overrides(*SWEEP_FAST),
        ),
    )
    assert code == 0, err
    states = [t.state for t in _study(root, "faults").trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED]
    trials = _study(root, "faults").trials
    assert "missing.png" in trials[2].user_attrs["reason"]
    assert "pruned after epoch" in trials[3].user_attrs["reason"]
    assert all("reason" not in t.user_attrs for t in trials[:2]), "complete trials have no reason"
    assert _study(root, "faults").metric_names == ["val/loss"]  # optuna-dashboard's label

    _, children = _runs(_client(root), "faults")
    by_number = {int(r.data.tags["sweeper.trial_number"]): r for r in children}
    assert [by_number[n].info.status for n in range(4)] == [
        "FINISHED",
        "FINISHED",
        "FAILED",
        "KILLED",
    ]
    assert by_number[2].data.tags["sweeper.state"] == "FAIL"
    assert "missing.png" in by_number[2].data.tags["sweeper.reason"]
    assert by_number[3].data.tags["sweeper.state"] == "PRUNED"
    assert "trial.log" in {a.path for a in _client(root).list_artifacts(by_number[2].info.run_id)}
    assert "trial 2 fail" in out and "trial 3 pruned" in out


def _sweep_command(data: Path, space: Path, study: str, n_trials: int, *extra: str) -> list[str]:
    """``python -m sweeper run ...`` with the fast trial overrides (``extra`` comes after them,
    so its overrides win) and no pruning."""
    return [
        sys.executable,
        "-m",
        "sweeper",
        *run_args(
            data,
            space,
            n_trials,
            "--study-name",
            study,
            "--pruner",
            "none",
            *overrides(*SWEEP_FAST),
            *extra,
        ),
    ]


def _five_epoch_command(data: Path, space: Path, study: str) -> list[str]:
    """Trials of 5 epochs with a 1 s heartbeat: long enough to be caught mid-trial."""
    return _sweep_command(
        data,
        space,
        study,
        3,
        "--heartbeat",
        "1",
        "--override",
        "training.max_epochs=5",
        "--override",
        "training.min_epochs=5",
    )


def _logged_checkpoint(root: Path, trial: optuna.trial.FrozenTrial) -> str | None:
    """The periodic checkpoint a trial's run has logged whole (its ``sweeper.last_checkpoint``)."""
    run_id = trial.user_attrs.get(ATTR_RUN_ID)
    return _client(root).get_run(run_id).data.tags.get(TAG_LAST_CHECKPOINT) if run_id else None


def test_killed_sweep_resumes_without_losing_or_repeating_trials(
    sweep_data: Path, tmp_path: Path
) -> None:
    """Killed mid-trial and run again: finished trials stay, the killed one is retried once and
    goes on from the last periodic checkpoint its run logged, with the epochs before it carried."""
    root = tmp_path / "mlruns"
    space = write_space(tmp_path / "space.yaml", LR_SPACE)
    command = _five_epoch_command(sweep_data, space, "resume")
    command += ["--override", "training.ckpt_every_n_epochs=2"]  # after epochs 1 and 3
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    try:
        # kill while a later trial is mid-training: it has reported an epoch (so its params and
        # MLflow run exist) and has epochs left (a sleep instead raced fast trials on CI)
        while time.monotonic() < deadline:
            time.sleep(0.2)
            assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
            if not (root / "optuna.db").is_file():
                continue
            try:
                trials = _study(root, "resume").trials
            except KeyError:  # the study is not created yet
                continue
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            running = [t for t in trials if t.state == TrialState.RUNNING]
            if (
                complete
                and running
                and running[0].number > complete[-1].number
                and 0 < len(running[0].intermediate_values) < 4
                and _logged_checkpoint(root, running[0])
            ):
                break
        else:
            pytest.fail("the first sweep never reached its second trial")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    before = {t.number: t for t in _study(root, "resume").trials}
    finished_before = {n: t for n, t in before.items() if t.state == TrialState.COMPLETE}
    killed = [n for n, t in before.items() if t.state == TrialState.RUNNING]
    assert finished_before and len(killed) == 1
    checkpoint = _logged_checkpoint(root, before[killed[0]])
    assert checkpoint in ("checkpoints/epoch=1.ckpt", "checkpoints/epoch=3.ckpt")
    resumed_after = int(checkpoint.removesuffix(".ckpt").split("=")[1])

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=600)
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    after = _study(root, "resume").trials
    finished = [t for t in after if t.state == TrialState.COMPLETE]
    assert len(finished) == 3, [(t.number, t.state) for t in after]
    for number, trial in finished_before.items():  # kept as they were, not re-run
        assert after[number].state == TrialState.COMPLETE
        assert after[number].value == trial.value
        assert after[number].datetime_complete == trial.datetime_complete
    (stale,) = killed
    assert after[stale].state == TrialState.FAIL
    retried = [t for t in after if t.system_attrs.get("failed_trial") == stale]
    assert len(retried) == 1 and retried[0].params == after[stale].params
    # one MLflow run per trial; the killed trial's run no longer claims to be running
    _, children = _runs(_client(root), "resume")
    assert len(children) == len(after)
    statuses = {int(r.data.tags["sweeper.trial_number"]): r.info.status for r in children}
    assert statuses[stale] == "KILLED"  # its worker died: not a failure of its params
    assert sorted(statuses.values()).count("FINISHED") == 3
    retry_run = next(
        r for r in children if r.data.tags["sweeper.trial_number"] == str(retried[0].number)
    )
    assert retry_run.data.tags["sweeper.retry_of"] == str(stale)
    assert retry_run.data.tags["sweeper.retries"] == "1"
    # it trained only the epochs after the checkpoint, and shows all five in Optuna and MLflow
    assert retry_run.data.tags["sweeper.resumed_from"].endswith(checkpoint)
    assert retry_run.data.metrics["epochs_run"] == 4 - resumed_after
    assert sorted(retried[0].intermediate_values) == [0, 1, 2, 3, 4]
    history = _client(root).get_metric_history(retry_run.info.run_id, "val/pixel_error")
    assert sorted(m.step for m in history) == [0, 1, 2, 3, 4]
    carried = {m.step: m.value for m in history if m.step <= resumed_after}
    assert carried == {
        e: v for e, v in after[stale].intermediate_values.items() if e <= resumed_after
    }
    # no retry will resume from them now: the periodic checkpoints are gone from both runs
    dead_run = next(r for r in children if r.data.tags["sweeper.trial_number"] == str(stale))
    for run in (dead_run, retry_run):
        assert _client(root).list_artifacts(run.info.run_id, "checkpoints") == []
    assert "best.ckpt" in {a.path for a in _client(root).list_artifacts(retry_run.info.run_id)}


def test_four_local_workers_share_one_embedded_study(sweep_data: Path, tmp_path: Path) -> None:
    """``--workers 4`` on fresh embedded stores: four ``sweeper run`` processes start at once, no
    "database is locked" reaches anyone, one parent run, and together they top the study up to N
    finished trials with one MLflow run per trial (training replaced by the wait engine of
    bench/scaling.py: it is the stores under concurrent workers that this test is about)."""
    space = write_space(tmp_path / "space.yaml", LR_SPACE)
    command = _sweep_command(sweep_data, space, "shared", 6, "--workers", "4")
    # trials that wait instead of training: everything the stores see happens for real, faster
    env = {**os.environ, "PYTHONPATH": str(REPO), "SWEEPER_TRIAL_ENGINE": "wait:2"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=900)
    logs = sorted((tmp_path / "mlruns" / "workers" / "shared").glob("worker-*.log"))
    text = done.stdout.decode() + done.stderr.decode() + "".join(p.read_text() for p in logs)
    assert done.returncode == 0, text[-3000:]
    assert len(logs) == 4 and "locked" not in text
    assert "study shared: " in done.stdout.decode()
    root = tmp_path / "mlruns"
    trials = _study(root, "shared").trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    # workers asking at the same instant end the trials beyond N unrun, never with a run
    surplus = [t for t in trials if t.user_attrs.get("reason") == SURPLUS_REASON]
    assert len(complete) == 6 and len(complete) + len(surplus) == len(trials)
    parents, children = _runs(_client(root), "shared")
    assert len(parents) == 1
    assert sorted(int(r.data.tags["sweeper.trial_number"]) for r in children) == [
        t.number for t in complete
    ]
    assert {r.info.status for r in children} == {"FINISHED"}


def test_ctrl_c_marks_the_running_trial_and_exits_130(sweep_data: Path, tmp_path: Path) -> None:
    space = write_space(tmp_path / "space.yaml", LR_SPACE)
    command = _five_epoch_command(sweep_data, space, "stopped")
    command += ["--override", "training.max_epochs=60", "--override", "training.min_epochs=60"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    sweep = subprocess.Popen(  # own process group: Ctrl-C in a terminal signals the whole group
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    root, deadline = tmp_path / "mlruns", time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            assert sweep.poll() is None, sweep.communicate()[1].decode()[-2000:]
            if not (root / "optuna.db").is_file():
                continue
            try:
                trials = _study(root, "stopped").trials
            except KeyError:
                continue
            # the trial's child is past its start-up (where it begins ignoring Ctrl-C, which is the
            # sweep's) once it has reported an epoch; a trial is RUNNING from the moment it is asked
            if trials and trials[0].state == TrialState.RUNNING and trials[0].intermediate_values:
                break
        os.killpg(sweep.pid, signal.SIGINT)
        time.sleep(0.5)  # an impatient second Ctrl-C while the trial is being marked: ignored
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sweep.pid, signal.SIGINT)
        out, err = sweep.communicate(timeout=120)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 130, (out.decode()[-2000:], err.decode()[-2000:])
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    (trial,) = _study(root, "stopped").trials
    assert trial.state == TrialState.FAIL and "interrupted" in trial.user_attrs["reason"]
    parents, (child,) = _runs(_client(root), "stopped")
    assert child.info.status == "KILLED" and "interrupted" in child.data.tags["sweeper.reason"]
    assert parents[0].info.status == "FINISHED"


def test_a_stalled_sweep_loop_keeps_its_own_trials_alive(
    sweep_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep loop stalls past the grace period (as when it ends a dead worker's run on an
    unreachable tracking server) while its trial trains: the heartbeat thread keeps the trial
    from being failed as stale, by this worker's own check included."""
    real = optuna.storages.fail_stale_trials
    stalls: list[int] = []

    def stalling(study: optuna.Study) -> list[int]:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if running and running[0].intermediate_values and not stalls:
            stalls.append(running[0].number)
            time.sleep(5)  # the grace period is 2 heartbeats of 1 s
        return real(study)

    monkeypatch.setattr(optuna.storages, "fail_stale_trials", stalling)
    space = write_space(tmp_path / "space.yaml", LR_SPACE)
    opts = SweepOptions(
        base_config=sweep_data / "config.yaml",
        spaces=[space],
        n_trials=1,
        study_name="stalled",
        root=tmp_path / "mlruns",
        heartbeat_seconds=1,
        # epochs left after the first report outlast the stall
        overrides=[*SWEEP_FAST, "training.max_epochs=10", "training.min_epochs=10"],
    )
    Sweep(opts).run()
    assert stalls == [0]
    (trial,) = _study(tmp_path / "mlruns", "stalled").trials
    assert trial.state == TrialState.COMPLETE, trial.user_attrs.get("reason")
    assert len(trial.intermediate_values) == 10


def _fail_when_stale(study: optuna.Study, number: int) -> None:
    """Check for stale trials until trial ``number`` is no longer RUNNING (at most 30 s): stale
    once the grace period of 2 heartbeats has passed; SQLite's clock counts whole seconds, so
    poll rather than sleep a fixed time."""
    deadline = time.monotonic() + 30
    while study.trials[number].state == TrialState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.5)
        optuna.storages.fail_stale_trials(study)


def test_a_trial_killed_before_its_run_started_gets_a_killed_run(
    sweep_data: Path, tmp_path: Path
) -> None:
    """A worker killed between asking a trial and creating its MLflow run: the worker that finds
    the trial stale gives it a KILLED run with its params and the reason, and queues it again."""
    root = tmp_path / "mlruns"
    space = write_space(tmp_path / "space.yaml", LR_SPACE)
    opts = SweepOptions(
        base_config=sweep_data / "config.yaml",
        spaces=[space],
        n_trials=2,
        study_name="early",
        root=root,
        heartbeat_seconds=1,
        overrides=list(SWEEP_FAST),
    )
    killed = Sweep(opts)
    trial = killed.study.ask()  # the dead worker asked and sampled, then died
    sampled = killed.space.labels(killed.space.sample(trial))
    killed.storage.record_heartbeat(trial._trial_id)

    survivor = Sweep(opts)
    _fail_when_stale(survivor.study, 0)
    trials = survivor.study.trials
    assert trials[0].state == TrialState.FAIL
    assert trials[1].state == TrialState.WAITING and trials[1].params == trials[0].params
    _, (run,) = _runs(_client(root), "early")
    assert run.info.status == "KILLED" and run.data.tags["sweeper.trial_number"] == "0"
    assert "stopped sending heartbeats" in run.data.tags["sweeper.reason"]
    assert run.data.params == sampled and len(sampled) == 2
    # found stale again (another worker's view): no second run
    survivor._on_stale_trial(survivor.study, trials[0])
    assert len(_runs(_client(root), "early")[1]) == 1

    # the retry's worker dies before making its run too: the retry gets a KILLED run of its own,
    # though it inherited the trial it retries (and that trial's run id attribute, when it had one)
    retry = killed.study.ask()
    assert retry.number == 1
    killed.storage.record_heartbeat(retry._trial_id)
    retry.set_user_attr(ATTR_RUN_ID, run.info.run_id)  # as inherited from a trial that had a run
    _fail_when_stale(survivor.study, 1)
    _, runs = _runs(_client(root), "early")
    by_trial = {r.data.tags["sweeper.trial_number"]: r.info.status for r in runs}
    assert by_trial == {"0": "KILLED", "1": "KILLED"}
