"""Cheap data checks for ``sweeper validate`` and ``sweeper run``: labels readable, header matches,
images present. No torch: they answer before the engine is imported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pose.config.schema import PoseConfig
from pose.data.bboxes import bbox_paths, place_in_frames
from pose.data.context import context_paths
from pose.data.labels import LabeledData, check_labels_match_config, read_labels
from pose.data.multiview_labels import (
    MultiviewLabels,
    is_multiview,
    read_multiview_labels,
)
from pose.errors import DataError
from pose.video_files import video_dir_videos


@dataclass
class DataSummary:
    csv_path: Path
    num_frames: int
    keypoint_names: list[str]
    # context models: labeled frames whose every neighbouring frame is on disk (None otherwise)
    frames_with_full_context: int | None = None
    context_neighbours: int = 0  # frames of a window besides the labeled one
    # the videos whose frames the unsupervised losses train on (None without such losses)
    videos: list[Path] | None = None
    # multiview: the camera names, in data.csv_file's order (None for one view)
    views: list[str] | None = None


def labels_path(cfg: PoseConfig) -> Path:
    """The label CSV named by ``data.csv_file`` (relative to ``data.data_dir`` unless absolute);
    the first view's for a multiview config."""
    csv = cfg.data.csv_file
    return Path(cfg.data.data_dir) / (csv[0] if isinstance(csv, list) else csv)


def _check_data_dir(cfg: PoseConfig) -> None:
    data_dir = Path(cfg.data.data_dir)
    if not data_dir.is_dir():
        raise DataError(f"config key 'data.data_dir': directory not found: {data_dir}")


def load_checked_multiview_labels(cfg: PoseConfig) -> MultiviewLabels:
    """Every view's labels, aligned by row and checked against each other and the config."""
    _check_data_dir(cfg)
    return read_multiview_labels(cfg)


def load_checked_labels(cfg: PoseConfig) -> LabeledData:
    """The labels ``data.csv_file`` names, checked against the config's keypoints (and hflip pairs),
    in full-frame pixels when ``data.bbox_file`` places crops (:mod:`pose.data.bboxes`); for a
    multiview config, the views side by side (:meth:`MultiviewLabels.flat`)."""
    if is_multiview(cfg):
        return load_checked_multiview_labels(cfg).flat()
    _check_data_dir(cfg)
    path = labels_path(cfg)
    labels = read_labels(path)
    check_labels_match_config(labels, cfg.data.keypoint_names, cfg.data.num_keypoints, path)
    if cfg.training.imgaug_hflip:
        from pose.data.augmentation import lateral_partners  # here: imgaug takes a second to import

        lateral_partners(labels.keypoint_names)
    crops = bbox_paths(cfg)
    if crops is not None:  # the images are crops: labels into full-frame pixels
        labels = place_in_frames(labels, crops[0], Path(cfg.data.data_dir), path)
    return labels


def check_labeled_images(cfg: PoseConfig) -> LabeledData:
    """The checked labels, once every labeled image file is known to exist (none is decoded).

    Imports neither torch nor imgaug (unless hflip pairs are checked), so a sweep refuses bad
    data before it starts the engine.
    """
    data_dir = Path(cfg.data.data_dir)
    if is_multiview(cfg):
        return check_multiview_images(cfg).flat()
    labels = load_checked_labels(cfg)
    _check_images_exist(data_dir, labels_path(cfg), labels.image_paths)
    return labels


def check_multiview_images(cfg: PoseConfig) -> MultiviewLabels:
    """The checked labels of every view, once every view's labeled image files are known to exist."""
    views = load_checked_multiview_labels(cfg)
    for path, paths in zip(views.csv_paths, views.image_paths, strict=True):
        _check_images_exist(Path(cfg.data.data_dir), path, paths)
    from pose.data.multiview import load_rig  # aniposelib and torch: multiview configs only

    load_rig(cfg, for_training=True)  # a calibration that is needed, readable, with every view
    return views


def _check_images_exist(data_dir: Path, csv_path: Path, image_paths: list[str]) -> None:
    missing = [p for p in image_paths if not (data_dir / p).is_file()]
    if missing:
        raise DataError(
            f"{csv_path}: {len(missing)} of {len(image_paths)} labeled images not found under "
            f"{data_dir}, e.g. {missing[0]}"
        )


def check_data(cfg: PoseConfig, offsets: tuple[int, ...] | None = None) -> DataSummary:
    """Read the labels and check every image file exists, without decoding images; with the model
    type's context window ``offsets``, count the labeled frames whose whole window is on disk; with
    unsupervised losses, list the videos of ``data.video_dir`` (decoded only when training)."""
    data_dir, path = Path(cfg.data.data_dir), labels_path(cfg)
    views = check_multiview_images(cfg) if is_multiview(cfg) else None
    labels = views.flat() if views else check_labeled_images(cfg)
    full_context = None
    if offsets:
        full_context = sum(
            len(set(context_paths(p, data_dir, offsets))) == len(offsets)
            for p in labels.image_paths
        )
    losses = list(cfg.model.losses_to_use)
    return DataSummary(
        path,
        len(labels.image_paths),
        list(views.keypoint_names if views else labels.keypoint_names),
        full_context,
        len(offsets) - 1 if offsets else 0,
        video_dir_videos(cfg.data.video_dir, cfg.data.data_dir, losses) if losses else None,
        views.views if views else None,
    )
