"""Write predictions in the DeepLabCut CSV layout the field's tools already read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

SCORER = "pose-sweeper"


def predictions_frame(
    index: Sequence[str],
    keypoint_names: Sequence[str],
    xy: np.ndarray,
    likelihood: np.ndarray,
    extra_columns: Mapping[str, Sequence[object]] | None = None,
    scorer: str = SCORER,
) -> pd.DataFrame:
    """A 3-header-row (scorer/bodyparts/coords) frame with x, y, likelihood per keypoint.

    ``xy`` is ``[N, K, 2]`` and ``likelihood`` ``[N, K]``; ``extra_columns`` (e.g. ``set``) are appended
    as single columns, the way Lightning Pose adds its ``set`` column.
    """
    n, k = likelihood.shape
    columns = pd.MultiIndex.from_product(
        [[scorer], list(keypoint_names), ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    values = np.concatenate([xy, likelihood[..., None]], axis=-1).reshape(n, k * 3)
    frame = pd.DataFrame(values, index=list(index), columns=columns)
    for name, column in (extra_columns or {}).items():
        frame[(name, "", "")] = list(column)
    return frame


def errors_frame(
    index: Sequence[str],
    keypoint_names: Sequence[str],
    errors: np.ndarray,
    extra_columns: Mapping[str, Sequence[object]] | None = None,
) -> pd.DataFrame:
    """One column per keypoint (Euclidean error in original pixels, NaN where unlabeled)."""
    frame = pd.DataFrame(errors, index=list(index), columns=list(keypoint_names))
    for name, column in (extra_columns or {}).items():
        frame[name] = list(column)
    return frame


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path)


def read_predictions(path: Path) -> pd.DataFrame:
    """Read a predictions CSV written by :func:`predictions_frame` (3 header rows).

    Extra single columns such as ``set`` come back under ``(name, "", "")``, as written (pandas
    would otherwise name the empty header cells ``Unnamed: ...``).
    """
    frame = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    frame.columns = pd.MultiIndex.from_tuples(
        [
            tuple("" if str(level).startswith("Unnamed:") else level for level in col)
            for col in frame.columns
        ],
        names=frame.columns.names,
    )
    return frame


def is_predictions_csv(path: Path) -> bool:
    """Whether ``path`` starts with the DeepLabCut header rows (``scorer``, ``bodyparts``, ``coords``)."""
    with path.open() as file:
        heads = [file.readline().split(",", 1)[0].strip() for _ in range(3)]
    return heads == ["scorer", "bodyparts", "coords"]


def flat_predictions(frame: pd.DataFrame) -> pd.DataFrame:
    """The same table under one header row (``nose_x``, ``nose_y``, ``nose_likelihood``, ``set``):
    viewers that read one header row (MLflow's artifact preview, spreadsheets) show it as it is."""
    flat = frame.copy()
    flat.columns = [
        "_".join(str(level) for level in col[1:] if level) or str(col[0]) for col in frame.columns
    ]
    flat.index.name = "image"
    return flat


def points_3d_frame(
    index: Sequence[str], keypoint_names: Sequence[str], xyz: np.ndarray, scorer: str = SCORER
) -> pd.DataFrame:
    """Triangulated keypoints ``[N, K, 3]`` (the calibration's world units) in the same 3-row layout
    with coords x, y, z (NaN where fewer than two views saw a keypoint)."""
    n, k = xyz.shape[:2]
    columns = pd.MultiIndex.from_product(
        [[scorer], list(keypoint_names), ["x", "y", "z"]], names=["scorer", "bodyparts", "coords"]
    )
    return pd.DataFrame(np.asarray(xyz).reshape(n, k * 3), index=list(index), columns=columns)
