"""Multi-camera label sets: one DeepLabCut CSV per view (``data.csv_file`` a list, named by
``data.view_names``), rows aligned by moment, the same keypoints in every view.

The engine sees a moment's views as one item: images ``[V, 3, H, W]`` and keypoints ``[V * K, 2]``
(view-major, as Lightning Pose's multiview models lay them out), so splits, losses and metrics
that work per keypoint work unchanged; :func:`view_columns` maps a view back to its columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from pose.config.schema import PoseConfig
from pose.data.bboxes import bbox_paths, place_in_frames
from pose.data.labels import LabeledData, check_labels_match_config, read_labels
from pose.errors import DataError


def is_multiview(cfg: PoseConfig) -> bool:
    """True when ``data.csv_file`` lists one label file per camera."""
    return isinstance(cfg.data.csv_file, list)


def view_names(cfg: PoseConfig) -> list[str]:
    """``data.view_names``, or ``view0``, ``view1``... when a multiview config leaves them out."""
    csv = cfg.data.csv_file
    n = len(csv) if isinstance(csv, list) else 1
    return list(cfg.data.view_names) if cfg.data.view_names else [f"view{i}" for i in range(n)]


def view_columns(view: int, num_keypoints: int) -> slice:
    """The columns of ``view`` in a moment's ``[V * K, ...]`` keypoints."""
    return slice(view * num_keypoints, (view + 1) * num_keypoints)


@dataclass
class MultiviewLabels:
    """Aligned labels of every view: ``keypoints`` float32 ``[N, V, K, 2]`` in each view's original
    (full-frame) pixels (NaN = unlabeled), ``image_paths[v][i]`` the file of moment ``i`` in view
    ``v``; ``bboxes`` ``[N, V, 4]`` places each image in its frame when the images are crops
    (``data.bbox_file``, :mod:`pose.data.bboxes`), else None."""

    views: list[str]
    csv_paths: list[Path]
    image_paths: list[list[str]]
    keypoints: np.ndarray
    keypoint_names: list[str]
    scorer: str
    bboxes: np.ndarray | None = None

    def __len__(self) -> int:
        return self.keypoints.shape[0]

    @property
    def num_views(self) -> int:
        return len(self.views)

    def flat(self) -> LabeledData:
        """The moments as one label set: the first view's paths name the rows, keypoints
        ``[N, V * K, 2]`` (full-frame pixels), names ``<view>_<keypoint>``; its ``bboxes`` are
        None, each view's crops being :attr:`bboxes`'."""
        names = [f"{view}_{kp}" for view in self.views for kp in self.keypoint_names]
        n = len(self)
        return LabeledData(
            self.image_paths[0], self.keypoints.reshape(n, -1, 2), names, self.scorer
        )

    def view(self, v: int) -> LabeledData:
        return LabeledData(
            self.image_paths[v],
            self.keypoints[:, v],
            list(self.keypoint_names),
            self.scorer,
            None if self.bboxes is None else self.bboxes[:, v],
        )


def read_multiview_labels(cfg: PoseConfig) -> MultiviewLabels:
    """Read and align every view's CSV (with ``data.bbox_file``, each view's crops moved into its
    full frame); a view with other keypoints or rows, or rows naming different frames, is a
    one-line :class:`DataError` naming both files."""
    data_dir = Path(cfg.data.data_dir)
    csv_files = list(cfg.data.csv_file)
    views = view_names(cfg)
    if len(views) != len(csv_files):
        raise DataError(
            f"config key 'data.view_names': expected one name per csv file ({len(csv_files)}), "
            f"got {len(views)}"
        )
    paths = [data_dir / f for f in csv_files]
    per_view = [read_labels(p) for p in paths]
    crops = bbox_paths(cfg)
    if crops is not None and len(crops) != len(paths):
        raise DataError(
            f"config key 'data.bbox_file': expected one bounding-box file per csv file "
            f"({len(paths)}), got {len(crops)}"
        )
    first, first_path = per_view[0], paths[0]
    check_labels_match_config(first, cfg.data.keypoint_names, cfg.data.num_keypoints, first_path)
    for labels, path in zip(per_view[1:], paths[1:], strict=True):
        if labels.keypoint_names != first.keypoint_names:
            raise DataError(
                f"{path.name}: keypoints [{', '.join(labels.keypoint_names)}] differ from "
                f"{first_path.name}'s [{', '.join(first.keypoint_names)}]; every view must label the "
                "same keypoints in the same order"
            )
        if len(labels) != len(first):
            raise DataError(
                f"{path.name}: {len(labels)} rows, {first_path.name} has {len(first)}; row i of "
                "every view's file must be the same moment"
            )
        for row, (a, b) in enumerate(zip(first.image_paths, labels.image_paths, strict=True)):
            if PurePosixPath(a).name != PurePosixPath(b).name:
                raise DataError(
                    f"{path.name}: row {row} is {b}, {first_path.name} has {a}; rows must name the "
                    "same frame (file name) in every view"
                )
    if crops is not None:  # into full-frame pixels, each view by its own crops
        per_view = [
            place_in_frames(labels, crop, data_dir, path)
            for labels, crop, path in zip(per_view, crops, paths, strict=True)
        ]
    placed = [labels.bboxes for labels in per_view]
    return MultiviewLabels(
        views,
        paths,
        [labels.image_paths for labels in per_view],
        np.stack([labels.keypoints for labels in per_view], axis=1).astype(np.float32),
        list(first.keypoint_names),
        first.scorer,
        None if crops is None else np.stack([b for b in placed if b is not None], axis=1),
    )


