"""Video readers: every registered backend yields exactly the decoder's frames, in order."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from pose.errors import DataError
from pose.video import READERS, batched, open_video
from tests.conftest import MIRROR_MOUSE, require

# DALI's CPU backend decodes no H.264 (tests/pose/video/test_dali.py covers it with MJPEG)
H264_READERS = [r for r in READERS.names() if r != "dali" or torch.cuda.is_available()]


def _decoder_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


@pytest.mark.parametrize("reader", H264_READERS)
def test_example_video_frame_count(reader: str) -> None:
    video = require(MIRROR_MOUSE / "videos" / "test_vid.mp4")
    source = open_video(video, reader)
    assert (source.info.width, source.info.height, source.info.fps) == (396, 406, 250.0)
    frames = list(source.frames())
    assert len(frames) == _decoder_count(video) == 994
    assert frames[0].shape == (406, 396, 3) and frames[0].dtype == np.uint8


@pytest.mark.parametrize("reader", H264_READERS)
def test_synthetic_video_matches_its_ground_truth_length(reader: str, synthetic_dir: Path) -> None:
    video = synthetic_dir / "videos" / "synthetic.mp4"
    truth_rows = (
        len((synthetic_dir / "ground_truth" / "synthetic.csv").read_text().splitlines()) - 3
    )
    frames = list(open_video(video, reader).frames())
    assert len(frames) == truth_rows == _decoder_count(video)
    # both backends decode the same pixels (same FFmpeg decoder, RGB out)
    reference = next(iter(open_video(video, "pyav").frames()))
    assert np.abs(frames[0].astype(int) - reference.astype(int)).mean() < 2.0


def test_batched_keep_every_frame(synthetic_dir: Path) -> None:
    frames = open_video(synthetic_dir / "videos" / "synthetic.mp4").frames((64, 128))
    batches = list(batched(frames, batch_size=10))
    assert [len(b) for b in batches] == [10, 10, 4]
    assert batches[0].shape[1:] == (64, 128, 3) and batches[0].dtype == np.uint8


@pytest.mark.parametrize("reader", READERS.names())
def test_missing_or_unreadable_video(reader: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        open_video(tmp_path / "nope.mp4", reader)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(DataError, match="cannot be read as a video"):
        open_video(bad, reader)


def test_unknown_reader(synthetic_dir: Path) -> None:
    with pytest.raises(DataError, match="unknown video reader 'dali2'"):
        open_video(synthetic_dir / "videos" / "synthetic.mp4", "dali2")
