"""A sweep over the shipped unsupervised-loss space on the mirror-mouse example: each trial's child
run holds its losses' terms per epoch and the label-free video metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from sweeper.tracking.mlflow_runs import default_tracking_uri
from tests.conftest import MIRROR_MOUSE, REPO, require
from tests.sweeper.conftest import cli, overrides

pytestmark = pytest.mark.slow


def test_sweep_over_the_unsupervised_space_tracks_every_loss_term_and_video_metric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = require(MIRROR_MOUSE)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(
        monkeypatch,
        capsys,
        "run",
        REPO / "configs" / "base" / "mirror-mouse-resnet18.yaml",
        "--space",
        REPO / "configs" / "search_spaces" / "unsupervised.yaml",
        "-n",
        2,
        "--study-name",
        "unsup",
        "--sampler",
        "random",
        "--seed",
        3,  # draws all three losses, then temporal alone
        "--pruner",
        "none",
        *overrides(
            f"data.data_dir={data}",
            "data.image_resize_dims.height=64",
            "data.image_resize_dims.width=64",
            "training.max_epochs=2",
            "training.min_epochs=2",
            "training.lr_scheduler_params.multisteplr.milestones=[]",
            "training.num_workers=0",
            "training.train_batch_size=16",
            "dali.base.train.sequence_length=4",
            "callbacks.anneal_weight.init_val=1.0",
            "eval.predict_vids_after_training=true",
        ),
    )
    assert code == 0, err
    assert "2 complete, 0 pruned, 0 failed" in out
    uri = default_tracking_uri(tmp_path / "mlruns")
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("unsup")
    assert experiment is not None
    runs = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if r.data.tags.get("sweeper.role") == "trial"
    ]
    drawn = []
    for run in runs:
        losses = yaml.safe_load(run.data.params["model.losses_to_use"])  # [a, b], as sampled
        drawn.append(sorted(losses))
        for name in losses:
            history = client.get_metric_history(run.info.run_id, f"train/{name}_loss")
            assert [m.step for m in history] == [0, 1] and all(m.value > 0 for m in history)
            assert f"losses.{name}.log_weight" in run.data.params
        # the label-free metrics of every trial, whatever it trained with
        metrics = run.data.metrics
        for key in ("pca_singleview_error", "pca_multiview_error", "temporal_jump_rate"):
            assert f"video.{key}" in metrics and metrics[f"video.{key}"] >= 0, key
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "video_preds")}
        assert "video_preds/test_vid_pca_multiview_error.csv" in artifacts
    assert sorted(drawn) == [["pca_multiview", "pca_singleview", "temporal"], ["temporal"]]
