"""Video prediction: one row per frame, temporal norms, clear errors, memory flat in video length."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pose.config import build_config, read_config_file
from pose.errors import DataError
from pose.models.pose_model import build_model_for
from pose.predict import read_predictions
from pose.predict.images import TrainedModel
from pose.predict.video import predict_video, temporal_norm
from pose.train.module import PoseLightningModule
from pose.video.readers import VideoInfo
from tests.conftest import MIRROR_MOUSE, REPO, require


def random_model(config: Path, overrides: list[str] | None = None) -> TrainedModel:
    """An untrained model of ``config`` (enough to check shapes, counts and streaming)."""
    cfg = build_config(read_config_file(config), overrides or [])
    model = build_model_for(cfg, pretrained=False)
    return TrainedModel(PoseLightningModule(model, cfg).eval(), cfg, "32")


def test_one_row_per_frame_and_temporal_norm(synthetic_dir: Path, tmp_path: Path) -> None:
    video = require(MIRROR_MOUSE / "videos" / "test_vid.mp4")
    trained = random_model(
        synthetic_dir / "config.yaml",
        ["data.image_resize_dims.height=64", "data.image_resize_dims.width=64"],
    )
    seen: list[int] = []
    started: list[VideoInfo] = []
    done = predict_video(
        trained, video, tmp_path, batch_size=100, on_start=started.append, on_batch=seen.append
    )
    assert done.frames == 994 and sum(seen) == 994 and seen[-1] == 94
    assert [(i.width, i.height, i.frame_count_hint) for i in started] == [(396, 406, 994)]
    preds = read_predictions(done.csv)
    assert len(preds) == 994 and list(preds.index[:3]) == [0, 1, 2]
    x = preds.xs("x", axis=1, level=2).to_numpy(float)
    y = preds.xs("y", axis=1, level=2).to_numpy(float)
    assert x.min() >= -0.5 and x.max() <= 395.5 and y.max() <= 405.5  # original video pixels
    norms = pd.read_csv(done.temporal_norm_csv, index_col=0)
    assert list(norms.columns) == trained.keypoint_names and len(norms) == 994
    assert norms.iloc[0].isna().all()
    expected = np.linalg.norm(np.diff(np.stack([x, y], -1), axis=0), axis=-1)
    assert np.allclose(norms.to_numpy()[1:], expected, atol=1e-3)


def test_temporal_norm_known_values() -> None:
    xy = np.array([[[0.0, 0.0]], [[3.0, 4.0]], [[3.0, 4.0]]])
    assert np.allclose(temporal_norm(xy)[1:, 0], [5.0, 0.0]) and np.isnan(temporal_norm(xy)[0, 0])


def test_unreadable_video_is_a_clear_error(synthetic_dir: Path, tmp_path: Path) -> None:
    trained = random_model(synthetic_dir / "config.yaml")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(DataError, match="broken.mp4: cannot be read as a video"):
        predict_video(trained, bad, tmp_path)
    assert not (tmp_path / "video_preds").exists()


_PEAK_RSS = """
import json, resource, sys
from collections.abc import Iterator
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.pose.predict.test_video import random_model
from pose.predict.video import predict_video
trained = random_model(Path(sys.argv[2]), [f"data.image_resize_dims.{k}=64" for k in ("height", "width")])
done = predict_video(trained, sys.argv[3], sys.argv[4], batch_size=32)
print(json.dumps({"frames": done.frames, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_video_length(synthetic_dir: Path, tmp_path: Path) -> None:
    from pose.data.synthetic import render, video_poses
    from pose.data.synthetic import write_video as write_synthetic

    rng = np.random.default_rng(0)
    background = np.full((160, 192, 3), 90, np.uint8)
    poses = video_poses(240)
    for name, repeats in (("short", 1), ("long", 5)):  # 240 and 1200 frames
        frames = (render(p, background, rng) for _ in range(repeats) for p in poses)
        write_synthetic(tmp_path / f"{name}.mp4", frames)
    peaks = {}
    for name in ("short", "long"):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                _PEAK_RSS,
                str(REPO),
                str(synthetic_dir / "config.yaml"),
                str(tmp_path / f"{name}.mp4"),
                str(tmp_path / name),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[name] = json.loads(out.stdout.strip().splitlines()[-1])
    assert (peaks["short"]["frames"], peaks["long"]["frames"]) == (240, 1200)
    # holding the long video would take 1200 x 160 x 192 x 3 bytes = 111 MB
    growth_mb = (peaks["long"]["peak_kb"] - peaks["short"]["peak_kb"]) / 1024
    assert growth_mb < 40, peaks


def test_context_model_predicts_each_frame_from_its_clamped_window(
    synthetic_dir: Path, tmp_path: Path
) -> None:
    """Streaming (backbone once per frame, windows assembled from its maps) gives what the model
    gives on each frame's explicit window, clamped at the video's ends, one row per frame."""
    import torch

    from pose.data.heatmaps import rescale_pixels
    from pose.video import open_video

    size = ["data.image_resize_dims.height=64", "data.image_resize_dims.width=64"]
    trained = random_model(
        synthetic_dir / "config.yaml",
        ["model.model_type=heatmap_mhcrnn", "dali.context.predict.sequence_length=7", *size],
    )
    video = synthetic_dir / "videos" / "synthetic.mp4"
    seen: list[int] = []
    done = predict_video(trained, video, tmp_path, on_batch=seen.append)
    assert done.frames == 24 and seen == [7, 7, 7, 3]  # batches of the context sequence length
    preds = read_predictions(done.csv)
    got = np.stack([preds.xs(c, axis=1, level=2).to_numpy(float) for c in ("x", "y")], -1)

    frames = torch.from_numpy(np.stack(list(open_video(video).frames((64, 64))))).permute(
        0, 3, 1, 2
    )
    index = (torch.arange(24)[:, None] + torch.arange(-2, 3)).clamp(0, 23)
    module = trained.module
    with torch.inference_mode():
        xy, conf = module.model.kind.decode(module(frames[index]))
    expected = rescale_pixels(xy, torch.tensor([192 / 64, 160 / 64])).numpy()
    assert np.allclose(got, expected, atol=1e-2)
    likelihood = preds.xs("likelihood", axis=1, level=2).to_numpy(float)
    assert np.allclose(likelihood, conf.numpy(), atol=1e-4)


def test_streams_predict_what_one_stream_predicts(synthetic_dir: Path, tmp_path: Path) -> None:
    """Batches run side by side on a CPU land in the right rows (batches of 5: several streams)."""
    import torch

    trained = random_model(synthetic_dir / "config.yaml")
    video = synthetic_dir / "videos" / "synthetic.mp4"
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        got = {}
        for streams in (1, 2):
            done = predict_video(
                trained, video, tmp_path / str(streams), batch_size=5, streams=streams
            )
            got[streams] = read_predictions(done.csv).to_numpy(float)
    finally:
        torch.set_num_threads(threads)
    assert got[1].shape == (24, 3 * len(trained.keypoint_names))
    assert np.allclose(got[1], got[2], atol=1e-3)
    # consecutive batches differ by far more than the tolerance: a misplaced batch would show
    assert np.abs(got[1][:5] - got[1][5:10]).max() > 0.1


def test_streams_run_in_inference_mode_and_the_model_precision(
    synthetic_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grad and autocast modes are per thread: each stream must enter them itself."""
    import threading

    import torch

    untrained = random_model(synthetic_dir / "config.yaml")
    trained = TrainedModel(untrained.module, untrained.cfg, "bf16")
    model = trained.module.model
    seen: list[tuple[bool, bool, str]] = []
    forward = model.forward

    def spy(images: torch.Tensor) -> torch.Tensor:
        name = threading.current_thread().name
        seen.append((torch.is_inference_mode_enabled(), torch.is_autocast_enabled("cpu"), name))
        return forward(images)

    monkeypatch.setattr(model, "forward", spy)
    predict_video(
        trained, synthetic_dir / "videos" / "synthetic.mp4", tmp_path, batch_size=6, streams=2
    )
    assert len(seen) == 4 and all(inference and autocast for inference, autocast, _ in seen)
    assert all(name.startswith("pose-stream") for _, _, name in seen)
    with pytest.raises(ValueError, match="streams: expected at least 1, got 0"):
        predict_video(trained, synthetic_dir / "videos" / "synthetic.mp4", tmp_path, streams=0)


def _decode_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name == "video-decode" and t.is_alive()]


def test_a_failing_batch_stops_the_decode_thread_at_once(
    synthetic_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = random_model(synthetic_dir / "config.yaml")

    def broken(images: object) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(trained.module.model, "forward", broken)
    with pytest.raises(RuntimeError, match="out of memory") as failure:
        predict_video(trained, synthetic_dir / "videos" / "synthetic.mp4", tmp_path, batch_size=2)
    assert failure.value is not None and _decode_threads() == []  # traceback still held


def test_closing_the_prefetch_early_stops_its_thread_promptly() -> None:
    import time

    from pose.predict.video import _prefetch

    def endless() -> Iterator[np.ndarray]:
        while True:
            yield np.zeros(3)

    batches = _prefetch(endless(), depth=2)
    next(batches)
    time.sleep(0.2)  # the producer fills the queue and waits on it
    start = time.perf_counter()
    batches.close()
    assert time.perf_counter() - start < 2 and _decode_threads() == []
