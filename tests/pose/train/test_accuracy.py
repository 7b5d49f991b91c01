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
from pose.train import TrainResult, train
from pose.video import open_video
from tests.conftest import MIRROR_MOUSE, require, write_mjpeg


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """The built-in example trained as the quick start does (40 epochs, 200 images), once."""
    tmp_path = tmp_path_factory.mktemp("synthetic_run")
    config = make_example_dataset(tmp_path / "data", n_images=200, n_video_frames=30, seed=3)
    videos = ["eval.predict_vids_after_training=true", "eval.save_vids_after_training=true"]
    result = train(
        load_config(config, ["training.num_workers=2", *videos]),
        tmp_path / "run",
        progress_bar=False,
    )
    return tmp_path, result


def _video_error(run: Path, data: Path) -> float:
    """Mean distance of a run's synthetic-video predictions from the video's true keypoints."""
    preds = read_predictions(run / "video_preds" / "synthetic.csv")
    truth = read_labels(data / "ground_truth" / "synthetic.csv").keypoints
    assert len(preds) == len(truth)
    xy = np.stack([preds.xs(c, axis=1, level=2).to_numpy(float) for c in ("x", "y")], -1)
    return float(np.nanmean(np.linalg.norm(xy - truth, axis=-1)))


@pytest.mark.slow
def test_synthetic_training_beats_mean_pose_baseline(
    synthetic_run: tuple[Path, TrainResult],
) -> None:
    tmp_path, result = synthetic_run

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
    assert _video_error(tmp_path / "run", tmp_path / "data") < 6.0
    truth_video = read_labels(tmp_path / "data" / "ground_truth" / "synthetic.csv").keypoints
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
def test_context_model_from_single_frame_checkpoint_is_accurate(
    synthetic_run: tuple[Path, TrainResult], tmp_path: Path
) -> None:
    """heatmap_mhcrnn on 5-frame clips, started from the trained single-frame model: a few epochs
    bring its labeled-frame and video errors to a few pixels (from scratch it needs ~40 epochs and
    10 minutes here: 3.3 px test, 3.3 px video)."""
    _, base = synthetic_run
    config = make_example_dataset(
        tmp_path / "data", n_images=100, n_video_frames=30, seed=4, context=True
    )
    overrides = [
        f"model.checkpoint={base.best_checkpoint}",
        "training.max_epochs=4",
        "training.min_epochs=4",
        "training.num_workers=2",
        "eval.predict_vids_after_training=true",
    ]
    result = train(load_config(config, overrides), tmp_path / "run", progress_bar=False)
    errors = result.metrics["pixel_error"]
    assert errors["test"] < 5.0 and errors["validation"] < 5.0, errors
    assert result.metrics["videos"] == {"synthetic.mp4": {"frames": 30}}
    assert _video_error(tmp_path / "run", tmp_path / "data") < 5.0


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
