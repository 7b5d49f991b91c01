"""Bounding-box crops (``data.bbox_file``): labeled images cut out of larger frames.

As in Lightning Pose, a bbox CSV has one row per labeled image, indexed by the image's path as the
labels CSV names it (the same rows in the same order: Lightning Pose asserts the index lists are
equal), with columns ``x, y, h, w``: the crop's upper-left corner in the full frame and its height
and width there. The labels CSV is in the crop image's pixels. Lightning Pose maps a model pixel to
the frame as ``(x, y) + model * (w, h) / (model width, height)``, so ``h, w`` are the crop's extent
in the frame and the image file may be stored at another size.

Here the labels are moved into full-frame pixels once, when read (:func:`labels_in_frame`), and
each item carries the factor and offset from its resized image to the frame (:func:`to_frame`), so
predictions, pixel errors, the unsupervised and reprojection losses and triangulation all work in
full-frame pixels. Torch-free: ``sweeper validate`` reads bbox files before the engine loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from pose.config.schema import PoseConfig
from pose.data.labels import LabeledData
from pose.errors import DataError

if TYPE_CHECKING:
    from torch import Tensor

BBOX_COLUMNS = ("x", "y", "h", "w")
ArrayT = TypeVar("ArrayT", "Tensor", np.ndarray)


def to_frame(xy: ArrayT, scale: Any, offset: Any) -> ArrayT:
    """Pixels ``[..., 2]`` of a resized image -> its full frame: rescaled by ``scale`` with pixel
    centres at integers (``pose.data.heatmaps.rescale_pixels``'s convention), then moved by the
    crop's corner ``offset`` (zero when the image is the whole frame). Numpy or torch alike."""
    return (xy + 0.5) * scale - 0.5 + offset


def from_frame(xy: ArrayT, scale: Any, offset: Any) -> ArrayT:
    """Full-frame pixels ``[..., 2]`` -> the resized image's (the inverse of :func:`to_frame`)."""
    return (xy - offset + 0.5) / scale - 0.5


def frame_scale_offset(
    bboxes: np.ndarray | None, image_scale: np.ndarray, resize_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the factor and offset ``[..., 2]`` (float32) from resized to full-frame pixels.

    Without crops that is the image's own resize factor ``image_scale`` (original / resized) and no
    offset; a crop ``bboxes`` ``[..., 4]`` spans ``(w, h)`` frame pixels from its corner ``(x, y)``,
    whatever size its file is stored at (as Lightning Pose maps it).
    """
    if bboxes is None:
        scale = np.asarray(image_scale, dtype=np.float32)
        return scale, np.zeros_like(scale)
    height, width = resize_hw
    scale = _crop_scale(bboxes, width, height)
    return scale.astype(np.float32), np.asarray(bboxes[..., :2], dtype=np.float32)


def _crop_scale(bboxes: np.ndarray, width: Any, height: Any) -> np.ndarray:
    """Frame pixels per image pixel ``[..., 2]``: the crop's ``(w, h)`` over the image's size."""
    return np.stack([bboxes[..., 3] / width, bboxes[..., 2] / height], axis=-1)


def bbox_paths(cfg: PoseConfig) -> list[Path] | None:
    """The files of ``data.bbox_file`` (relative to ``data.data_dir`` unless absolute, as the label
    files), one per view in ``data.csv_file``'s order; None when the images are whole frames."""
    named = cfg.data.bbox_file
    if not named:
        return None
    files = [named] if isinstance(named, str) else list(named)
    return [Path(cfg.data.data_dir) / str(f) for f in files]


def read_bboxes(path: Path, image_paths: Sequence[str], labels_path: Path) -> np.ndarray:
    """``[N, 4]`` float32 ``x, y, h, w`` of each image of ``labels_path`` (row ``i`` for
    ``image_paths[i]``); a file that is missing, lacks a column, names other images or has a crop
    of no size is a one-line :class:`DataError` naming it."""
    name = path.name
    if not path.is_file():
        raise DataError(f"config key 'data.bbox_file': file not found: {path}")
    try:
        table = pd.read_csv(path, index_col=0)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{name}: cannot be read as a CSV table ({err})") from None
    missing = [c for c in BBOX_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"{name}: expected columns x, y, h, w (each crop's upper-left corner and size in the "
            f"full frame), missing {', '.join(missing)}"
        )
    index = [str(i) for i in table.index]
    if index != list(image_paths):
        raise DataError(
            f"{name}: {_first_difference(index, list(image_paths), labels_path.name)}; its rows "
            f"must name the labeled images of {labels_path.name}, in the same order"
        )
    try:
        values = table[list(BBOX_COLUMNS)].apply(pd.to_numeric, errors="raise").to_numpy(np.float64)
    except (ValueError, TypeError) as err:
        raise DataError(f"{name}: x, y, h, w must be numbers ({err})") from None
    bad = ~np.isfinite(values).all(axis=1) | (values[:, 2] <= 0) | (values[:, 3] <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        x, y, h, w = values[row]
        raise DataError(
            f"{name}: row {row} ({index[row]}) has x={x:g}, y={y:g}, h={h:g}, w={w:g}; a crop needs "
            "a finite corner and a positive width and height"
        )
    return values.astype(np.float32)


def _first_difference(index: list[str], image_paths: list[str], labels_name: str) -> str:
    for row, (a, b) in enumerate(zip(index, image_paths, strict=False)):
        if a != b:
            return f"row {row} is {a}, {labels_name} has {b}"
    return f"{len(index)} rows, {labels_name} has {len(image_paths)}"


def image_sizes(data_dir: Path, image_paths: Sequence[str], labels_path: Path) -> np.ndarray:
    """``[N, 2]`` (height, width) of each labeled image, read from the file headers (nothing is
    decoded); a missing or unreadable image is a one-line :class:`DataError`."""
    from PIL import Image, UnidentifiedImageError

    sizes = np.empty((len(image_paths), 2), dtype=np.float32)
    for i, rel in enumerate(image_paths):
        path = data_dir / rel
        try:
            with Image.open(path) as image:
                sizes[i] = image.height, image.width
        except FileNotFoundError:
            raise DataError(
                f"{labels_path}: labeled image not found under {data_dir}: {rel}"
            ) from None
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"labeled image {path}: cannot be read as an image ({err})") from None
    return sizes


def labels_in_frame(keypoints: np.ndarray, bboxes: np.ndarray, image_hw: np.ndarray) -> np.ndarray:
    """Labels ``[N, K, 2]`` in each crop image's pixels -> full-frame pixels: the crop file's
    ``image_hw`` ``[N, 2]`` spans the bbox's ``(w, h)`` from its corner ``(x, y)``."""
    scale = _crop_scale(bboxes, image_hw[:, 1], image_hw[:, 0])
    return to_frame(keypoints, scale[:, None, :], bboxes[:, None, :2]).astype(np.float32)


def place_in_frames(
    labels: LabeledData, bbox_path: Path, data_dir: Path, labels_path: Path
) -> LabeledData:
    """``labels`` read from ``labels_path`` (crop pixels) with ``bbox_path``'s crops: the keypoints
    in full-frame pixels and ``bboxes`` set."""
    bboxes = read_bboxes(bbox_path, labels.image_paths, labels_path)
    sizes = image_sizes(data_dir, labels.image_paths, labels_path)
    return replace(
        labels, keypoints=labels_in_frame(labels.keypoints, bboxes, sizes), bboxes=bboxes
    )
