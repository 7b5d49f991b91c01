"""Which of the paths a user names are videos: plain path checks, no engine, so the CLI refuses a
missing video before it imports torch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pose.errors import DataError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")


def find_videos(paths: list[Path]) -> list[Path]:
    """Video files among ``paths`` (directories are searched one level deep), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
        elif path.exists():
            found.append(path)
        else:
            raise DataError(f"video {path}: file not found")
    return found


def video_dir_videos(
    video_dir: str | None, data_dir: str | Path, needed_by: Sequence[str]
) -> list[Path]:
    """The videos of ``data.video_dir`` (a directory or one video; relative to ``data.data_dir``
    unless absolute, as Lightning Pose reads it); missing or empty is an error naming the losses
    that need its frames."""
    losses = ", ".join(needed_by)
    if not video_dir:
        raise DataError(
            f"config key 'data.video_dir': the unsupervised losses ({losses}) need a directory of "
            "videos, got none"
        )
    path = Path(video_dir)
    if not path.is_absolute():
        path = Path(data_dir) / path
    if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
        return [path]
    if not path.is_dir():
        raise DataError(
            f"config key 'data.video_dir': {path} is neither a directory nor a video "
            f"(needed by {losses})"
        )
    videos = find_videos([path])
    if not videos:
        raise DataError(
            f"config key 'data.video_dir': {path} holds no videos (.mp4, .avi, .mov, .mkv), "
            f"which the unsupervised losses ({losses}) train on"
        )
    return videos
