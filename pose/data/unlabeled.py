"""Unlabeled video frames for the unsupervised losses (``model.losses_to_use``).

Every video of ``data.video_dir`` is decoded once (NVIDIA DALI on a GPU, the CPU readers
otherwise), resized as training images are and kept in memory; each training step then draws a
clip of consecutive frames from a random video. At training resolution a frame is small (48 KiB at
128x128), so a step's frames are a slice of memory, never a seek in a video: loading them costs
nothing beside the step. Videos longer than the memory budget keep evenly spaced segments of
consecutive frames, up to ``budget_bytes`` in all (a video whose container does not tell its length
keeps its first frames up to its share). A long video is still decoded through to its end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from pose.errors import DataError
from pose.video.readers import open_video

DEFAULT_BUDGET_BYTES = 2 * 1024**3
DECODE_BATCH = 64


@dataclass
class Segment:
    """Consecutive frames of one video: uint8 ``[N, 3, H, W]`` and the factors (orig_w / W,
    orig_h / H) from resized to original pixels."""

    video: Path
    first_frame: int
    frames: Tensor
    scale: Tensor


class VideoFrameCache:
    """The resized frames of ``videos`` as :class:`Segment` s, at most ``budget_bytes`` in all.

    ``segment_frames`` is how many consecutive frames a kept segment of a long video holds (clips
    never cross segments). A video that cannot be read is a :class:`DataError` naming it.
    """

    def __init__(
        self,
        videos: Sequence[Path],
        resize_hw: tuple[int, int],
        segment_frames: int,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        reader: str = "auto",
    ) -> None:
        self.resize_hw = resize_hw
        frame_bytes = 3 * resize_hw[0] * resize_hw[1]
        share = max(segment_frames, budget_bytes // frame_bytes // max(1, len(videos)))
        self.segments: list[Segment] = []
        for path in videos:
            source = open_video(path, reader)
            info = source.info
            scale = torch.tensor([info.width / resize_hw[1], info.height / resize_hw[0]])
            hint = info.frame_count_hint
            # a video longer than its share keeps one block of consecutive frames in `every`;
            # one that fits is one block, so clips may start anywhere in it
            every = math.ceil(hint / share) if hint > share else 1
            block_frames = segment_frames if every > 1 else max(hint, 1) * 2**20
            kept: dict[int, list[np.ndarray]] = {}
            index = count = 0
            for batch in source.batches(resize_hw, DECODE_BATCH):  # reader errors are DataErrors
                array = batch.cpu().numpy() if isinstance(batch, Tensor) else np.asarray(batch)
                for frame in array:
                    block = index // block_frames
                    if block % every == 0 and count < share:
                        kept.setdefault(block, []).append(frame)
                        count += 1
                    index += 1
                if count >= share and every == 1:
                    break  # the container understated its length: the share is full
            if index == 0:
                raise DataError(f"video {path}: no frames could be decoded")
            for block, frames in kept.items():
                stacked = torch.from_numpy(
                    np.ascontiguousarray(np.stack(frames).transpose(0, 3, 1, 2))
                )
                self.segments.append(Segment(path, block * block_frames, stacked, scale))
        self.videos = list(videos)

    @property
    def num_frames(self) -> int:
        return sum(len(s.frames) for s in self.segments)

    def longest_segment(self) -> int:
        return max((len(s.frames) for s in self.segments), default=0)

    def draw(self, rng: np.random.Generator, length: int) -> tuple[Segment, int]:
        """A segment and the start of a clip of ``length`` consecutive frames in it, uniformly over
        all such clips (so longer videos give more clips, as a reader over all videos would)."""
        starts = np.array([max(0, len(s.frames) - length + 1) for s in self.segments])
        total = int(starts.sum())  # > 0: UnlabeledClips checks the longest segment
        pick = int(rng.integers(total))
        segment = int(np.searchsorted(np.cumsum(starts), pick, side="right"))
        return self.segments[segment], pick - int(starts[:segment].sum())


class UnlabeledClips(Dataset):
    """``length`` random clips per epoch, each ``{"frames", "scale"}``: ``clip_frames`` consecutive
    uint8 frames ``[F, 3, H, W]``, or with ``offsets`` (context models) the windows around
    ``windows`` consecutive centre frames ``[windows, T, 3, H, W]``.

    The index is ignored: each item is a fresh draw from the dataset's own generator, seeded per
    process (``reseed``), so runs repeat and DDP ranks draw different clips.
    """

    def __init__(
        self,
        cache: VideoFrameCache,
        clip_frames: int,
        length: int,
        offsets: tuple[int, ...] | None = None,
        seed: int = 0,
    ) -> None:
        self.cache = cache
        self.length = length
        self.offsets = offsets
        self.window_index: Tensor | None = None
        if offsets:
            span = max(offsets) - min(offsets)
            self.window_index = (
                torch.arange(clip_frames)[:, None] + torch.tensor(offsets) - min(offsets)
            )
            self.frames_per_clip = clip_frames + span
        else:
            self.frames_per_clip = clip_frames
        if cache.longest_segment() < self.frames_per_clip:
            raise DataError(
                f"videos of data.video_dir: the longest holds {cache.longest_segment()} frames, fewer "
                f"than the {self.frames_per_clip} consecutive frames a training step draws "
                "(dali.base.train.sequence_length; context models: dali.context.train.batch_size "
                "plus the context window)"
            )
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        segment, start = self.cache.draw(self.rng, self.frames_per_clip)
        frames = segment.frames[start : start + self.frames_per_clip]
        if self.window_index is not None:
            frames = frames[self.window_index]
        return {"frames": frames, "scale": segment.scale}


def check_synchronized(sessions: Sequence[Sequence[Path]], reader: str = "auto") -> None:
    """Every session's views claim the same frame count (their headers), before any is decoded;
    a set that disagrees is a :class:`DataError` naming the videos and their counts."""
    for session in sessions:
        _same_length([open_video(p, reader).info.frame_count_hint for p in session], session)


def _same_length(counts: Sequence[int], videos: Sequence[Path]) -> None:
    if len(set(counts)) > 1:
        detail = ", ".join(f"{p.name}: {n}" for p, n in zip(videos, counts, strict=True))
        raise DataError(
            f"synchronized videos disagree in frame count ({detail}); every view of a session "
            "must hold the same moments"
        )


class MultiviewClips(Dataset):
    """:class:`UnlabeledClips` for synchronized cameras: each item is the same ``clip_frames``
    consecutive moments of every view, ``frames`` ``[F, V, 3, H, W]``, and ``scale`` ``[V * K, 2]``
    (each view's factor to original pixels, per keypoint).

    ``sessions`` are the synchronized video sets (:func:`pose.video_files.group_videos_by_view`);
    their views must hold the same number of frames, or the error names the videos.
    """

    def __init__(
        self,
        sessions: Sequence[Sequence[Path]],
        resize_hw: tuple[int, int],
        clip_frames: int,
        num_keypoints: int,
        length: int = 0,
        seed: int = 0,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        views = len(sessions[0])
        check_synchronized(sessions)  # from the headers, before anything is decoded
        segment = max(256, 4 * clip_frames)
        self.caches = [
            VideoFrameCache(
                [s[v] for s in sessions], resize_hw, segment, budget_bytes // max(1, views)
            )
            for v in range(views)
        ]
        # equal lengths keep the same blocks of every view; check what was kept, block by block
        for index, session in enumerate(sessions):
            of_video = [
                [(s.first_frame, len(s.frames)) for s in c.segments if s.video == path]
                for c, path in zip(self.caches, session, strict=True)
            ]
            if any(blocks != of_video[0] for blocks in of_video[1:]):
                _same_length([sum(n for _, n in blocks) for blocks in of_video], session)
                raise DataError(  # same totals, different blocks: a container misstated its length
                    f"synchronized videos {', '.join(p.name for p in session)} (session {index}) "
                    "decoded to different frames; re-encode them with their true frame counts"
                )
        self.clip_frames = clip_frames
        self.num_keypoints = num_keypoints
        self.length = length
        longest = self.caches[0].longest_segment()
        if longest < clip_frames:
            raise DataError(
                f"videos of data.video_dir: the longest holds {longest} frames, fewer than the "
                f"{clip_frames} consecutive frames a training step draws "
                "(dali.base.train.sequence_length)"
            )
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        first, start = self.caches[0].draw(self.rng, self.clip_frames)
        index = self.caches[0].segments.index(first)
        segments = [cache.segments[index] for cache in self.caches]
        stop = start + self.clip_frames
        frames = torch.stack([s.frames[start:stop] for s in segments], dim=1)
        scale = torch.stack([s.scale for s in segments]).repeat_interleave(self.num_keypoints, 0)
        return {"frames": frames, "scale": scale}
