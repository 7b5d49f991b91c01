"""Cheap data checks for ``sweeper validate`` and ``sweeper run``: labels readable, header matches,
images present. No torch: they answer before the engine is imported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pose.config.schema import PoseConfig
from pose.data.context import context_paths
from pose.data.labels import LabeledData, check_labels_match_config, read_labels
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


def labels_path(cfg: PoseConfig) -> Path:
    """The label CSV named by ``data.csv_file`` (relative to ``data.data_dir`` unless absolute)."""
    csv = cfg.data.csv_file
    if isinstance(csv, list):
        raise DataError(
            "data.csv_file is a list (multiview): only single-view label files are supported"
        )
    return Path(cfg.data.data_dir) / csv


def load_checked_labels(cfg: PoseConfig) -> LabeledData:
    """The labels ``data.csv_file`` names, checked against the config's keypoints (and hflip pairs)."""
    data_dir = Path(cfg.data.data_dir)
    if not data_dir.is_dir():
        raise DataError(f"config key 'data.data_dir': directory not found: {data_dir}")
    path = labels_path(cfg)
    labels = read_labels(path)
    check_labels_match_config(labels, cfg.data.keypoint_names, cfg.data.num_keypoints, path)
    if cfg.training.imgaug_hflip:
        from pose.data.augmentation import lateral_partners  # here: imgaug takes a second to import

        lateral_partners(labels.keypoint_names)
    return labels


def check_labeled_images(cfg: PoseConfig) -> LabeledData:
    """The checked labels, once every labeled image file is known to exist (none is decoded).

    Imports neither torch nor imgaug (unless hflip pairs are checked), so a sweep refuses bad
    data before it starts the engine.
    """
    data_dir, path = Path(cfg.data.data_dir), labels_path(cfg)
    labels = load_checked_labels(cfg)
    missing = [p for p in labels.image_paths if not (data_dir / p).is_file()]
    if missing:
        raise DataError(
            f"{path}: {len(missing)} of {len(labels.image_paths)} labeled images not found under "
            f"{data_dir}, e.g. {missing[0]}"
        )
    return labels


def check_data(cfg: PoseConfig, offsets: tuple[int, ...] | None = None) -> DataSummary:
    """Read the labels and check every image file exists, without decoding images; with the model
    type's context window ``offsets``, count the labeled frames whose whole window is on disk; with
    unsupervised losses, list the videos of ``data.video_dir`` (decoded only when training)."""
    data_dir, path = Path(cfg.data.data_dir), labels_path(cfg)
    labels = check_labeled_images(cfg)
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
        list(labels.keypoint_names),
        full_context,
        len(offsets) - 1 if offsets else 0,
        video_dir_videos(cfg.data.video_dir, cfg.data.data_dir, losses) if losses else None,
    )
