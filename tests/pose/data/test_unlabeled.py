"""Unlabeled video frames: decoded once, resized, drawn as consecutive clips; bad videos are one-line
errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pose.config import load_config
from pose.data import PoseDataModule
from pose.data.context import CONTEXT_OFFSETS
from pose.data.unlabeled import UnlabeledClips, VideoFrameCache
from pose.errors import DataError
from pose.video_files import video_dir_videos
from tests.conftest import write_mjpeg

STEP = 6  # grey level between consecutive frames: the frame index reads back from the pixels


def _counting_video(path: Path, frames: int, hw: tuple[int, int] = (48, 64)) -> Path:
    """Frame ``i`` is uniformly grey ``STEP * i`` (BGR), so a clip's frame indices can be read."""
    images = [np.full((*hw, 3), STEP * i, dtype=np.uint8) for i in range(frames)]
    return write_mjpeg(path, images)


def _indices(frames: torch.Tensor) -> np.ndarray:
    """Frame indices of uint8 frames ``[..., 3, H, W]`` of a counting video."""
    return np.rint(frames.float().mean(dim=(-3, -2, -1)).numpy() / STEP).astype(int)


def test_frames_are_decoded_once_resized_and_drawn_as_consecutive_clips(tmp_path: Path) -> None:
    video = _counting_video(tmp_path / "count.avi", 40)
    cache = VideoFrameCache([video], (16, 32), segment_frames=256)
    assert cache.num_frames == 40 and len(cache.segments) == 1
    segment = cache.segments[0]
    assert segment.frames.shape == (40, 3, 16, 32) and segment.frames.dtype == torch.uint8
    np.testing.assert_allclose(segment.scale.numpy(), [64 / 32, 48 / 16])
    np.testing.assert_array_equal(_indices(segment.frames), np.arange(40))

    clips = UnlabeledClips(cache, clip_frames=7, length=50, seed=3)
    starts = set()
    for i in range(len(clips)):
        item = clips[i]
        index = _indices(item["frames"])
        assert item["frames"].shape == (7, 3, 16, 32)
        np.testing.assert_array_equal(np.diff(index), 1)  # consecutive, in order
        starts.add(int(index[0]))
    assert min(starts) >= 0 and max(starts) <= 40 - 7 and len(starts) > 10
    clips.reseed(3)
    again = UnlabeledClips(cache, clip_frames=7, length=50, seed=3)
    assert all(torch.equal(clips[i]["frames"], again[i]["frames"]) for i in range(5))  # seeded


def test_context_clips_are_consecutive_windows(tmp_path: Path) -> None:
    cache = VideoFrameCache([_counting_video(tmp_path / "c.avi", 30)], (16, 16), 256)
    clips = UnlabeledClips(cache, clip_frames=4, length=10, offsets=CONTEXT_OFFSETS, seed=0)
    windows = clips[0]["frames"]
    assert windows.shape == (4, len(CONTEXT_OFFSETS), 3, 16, 16)
    index = _indices(windows)  # [4 windows, 5 frames]
    centre = index[:, CONTEXT_OFFSETS.index(0)]
    np.testing.assert_array_equal(np.diff(centre), 1)
    np.testing.assert_array_equal(index - centre[:, None], np.broadcast_to(CONTEXT_OFFSETS, (4, 5)))


def test_long_videos_keep_evenly_spaced_segments_within_the_budget(tmp_path: Path) -> None:
    video = _counting_video(tmp_path / "long.avi", 40)
    frame_bytes = 3 * 16 * 16
    cache = VideoFrameCache([video], (16, 16), segment_frames=8, budget_bytes=16 * frame_bytes)
    kept = [_indices(s.frames) for s in cache.segments]
    # 40 frames, room for 16: one 8-frame block in every 3 (ceil(40 / 16))
    assert [k[0] for k in kept] == [0, 24] and all(len(k) == 8 for k in kept)
    clips = UnlabeledClips(cache, clip_frames=5, length=40, seed=1)
    for i in range(len(clips)):
        index = _indices(clips[i]["frames"])
        np.testing.assert_array_equal(np.diff(index), 1)  # never across the gap between segments
        assert index[0] // 8 == index[-1] // 8


class _Pick:
    """A stand-in generator whose draw is the first or the last of ``n`` choices."""

    def __init__(self, last: bool) -> None:
        self.last = last

    def integers(self, n: int) -> int:
        return n - 1 if self.last else 0


def test_a_video_that_fits_is_one_segment_and_clips_reach_both_ends(tmp_path: Path) -> None:
    cache = VideoFrameCache([_counting_video(tmp_path / "v.avi", 20)], (16, 16), segment_frames=8)
    assert len(cache.segments) == 1  # not cut into 8-frame blocks: nothing was left out
    first = cache.draw(_Pick(last=False), 10)  # type: ignore[arg-type]
    last = cache.draw(_Pick(last=True), 10)  # type: ignore[arg-type]
    assert (first[1], last[1]) == (0, 10)
    np.testing.assert_array_equal(_indices(last[0].frames[last[1] : last[1] + 10]), range(10, 20))


