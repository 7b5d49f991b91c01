"""A tracked sweep over the transformer's backbones on the synthetic 3-camera data."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from sweeper.study.storage import default_storage_url, open_storage
from sweeper.tracking.mlflow_runs import default_tracking_uri
from tests.sweeper.conftest import MULTIVIEW_FAST, cli, overrides, run_args, write_space


@pytest.mark.slow
def test_sweep_over_transformer_backbones_is_tracked(
    multiview_data: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    data = tmp_path / "data"
    shutil.copytree(multiview_data, data)
    config = data / "config.yaml"
    config.write_text(config.read_text().replace(str(multiview_data), str(data)))
    space = write_space(
        tmp_path / "space.yaml", "model.backbone:\n  choices: [vits_dino, vits_dinov3]\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(
        monkeypatch,
        capsys,
        *run_args(
            data,
            space,
            2,
            "--study-name",
            "rig",
            "--sampler",
            "grid",
            "--pruner",
            "none",
            *overrides(*MULTIVIEW_FAST),
        ),
    )
    assert code == 0, err
    assert "2 complete, 0 pruned, 0 failed" in out
    root = tmp_path / "mlruns"
    study = optuna.load_study(
        study_name="rig", storage=open_storage(default_storage_url(root), heartbeat_seconds=60)
    )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert {t.params["model.backbone"] for t in study.trials} == {"vits_dino", "vits_dinov3"}
    uri = default_tracking_uri(root)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("rig")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 2
    for run in children:
        assert run.info.status == "FINISHED"
        assert "val/pixel_error" in run.data.metrics
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"predictions_cam0.csv", "predictions_cam2.csv", "config.yaml"} <= files
        assert "predictions_3d.csv" in files  # calibrated: the labeled moments in 3D
    # the pyfunc predicts single images: a multiview model is refused in one line, nothing registered
    code, _, err = cli(monkeypatch, capsys, "promote", "rig", "--model-name", "rig-model")
    assert code == 2 and "multiview model" in err and len(err.strip().splitlines()) == 1
    assert not client.search_registered_models(filter_string="name='rig-model'")