def reprojection_loss_on(cfg: PoseConfig) -> bool:
    """Lightning Pose's rule: ``supervised_reprojection_heatmap_mse`` is on when its
    ``log_weight`` is a number (its default multiview config sets 3.0)."""
    return cfg.losses.supervised_reprojection_heatmap_mse.log_weight is not None


def augments_in_3d(cfg: PoseConfig, calibrated: bool) -> bool:
    """3D augmentation: with a calibration, unless ``training.imgaug_3d`` is false."""
    return calibrated and cfg.training.imgaug_3d is not False


def check_calibration_needs(cfg: PoseConfig, calibration: Path | None) -> None:
    """What needs a calibration has one: ``training.imgaug_3d: true`` and the reprojection loss
    (Lightning Pose refuses both without camera parameters)."""
    if calibration is not None:
        return
    where = "set data.camera_params_file or put calibration.toml in data.data_dir"
    if cfg.training.imgaug_3d is True:
        raise DataError(
            f"config key 'training.imgaug_3d': 3D augmentation needs the cameras' calibration ({where}), "
            "or set it to false"
        )
    if reprojection_loss_on(cfg):
        raise DataError(
            "config key 'losses.supervised_reprojection_heatmap_mse.log_weight': the reprojection "
            f"loss needs the cameras' calibration ({where}), or set it to null"
        )


def calibration_file(cfg: PoseConfig) -> Path | None:
    """The camera calibration of a multiview config: ``data.camera_params_file`` (an Anipose TOML,
    relative to ``data.data_dir`` unless absolute), else ``calibration.toml`` in ``data.data_dir``
    when present (Lightning Pose finds it there too), else None."""
    data_dir = Path(cfg.data.data_dir)
    named = cfg.data.camera_params_file
    if named:
        path = data_dir / named
        if not path.is_file():
            raise DataError(f"config key 'data.camera_params_file': file not found: {path}")
        if path.suffix.lower() == ".csv":
            return _single_calibration_of_table(path, data_dir)
        return path
    found = data_dir / "calibration.toml"
    if found.is_file():
        return found
    sessions = data_dir / "calibrations"
    if sessions.is_dir() and any(sessions.glob("*.toml")):
        raise DataError(
            f"{sessions}: one calibration per session is not supported yet; give one calibration "
            "for all sessions as data.camera_params_file or calibration.toml in data.data_dir"
        )
    return None


def _single_calibration_of_table(path: Path, data_dir: Path) -> Path:
    """Lightning Pose's form of ``camera_params_file``: a CSV naming each labeled frame's
    calibration TOML (column ``file``, relative to ``data_dir``). One calibration for all frames
    is what this engine trains with."""
    import pandas as pd

    try:
        table = pd.read_csv(path, index_col=0)
    except (ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path.name}: cannot be read as a CSV table ({err})") from None
    if "file" not in table.columns or table.empty:
        raise DataError(
            f"{path.name}: expected a column 'file' naming each frame's calibration .toml, got "
            f"columns {list(table.columns)}"
        )
    files = sorted({str(f) for f in table["file"]})
    if len(files) != 1:
        raise DataError(
            f"{path.name}: frames name {len(files)} calibrations ({', '.join(files[:3])}); "
            "training with one calibration per session is not supported yet, only one for all"
        )
    toml = data_dir / files[0]
    if not toml.is_file():
        raise DataError(f"{path.name}: calibration file not found: {toml}")
    return toml
