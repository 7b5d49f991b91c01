"""DeepLabCut-format label CSVs: reading, checking against the config, writing.

Lightning Pose reads the same files, so a project labeled for it trains here unchanged. Every
problem becomes a one-line :class:`DataError` naming the file, since label files are user input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pose.errors import DataError


@dataclass
class LabeledData:
    """Labeled frames: ``keypoints`` is float32 ``[N, K, 2]`` in original pixels, NaN = unlabeled.

    Original pixels are the full frame's: the CSV's own when the images are whole frames; when
    they are crops (``data.bbox_file``), ``bboxes`` ``[N, 4]`` (``x, y, h, w``) places each image in
    its frame and the keypoints have been moved there (:mod:`pose.data.bboxes`).
    """

    image_paths: list[str]
    keypoints: np.ndarray
    keypoint_names: list[str]
    scorer: str
    bboxes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.image_paths)


def _is_index_column(column: tuple[str, str, str]) -> bool:
    """True for the extra index columns of the newer DLC layout (pandas names them 'Unnamed: ...')."""
    return all(str(level).startswith("Unnamed:") or str(level) == "" for level in column)


def read_labels(csv_path: Path) -> LabeledData:
    """Read a DLC CSV with 3 header rows (scorer / bodyparts / coords); extra likelihood ignored.

    The index is the image path relative to ``data_dir``; the newer DLC layout that splits it over
    3 leading columns (``labeled-data,video1,img001.png``) is joined with ``/``.
    """
    csv_path = Path(csv_path)
    name = csv_path.name
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: label file not found")
    try:
        frame = pd.read_csv(csv_path, header=[0, 1, 2], index_col=0)
    except (ValueError, IndexError, pd.errors.ParserError) as error:
        raise DataError(
            f"{name}: expected 3 header rows (scorer, bodyparts, coords) in DeepLabCut format "
            f"({error})"
        ) from None
    if not isinstance(frame.columns, pd.MultiIndex) or frame.columns.nlevels != 3:
        raise DataError(f"{name}: expected 3 header rows (scorer, bodyparts, coords)")
    index = [str(value) for value in frame.index]
    extra = [column for column in frame.columns[:2] if _is_index_column(column)]
    if extra:  # newer layout: labeled-data, video, image in 3 leading columns
        parts = [index] + [frame[column].astype(str).tolist() for column in extra]
        index = ["/".join(p) for p in zip(*parts, strict=True)]
        frame = frame.drop(columns=extra)
    frame = frame.loc[:, [c[2] != "likelihood" for c in frame.columns]]
    coords = [str(c[2]) for c in frame.columns]
    expected = ["x", "y"] * (len(coords) // 2)
    if len(coords) == 0 or coords != expected:
        raise DataError(
            f"{name}: third header row must be coords alternating x,y per keypoint, got "
            f"{', '.join(coords[:8])}{'...' if len(coords) > 8 else ''}"
        )
    bodyparts = [str(c[1]) for c in frame.columns]
    names = bodyparts[::2]
    if bodyparts[1::2] != names:
        raise DataError(f"{name}: each keypoint needs an x and a y column next to each other")
    try:
        values = frame.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float32)
    except (ValueError, TypeError) as error:
        raise DataError(f"{name}: keypoint coordinates must be numbers ({error})") from None
    return LabeledData(
        image_paths=index,
        keypoints=values.reshape(len(index), len(names), 2),
        keypoint_names=names,
        scorer=str(frame.columns[0][0]),
    )


def _listing(names: Sequence[str]) -> str:
    return "[" + ", ".join(names) + "]"


def check_labels_match_config(
    labels: LabeledData,
    keypoint_names: list[str] | None,
    num_keypoints: int | None,
    csv_path: Path | str,
) -> None:
    """Fail early when the CSV header and ``data.keypoint_names`` / ``data.num_keypoints`` differ."""
    name = Path(csv_path).name
    header = labels.keypoint_names
    found = f"{name}: header has {len(header)} keypoints {_listing(header)}"
    if keypoint_names is not None and list(keypoint_names) != header:
        raise DataError(
            f"{found}, config data.keypoint_names has {len(keypoint_names)} "
            f"{_listing(keypoint_names)}"
        )
    if num_keypoints is not None and num_keypoints != len(header):
        raise DataError(f"{found}, config data.num_keypoints is {num_keypoints}")


def write_labels(path: Path, labels: LabeledData) -> None:
    """Write ``labels`` in the classic DLC layout (image path index, 3 header rows)."""
    columns = pd.MultiIndex.from_tuples(
        [(labels.scorer, kp, coord) for kp in labels.keypoint_names for coord in ("x", "y")],
        names=["scorer", "bodyparts", "coords"],
    )
    values = np.asarray(labels.keypoints, dtype=np.float64).reshape(len(labels.image_paths), -1)
    frame = pd.DataFrame(values, index=labels.image_paths, columns=columns)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path)
