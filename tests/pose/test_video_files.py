"""Finding the videos among the paths a user names (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pose.errors import DataError
from pose.video_files import find_videos


def test_directories_give_their_videos_and_files_are_kept(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("b.mp4", "a.AVI", "notes.txt", "c.mkv"):
        (folder / name).touch()
    (folder / "nested").mkdir()
    (folder / "nested" / "deep.mp4").touch()  # one level only
    single = tmp_path / "clip.mov"
    single.touch()
    assert find_videos([folder, single]) == [
        folder / "a.AVI",
        folder / "b.mp4",
        folder / "c.mkv",
        single,
    ]


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"video .*missing\.mp4: file not found"):
        find_videos([tmp_path, tmp_path / "missing.mp4"])
