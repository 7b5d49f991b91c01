"""Which of the paths a user names are videos: plain path checks, no engine, so the CLI refuses a
missing video before it imports torch."""

from __future__ import annotations

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