def test_a_video_of_unknown_length_keeps_no_more_than_its_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    import pose.data.unlabeled as unlabeled

    real = unlabeled.open_video

    def unknown_length(path, reader="auto"):  # type: ignore[no-untyped-def]
        opened = real(path, reader)
        opened.info = dataclasses.replace(opened.info, frame_count_hint=0)
        return opened

    monkeypatch.setattr(unlabeled, "open_video", unknown_length)
    video = _counting_video(tmp_path / "long.avi", 40)
    cache = VideoFrameCache([video], (16, 16), segment_frames=8, budget_bytes=12 * 3 * 16 * 16)
    assert cache.num_frames == 12  # the share (12 frames' bytes), from the start
    np.testing.assert_array_equal(_indices(cache.segments[0].frames), range(12))


def test_video_dir_is_relative_to_the_data_dir_or_one_video(tmp_path: Path) -> None:
    """As Lightning Pose reads it: ``video_dir: videos`` means ``DATA_DIR/videos``."""
    (tmp_path / "videos").mkdir()
    video = _counting_video(tmp_path / "videos" / "a.avi", 3)
    _counting_video(tmp_path / "videos" / "b.avi", 3)
    found = video_dir_videos("videos", tmp_path, ["temporal"])
    assert [p.name for p in found] == ["a.avi", "b.avi"] and found[0].parent == tmp_path / "videos"
    assert video_dir_videos(str(video), "/elsewhere", ["temporal"]) == [video]


def test_bad_video_dirs_and_videos_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data.video_dir.*temporal.*got none"):
        video_dir_videos(None, tmp_path, ["temporal"])
    with pytest.raises(DataError, match="is neither a directory nor a video"):
        video_dir_videos(str(tmp_path / "missing"), tmp_path, ["temporal"])
    with pytest.raises(DataError, match="holds no videos"):
        video_dir_videos(str(tmp_path), tmp_path, ["pca_singleview"])
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    with pytest.raises(DataError, match="broken.mp4") as err:
        VideoFrameCache(video_dir_videos(str(tmp_path), tmp_path, ["temporal"]), (16, 16), 256)
    assert "\n" not in str(err.value)
    short = VideoFrameCache([_counting_video(tmp_path / "short.avi", 5)], (16, 16), 256)
    with pytest.raises(DataError, match="holds 5 frames, fewer than the 8"):
        UnlabeledClips(short, clip_frames=8, length=1)
    with pytest.raises(DataError, match="fewer than the 7"):  # 3 windows of 5 frames span 7
        UnlabeledClips(short, clip_frames=3, length=1, offsets=CONTEXT_OFFSETS)


@pytest.mark.parametrize("model_type", ["heatmap", "heatmap_mhcrnn"])
def test_training_batches_pair_labeled_images_with_a_clip(
    synthetic_dir: Path, model_type: str
) -> None:
    cfg = load_config(
        synthetic_dir / "config.yaml",
        [
            "training.num_workers=0",
            "training.train_batch_size=8",
            "model.losses_to_use=[temporal]",
            f"model.model_type={model_type}",
        ],
    )
    offsets = CONTEXT_OFFSETS if model_type == "heatmap_mhcrnn" else None
    dm = PoseDataModule(cfg, offsets)
    dm.setup()
    loader = dm.train_dataloader()
    batches = [batch for batch, _, _ in loader]  # a CombinedLoader yields (batch, index, loader)
    assert len(batches) == 4  # 32 training images in batches of 8: one clip per batch
    labeled, unlabeled = batches[0]["labeled"], batches[0]["unlabeled"]
    assert labeled["image"].shape[0] == 8
    frames = unlabeled["frames"]
    if offsets is None:
        assert frames.shape == (8, 3, 128, 128)  # dali.base.train.sequence_length
    else:
        assert frames.shape == (4, 5, 3, 128, 128)  # dali.context.train.batch_size windows
    np.testing.assert_allclose(unlabeled["scale"].numpy(), [192 / 128, 160 / 128])
    # the video's frames, not labeled images: a run of consecutive frames of the decoded video
    assert dm.unlabeled is not None and dm.unlabeled.cache.num_frames == 24
    video = dm.unlabeled.cache.segments[0].frames
    centres = frames if offsets is None else frames[:, offsets.index(0)]
    matches = [
        s
        for s in range(len(video) - len(centres) + 1)
        if torch.equal(video[s : s + len(centres)], centres)
    ]
    assert len(matches) == 1


def test_dali_fills_the_cache_with_the_same_frames(tmp_path: Path) -> None:
    """On a GPU the frames are decoded by DALI (``reader="auto"``); its CPU backend runs the same
    pipeline here on an MJPEG video."""
    pytest.importorskip("nvidia.dali")
    video = _counting_video(tmp_path / "count.avi", 30)
    by_dali = VideoFrameCache([video], (16, 32), 256, reader="dali")
    by_opencv = VideoFrameCache([video], (16, 32), 256, reader="opencv")
    assert by_dali.num_frames == by_opencv.num_frames == 30
    np.testing.assert_array_equal(_indices(by_dali.segments[0].frames), np.arange(30))
    torch.testing.assert_close(by_dali.segments[0].scale, by_opencv.segments[0].scale)
