"""Temporal context of a labeled frame: the files of its neighbouring video frames.

Context models (``heatmap_mhcrnn``) see each labeled frame together with the frames two before and
two after it. Lightning Pose's convention finds them by the frame number at the end of the file
name, with the same zero padding, in the same directory: ``img0123.png`` has the neighbours
``img0121.png`` ... ``img0125.png``. Numbers below 0 clamp to 0, and a neighbour that was not
extracted is replaced by the labeled frame itself, so every frame has a full window.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from pose.config.catalog import CONTEXT_OFFSETS  # noqa: F401 - Lightning Pose's window, re-exported

_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")


def context_paths(
    image_path: str,
    root: Path,
    offsets: tuple[int, ...] = CONTEXT_OFFSETS,
    exists: Callable[[Path], bool] = Path.is_file,
) -> list[str]:
    """The window of ``image_path`` (relative to ``root``), one path per offset."""
    path = Path(image_path)
    match = _TRAILING_NUMBER.match(path.stem)
    if match is None:  # no frame number: nothing to look up
        return [image_path] * len(offsets)
    prefix, digits = match.groups()
    number = int(digits)
    window = []
    for offset in offsets:
        name = f"{prefix}{max(0, number + offset):0{len(digits)}d}{path.suffix}"
        neighbour = str(path.with_name(name))
        window.append(neighbour if offset and exists(root / neighbour) else image_path)
    return window
