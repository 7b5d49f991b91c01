"""Known-answer accuracy: a short CPU run on the synthetic example beats the mean-pose baseline by far,
and training on the real mirror-mouse example runs to completion."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import av
import numpy as np
import pytest

from pose.config import load_config
from pose.data import read_labels
from pose.data.synthetic import make_example_dataset
from pose.predict import read_predictions
from pose.predict.images import load_trained
from pose.predict.video import predict_video
from pose.train import train
from pose.video import open_video
from tests.conftest import MIRROR_MOUSE, require, write_mjpeg


@pytest.mark.slow
def test_synthetic_training_beats_mean_pose_baseline(tmp_path: Path) -> None:
    config = make_example_dataset(tmp_path / "data", n_images=200, n_video_frames=30, seed=3)
    videos = ["eval.predict_vids_after_training=true", "eval.save_vids_after_training=true"]
    result = train(
        load_config(config, ["training.num_workers=2", *videos]),
        tmp_path / "run",
        progress_bar=False,
    )

    labels = read_labels(tmp_path / "data" / "CollectedData.csv")
    preds = read_predictions(tmp_path / "run" / "predictions.csv")
    sets = preds[("set", "", "")].to_numpy()
    truth = labels.keypoints
    # baseline: always predict the mean training pose
    mean_pose = np.nanmean(truth[sets == "train"], axis=0)
    test = sets == "test"
    baseline = np.nanmean(np.linalg.norm(truth[test] - mean_pose, axis=-1))
    model_error = result.metrics["pixel_error"]["test"]
    # the written predictions agree with the metric
    xy = np.stack(
        [
            preds.xs("x", axis=1, level=2).to_numpy(float),
            preds.xs("y", axis=1, level=2).to_numpy(float),
        ],
        -1,
    )
    assert np.nanmean(np.linalg.norm(xy[test] - truth[test], axis=-1)) == pytest.approx(
        model_error, rel=1e-3
    )
    assert baseline > 20
    assert model_error < 0.25 * baseline, (model_error, baseline)
    assert model_error < 6.0

    # eval.predict_vids_after_training: the synthetic video, one row per frame, near its truth
    assert result.metrics["videos"] == {"synthetic.mp4": {"frames": 30}}
    video_preds = read_predictions(tmp_path / "run" / "video_preds" / "synthetic.csv")
    truth_video = read_labels(tmp_path / "data" / "ground_truth" / "synthetic.csv").keypoints
    assert len(video_preds) == len(truth_video) == 30
    video_xy = np.stack(
        [
            video_preds.xs("x", axis=1, level=2).to_numpy(float),
            video_preds.xs("y", axis=1, level=2).to_numpy(float),
        ],
        -1,
    )
    video_error = np.linalg.norm(video_xy - truth_video, axis=-1)
    assert np.nanmean(video_error) < 6.0, np.nanmean(video_error)
    labeled = tmp_path / "run" / "video_preds" / "labeled_videos" / "synthetic_labeled.mp4"
    with av.open(str(labeled)) as container:
        stream = container.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == 30 and decoded[0].shape == (160, 192, 3)

    # the DALI reader (its CPU backend, on an MJPEG copy of the video) predicts as well
    if importlib.util.find_spec("nvidia.dali") is not None:
        mjpeg = write_mjpeg(
            tmp_path / "synthetic.avi",
            [
                f[:, :, ::-1]
                for f in open_video(tmp_path / "data" / "videos" / "synthetic.mp4").frames()
            ],
        )
        trained = load_trained(tmp_path / "run" / "config.yaml", tmp_path / "run" / "best.ckpt")
        xy = {}
        for reader in ("dali", "opencv"):
            done = predict_video(trained, mjpeg, tmp_path / reader, reader=reader)
            p = read_predictions(done.csv)
            xy[reader] = np.stack(
                [p.xs(c, axis=1, level=2).to_numpy(float) for c in ("x", "y")], -1
            )
        assert xy["dali"].shape == (30, truth_video.shape[1], 2)
        assert np.nanmean(np.linalg.norm(xy["dali"] - truth_video, axis=-1)) < 6.0
        assert np.nanmean(np.linalg.norm(xy["dali"] - xy["opencv"], axis=-1)) < 1.0


@pytest.mark.slow
def test_mirror_mouse_example_trains_to_completion(tmp_path: Path) -> None:
    data = require(MIRROR_MOUSE)
    base = Path(__file__).resolve().parents[3] / "configs" / "base" / "mirror-mouse-resnet18.yaml"
    cfg = load_config(
        base,
        [
            f"data.data_dir={data}",
            "training.max_epochs=2",
            "training.min_epochs=2",
            "training.unfreezing_epoch=1",
            "training.check_val_every_n_epoch=1",
            "training.lr_scheduler_params.multisteplr.milestones=[]",
            "training.num_workers=0",
        ],
    )
    out = tmp_path / "run"
    result = train(cfg, out, progress_bar=False)
    assert result.metrics["epochs_run"] == 2
    assert (
        result.metrics["num_train_frames"],
        result.metrics["num_val_frames"],
        result.metrics["num_test_frames"],
    ) == (72, 9, 9)
    preds = read_predictions(out / "predictions.csv")
    assert len(preds) == 90 and preds.shape[1] == 17 * 3 + 1
    x = preds.xs("x", axis=1, level=2).to_numpy(float)
    assert np.isfinite(x).all() and x.max() < 396 and x.min() >= 0  # original-image pixels
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(metrics["pixel_error"][s] is not None for s in ("train", "validation", "test"))
