"""Lightning Pose's default multiview config trains here on the synthetic 3-camera data: with the
calibration (3D augmentation and the reprojection loss), on bounding-box crops, without the
calibration, and with pca_multiview."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pose.config import load_config
from pose.data import read_labels
from pose.errors import DataError
from pose.pipeline import train
from pose.predict import read_predictions
from tests.conftest import PEER_CONFIGS, require

VIEWS = ["cam0", "cam1", "cam2"]


def _default_multiview(data: Path, *extra: str, crops: bool = False):
    """LP's file with the data paths, csv_file, view_names and bbox_file of this data set (null
    without ``crops``); shortened to one epoch at 64x64 from random init (its ViT weights are not
    downloadable here)."""
    path = require(PEER_CONFIGS / "lightning-pose_config_default_multiview.yaml")
    csvs = ",".join(f"CollectedData_{v}.csv" for v in VIEWS)
    boxes = ",".join(f"bboxes_{v}.csv" for v in VIEWS)
    return load_config(
        path,
        [
            f"data.data_dir={data}",
            f"data.video_dir={data / 'videos'}",
            f"data.csv_file=[{csvs}]",
            f"data.view_names=[{','.join(VIEWS)}]",
            # the file's own comment: delete it without bounding boxes
            f"data.bbox_file=[{boxes}]" if crops else "data.bbox_file=null",
            "model.backbone_pretrained=false",
            "data.image_resize_dims.height=64",
            "data.image_resize_dims.width=64",
            "training.max_epochs=1",
            "training.min_epochs=1",
            "training.lr_scheduler_params.multisteplr.milestones=[]",
            *extra,
        ],
    )


def _log(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "logs" / "metrics.csv")


@pytest.mark.slow
def test_default_multiview_config_trains_with_calibration(
    multiview_data: Path, tmp_path: Path
) -> None:
    cfg = _default_multiview(multiview_data)
    assert cfg.model.model_type == "heatmap_multiview_transformer" and cfg.training.imgaug_3d
    out = tmp_path / "run"
    metrics = train(cfg, out, progress_bar=False).metrics
    log = _log(out)
    assert log["train/supervised_reprojection_heatmap_mse_loss"].notna().any()
    assert log["train/patch_mask_ratio"].dropna().tolist() == [
        0.0
    ]  # LP's curriculum: from epoch 40
    for view in VIEWS:
        preds = read_predictions(out / f"predictions_{view}.csv")
        assert len(preds) == 24 and str(preds.index[0]).startswith(f"labeled-data/poses_{view}/")
        assert metrics["pixel_error_by_view"][view]["train"] > 0
    saved = json.loads((out / "metrics.json").read_text())
    assert set(saved["pixel_error_by_view"]) == set(VIEWS)
    # the labeled moments triangulated, and LP's predict_vids_after_training: one CSV per view + 3D
    points = pd.read_csv(out / "predictions_3d.csv", header=[0, 1, 2], index_col=0)
    assert points.shape == (24, 3 * len(cfg.data.keypoint_names)) and points.notna().any().any()
    assert saved["videos"]["synthetic"] == {
        "frames": 16,
        "views": [f"synthetic_{v}.mp4" for v in VIEWS],
    }
    for view in VIEWS:
        assert len(read_predictions(out / "video_preds" / f"synthetic_{view}.csv")) == 16
    assert len(pd.read_csv(out / "video_preds" / "synthetic_3d.csv", header=[0, 1, 2])) == 16


@pytest.mark.slow
def test_default_multiview_config_trains_on_crops(multiview_crops: Path, tmp_path: Path) -> None:
    """LP's default with its bbox_file: every view's predictions and errors in full-frame pixels
    (the ground truth's), the reprojection loss and the 3D predictions in the calibrated frames,
    and the videos after training predicted as whole frames."""
    cfg = _default_multiview(multiview_crops, crops=True)
    assert cfg.data.bbox_file == [f"bboxes_{v}.csv" for v in VIEWS] and cfg.training.imgaug_3d
    out = tmp_path / "run"
    metrics = train(cfg, out, progress_bar=False).metrics
    names = list(cfg.data.keypoint_names or [])
    for view in VIEWS:
        preds = read_predictions(out / f"predictions_{view}.csv")
        xy = np.stack([preds.xs(c, axis=1, level=2).to_numpy(float) for c in ("x", "y")], -1)
        truth = read_labels(multiview_crops / "ground_truth" / f"labeled_{view}.csv").keypoints
        labeled = read_labels(multiview_crops / f"CollectedData_{view}.csv").keypoints
        expected = np.where(np.isnan(labeled[..., 0]), np.nan, np.linalg.norm(xy - truth, axis=-1))
        errors = pd.read_csv(out / f"predictions_{view}_pixel_error.csv", index_col=0)
        np.testing.assert_allclose(errors[names].to_numpy(float), expected, rtol=1e-4)
        assert metrics["pixel_error_by_view"][view]["train"] > 0
    assert _log(out)["train/supervised_reprojection_heatmap_mse_loss"].notna().any()
    points = pd.read_csv(out / "predictions_3d.csv", header=[0, 1, 2], index_col=0)
    assert points.shape == (24, 3 * len(names)) and points.notna().any().any()
    for view in VIEWS:
        assert len(read_predictions(out / "video_preds" / f"synthetic_{view}.csv")) == 16


@pytest.mark.slow
def test_default_multiview_config_trains_without_calibration(
    multiview_data: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(multiview_data, data)
    (data / "calibration.toml").unlink()
    out = tmp_path / "run"
    # as in Lightning Pose, what needs a calibration is refused without one, before any output
    with pytest.raises(DataError, match="training.imgaug_3d': 3D augmentation needs"):
        train(_default_multiview(data), out, progress_bar=False)
    no_3d = "training.imgaug_3d=false"
    with pytest.raises(DataError, match="reprojection loss needs the cameras' calibration"):
        train(_default_multiview(data, no_3d), out, progress_bar=False)
    assert not out.exists()
    cfg = _default_multiview(
        data, no_3d, "losses.supervised_reprojection_heatmap_mse.log_weight=null"
    )
    train(cfg, out, progress_bar=False)
    log = _log(out)
    # nothing to triangulate with: no reprojection loss, no 3D augmentation (as Lightning Pose)
    assert "train/supervised_reprojection_heatmap_mse_loss" not in log.columns
    assert log["train/loss_epoch"].notna().any()


@pytest.mark.slow
def test_default_multiview_config_trains_with_pca_multiview(
    multiview_data: Path, tmp_path: Path
) -> None:
    cfg = _default_multiview(
        multiview_data,
        "model.losses_to_use=[pca_multiview]",
        "dali.base.train.sequence_length=4",
        "training.patch_mask.init_epoch=0",
        "training.patch_mask.init_ratio=0.25",
    )
    out = tmp_path / "run"
    train(cfg, out, progress_bar=False)
    log = _log(out)
    terms = log["train/pca_multiview_loss"].dropna()
    assert len(terms) == 1 and float(terms.iloc[0]) > 0  # a random model's views disagree
    assert log["train/patch_mask_ratio"].dropna().tolist() == [0.25]
