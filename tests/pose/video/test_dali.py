"""The DALI reader, through DALI's CPU backend (MJPEG; H.264 needs the GPU backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose.errors import DataError
from pose.video import open_video
from pose.video.readers import default_reader
from tests.conftest import write_mjpeg

pytest.importorskip("nvidia.dali")

FRAMES, HEIGHT, WIDTH = 70, 80, 96


@pytest.fixture(scope="module")
def mjpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frame i: a bar at column i and a blue level of 3*i, so order and identity are visible."""
    frames = []
    for i in range(FRAMES):
        frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        frame[:, :, 0] = 3 * i
        frame[20:60, i + 2 : i + 10] = 255
        frames.append(frame)
    return write_mjpeg(tmp_path_factory.mktemp("dali") / "bar.avi", frames)


def test_every_frame_once_in_order_resized_like_opencv(mjpeg: Path) -> None:
    source = open_video(mjpeg, "dali")
    assert (source.info.width, source.info.height, source.info.fps) == (WIDTH, HEIGHT, 30.0)
    batches = list(source.batches((40, 48), 16))
    # 70 frames in sequences of 16: the last one's 10 padded frames are dropped
    assert [tuple(b.shape) for b in batches] == [(16, 40, 48, 3)] * 4 + [(6, 40, 48, 3)]
    dali = np.concatenate([b.numpy() for b in batches]).astype(int)
    opencv = np.stack(list(open_video(mjpeg, "opencv").frames((40, 48)))).astype(int)
    assert len(opencv) == FRAMES
    assert np.abs(dali - opencv).mean() < 2.0
    # each DALI frame is nearest to the OpenCV frame of the same index
    distance = np.abs(dali[:, None] - opencv[None]).mean(axis=(2, 3, 4))
    assert (distance.argmin(axis=1) == np.arange(FRAMES)).all()


def test_full_size_frames(mjpeg: Path) -> None:
    frames = list(open_video(mjpeg, "dali").frames())
    assert len(frames) == FRAMES and frames[0].shape == (HEIGHT, WIDTH, 3)
    assert frames[0].dtype == np.uint8


def test_h264_on_cpu_is_a_clear_error(synthetic_dir: Path) -> None:
    with pytest.raises(DataError, match=r"CPU decoder reads vp8, vp9, mjpeg, not h264") as err:
        open_video(synthetic_dir / "videos" / "synthetic.mp4", "dali")
    assert "\n" not in str(err.value) and "--reader opencv" in str(err.value)


def test_missing_video(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        open_video(tmp_path / "nope.avi", "dali")


def test_auto_picks_dali_on_a_gpu_and_a_cpu_reader_otherwise(
    synthetic_dir: Path, mjpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert default_reader() == "opencv"
    # the bar video's first frame is grey (no blue yet): the CPU reader with the luma path
    assert type(open_video(mjpeg)).__name__ == "PyAVReader"
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert default_reader() == "dali"
    # stand-in for a GPU: DALI's CPU backend, which reads the MJPEG video but not the H.264 one
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr("pose.video.readers.default_reader", lambda path=None: "dali")
    assert type(open_video(mjpeg)).__name__ == "DaliReader"
    assert type(open_video(synthetic_dir / "videos" / "synthetic.mp4")).__name__ == "OpenCVReader"
