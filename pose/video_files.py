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


def require_videos(paths: list[Path]) -> list[Path]:
    """:func:`find_videos`, and a one-line error when ``paths`` hold none."""
    found = find_videos(paths)
    if not found:
        raise DataError(
            f"no videos ({', '.join(map(str, paths))}); expected {'/'.join(VIDEO_EXTENSIONS)} files"
        )
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


def _tokens(stem: str) -> list[str]:
    return stem.replace("-", "_").replace(".", "_").split("_")


def _view_of(stem: str, views: Sequence[str]) -> list[str]:
    """The views whose name is a ``_``/``-``/``.``-separated token of ``stem`` (else a substring)."""
    tokens = set(_tokens(stem))
    exact = [v for v in views if v in tokens]
    return exact or [v for v in views if v in stem]


def session_of(stem: str, view: str) -> str:
    """``stem`` without its view: the last token equal to ``view`` dropped (``laptop_top`` ->
    ``laptop``), else the first occurrence of it."""
    tokens = _tokens(stem)
    if view in tokens:
        at = len(tokens) - 1 - tokens[::-1].index(view)
        rest = tokens[:at] + tokens[at + 1 :]
        return "_".join(rest) or "session"
    return stem.replace(view, "", 1).strip("_-.") or "session"


def group_videos_by_view(videos: Sequence[Path], views: Sequence[str]) -> list[list[Path]]:
    """Synchronized sets of videos, one per session, each ``[video of views[0], ...]``: a video
    belongs to the view its file name names (``session_cam0.mp4``), and the session is the name
    without it, as Lightning Pose pairs multiview videos. A video naming no view or several, or a
    session missing a view, is a :class:`DataError` naming the files."""
    sessions: dict[str, dict[str, Path]] = {}
    for video in videos:
        found = _view_of(video.stem, views)
        if len(found) != 1:
            what = "none of" if not found else f"several ({', '.join(found)}) of"
            raise DataError(
                f"video {video}: its name holds {what} the view names ({', '.join(views)}); "
                "name each camera's video after its view, e.g. session1_" + views[0] + video.suffix
            )
        view = found[0]
        session = session_of(video.stem, view)
        if view in sessions.setdefault(session, {}):
            raise DataError(
                f"videos {sessions[session][view]} and {video}: both are view {view} of session "
                f"{session!r}"
            )
        sessions[session][view] = video
    out = []
    for session, by_view in sorted(sessions.items()):
        missing = [v for v in views if v not in by_view]
        if missing:
            raise DataError(
                f"session {session!r} ({', '.join(str(p) for p in by_view.values())}): no video "
                f"for view {', '.join(missing)}"
            )
        out.append([by_view[v] for v in views])
    return out
