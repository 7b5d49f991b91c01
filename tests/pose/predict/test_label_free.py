"""Label-free video metrics: Lightning Pose's PCA error CSVs and the temporal jump rate, on
trajectories with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pose.config.loader import build_config
from pose.predict.label_free import LabelFreeMetrics, mean_over_videos


def _cfg(**data: object):
    return build_config(
        {
            "data": {
                "data_dir": "/data",
                "csv_file": "c.csv",
                "num_keypoints": 3,
                "keypoint_names": ["a", "b", "c"],
                **data,
            },
            "model": {"backbone": "resnet18"},
            "losses": {"temporal": {"epsilon": 5.0}, "pca_singleview": {"components_to_keep": 2}},
            "training": {"max_epochs": 2, "min_epochs": 1},
        }
    )


def test_metrics_known_answers_and_lightning_pose_csv_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # labels: keypoints a and b move together along x and y; c anywhere (not in the PCA)
    xy = rng.uniform(20, 80, size=(50, 2))
    labels = np.stack([xy, xy + [10.0, 0.0], rng.uniform(0, 99, size=(50, 2))], axis=1)
    metrics = LabelFreeMetrics.fit(_cfg(columns_for_singleview_pca=[0, 1]), labels)
    assert set(metrics.pcas) == {"pca_singleview"}  # no mirrored columns, no multiview PCA
    # a video: 5 frames of the same rigid pose, b pulled 3 px off it in frame 2; c jumps 8 px twice
    video = np.repeat(labels[:1], 5, axis=0).copy()
    video[2, 1, 1] += 3.0
    video[3:, 2, 0] += 8.0
    video[4, 2, 0] += 8.0
    summary = metrics.write(video, ["a", "b", "c"], tmp_path, "clip")
    errors = pd.read_csv(tmp_path / "clip_pca_singleview_error.csv", index_col=0)
    assert list(errors.columns) == ["a", "b", "c"] and len(errors) == 5
    assert errors["c"].isna().all()
    # b's 3 px off the line a-b moves on shows as 1.5 px at each of a and b
    np.testing.assert_allclose(errors.loc[2, ["a", "b"]], [1.5, 1.5], atol=1e-3)
    np.testing.assert_allclose(errors.drop(index=2)[["a", "b"]], 0, atol=1e-3)
    assert summary["pca_singleview_error"] == pytest.approx(3.0 / 10, abs=1e-3)
    # jumps beyond 5 px: c twice (frames 2-3, 3-4) of 4 pairs x 3 keypoints; b's 3 px are not
    assert summary["temporal_jump_rate"] == pytest.approx(2 / 12)


def test_unfittable_pca_is_left_out_with_a_warning() -> None:
    labels = np.random.default_rng(1).uniform(0, 50, size=(3, 3, 2))  # 3 frames, 6 dimensions
    with pytest.warns(UserWarning, match="pca_singleview video metric left out"):
        metrics = LabelFreeMetrics.fit(_cfg(columns_for_singleview_pca=[0, 1, 2]), labels)
    assert metrics.pcas == {} and metrics.temporal is not None


def test_mean_over_videos_averages_each_figure_where_present() -> None:
    videos = {
        "a.mp4": {"frames": 10, "pca_singleview_error": 2.0, "temporal_jump_rate": 0.1},
        "b.mp4": {"frames": 20, "pca_singleview_error": 4.0},
    }
    assert mean_over_videos(videos) == {"pca_singleview_error": 3.0, "temporal_jump_rate": 0.1}
