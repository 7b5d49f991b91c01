"""Known-answer accuracy: a short CPU run on the synthetic example beats the mean-pose baseline by far,
and training on the real mirror-mouse example runs to completion."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from pose.config import load_config
from pose.data import read_labels
from pose.data.synthetic import make_example_dataset
from pose.pipeline import TrainResult, train
from pose.predict import read_predictions
from pose.predict.images import load_trained, predict_images
from pose.predict.video import predict_video
from pose.video import open_video
from tests.conftest import MIRROR_MOUSE, require, write_mjpeg


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
    """The quick start's slowest trial (mse at the space's lowest rate, 15 epochs) is accurate:
    its test error was 3.96 px here against a mean-pose baseline above 20 px (the example's
    40-epoch default reached 1.71-1.78 px over 3 model seeds in bench/finetune.py); the bounds (a
    quarter of the baseline, 9 px) leave a 2x margin for another machine."""
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
    print(f"test error {model_error:.2f} px, mean-pose baseline {baseline:.2f} px")
    assert model_error < 0.25 * baseline, (model_error, baseline)
    assert model_error < 9.0

    # eval.predict_vids_after_training: the synthetic video, one row per frame, near its truth
    assert result.metrics["videos"]["synthetic.mp4"]["frames"] == 30
    assert _video_error(tmp_path / "run", tmp_path / "data") < 9.0
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
        assert np.nanmean(np.linalg.norm(xy["dali"] - truth_video, axis=-1)) < 9.0
        assert np.nanmean(np.linalg.norm(xy["dali"] - xy["opencv"], axis=-1)) < 1.0


@dataclass
class Start:
    """A data set a run continues on, and how the checkpoint itself does on it."""

    data: Path
    split: list[str]  # overrides of the continued run's split
    errors: np.ndarray  # [rows, keypoints] pixel errors of the checkpoint
    video_error: float  # the checkpoint's mean error on the data set's video


@pytest.fixture(scope="module")
def starts(
    synthetic_run: tuple[Path, TrainResult], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Start]:
    """The set-ups of bench/finetune.py: ``own``, the trained example's own data and split (more
    epochs of the same model); ``clips``, data it has never seen (150 labeled frames in 5-frame
    clips, synthetic seed 4, split 60/45/45 so held-out errors are means over 225 keypoints)."""
    tmp_path, base = synthetic_run
    clips = tmp_path_factory.mktemp("clips")
    make_example_dataset(clips, n_images=150, n_video_frames=30, seed=4, context=True)
    trained = load_trained(tmp_path / "run" / "config.yaml", base.best_checkpoint)
    out = {}
    for name, data, split in (
        ("own", tmp_path / "data", []),
        ("clips", clips, ["training.train_prob=0.4", "training.val_prob=0.3"]),
    ):
        labels = read_labels(data / "CollectedData.csv")
        xy, _ = predict_images(trained, [data / p for p in labels.image_paths])
        predict_video(trained, data / "videos" / "synthetic.mp4", data / "checkpoint")
        out[name] = Start(
            data,
            split,
            np.linalg.norm(xy - labels.keypoints, axis=-1),
            _video_error(data / "checkpoint", data),
        )
    return out


# How much worse than its checkpoint a continued run may be, as a factor of the checkpoint's mean
# error on the same frames. Over 3 model seeds of bench/finetune.py (the same set-ups; 1, 4 and
# 12 epochs) the continued runs' validation and test errors were at most 1.20x the checkpoint's
# (4 epochs on its own data: which epoch has the lowest validation loss is not always the one
# with the lowest pixel error; 20 frames per split) and 1.15x on the clips (60 training frames
# cannot teach what the checkpoint's 160 did); the validation error after each of the first 4
# epochs was at most 1.32x the start's. The margins above those absorb another machine's
# floating-point path. Before the fix (the same bench on the previous release, seed 0) the first
# epoch alone made the validation error 2.1-2.8x (heatmap) and 6.5x (heatmap_mhcrnn) the start's.
HELD_OUT_FACTOR = 1.35
FIRST_EPOCHS_FACTOR = 1.5


@pytest.mark.slow
# 2 epochs, each validated: the first epochs are where a continued run lost what it knew (the
# first alone, before the fix); bench/finetune.py also measures 1, 4 and 12 (the suite's time
# budget keeps them out of the tests)
@pytest.mark.parametrize("epochs", [2])
@pytest.mark.parametrize(
    ("model_type", "data_set"), [("heatmap", "own"), ("heatmap_mhcrnn", "clips")]
)
def test_continued_model_is_no_worse_than_its_checkpoint(
    synthetic_run: tuple[Path, TrainResult],
    starts: dict[str, Start],
    model_type: str,
    data_set: str,
    epochs: int,
    tmp_path: Path,
) -> None:
    """A trained single-frame model continued as a ``heatmap`` model on its own data, or upgraded
    to a ``heatmap_mhcrnn`` model on new clips, is no worse than the checkpoint on frames neither
    trained on after any of these lengths: training keeps what the checkpoint knew (the
    backbone's learning rate ramps up from 0.1x; a context head starts as the single-frame one),
    and best.ckpt is chosen among the starting weights and every epoch. The first epochs'
    validation errors stay near the start's as well."""
    start = starts[data_set]
    overrides = [
        f"model.checkpoint={synthetic_run[1].best_checkpoint}",
        f"model.model_type={model_type}",
        f"training.max_epochs={epochs}",
        f"training.min_epochs={epochs}",
        "training.num_workers=2",
        "eval.predict_vids_after_training=true",
        *start.split,
    ]
    cfg = load_config(start.data / "config.yaml", overrides)
    result = train(cfg, tmp_path / "run", progress_bar=False)
    errors = pd.read_csv(tmp_path / "run" / "predictions_pixel_error.csv", index_col=0)
    sets = errors.pop("set").to_numpy()
    continued = errors.to_numpy(float)
    for split in ("validation", "test"):
        mine = np.nanmean(continued[sets == split])
        theirs = np.nanmean(start.errors[sets == split])
        assert mine <= HELD_OUT_FACTOR * theirs, (split, mine, theirs)
    start_val = result.metrics["start_val_pixel_error"]
    assert start_val == pytest.approx(np.nanmean(start.errors[sets == "validation"]), rel=0.05)
    curve = pd.read_csv(tmp_path / "run" / "logs" / "metrics.csv")["val/pixel_error"].dropna()
    assert len(curve) == epochs
    first = curve.to_numpy()[:4]  # the backbone still trains at <= 0.34x the head's rate
    assert (first <= FIRST_EPOCHS_FACTOR * start_val).all(), (first, start_val)
    assert result.metrics["videos"]["synthetic.mp4"]["frames"] == 30
    assert _video_error(tmp_path / "run", start.data) <= HELD_OUT_FACTOR * start.video_error


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
