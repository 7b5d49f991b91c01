"""Labeled data: DLC CSVs, splits, augmentation, cached datasets, and the synthetic example."""

from pose.data.augmentation import (
    AUGMENTATIONS,
    build_augmenter,
    lateral_partners,
    validate_augmentation,
)
from pose.data.check import DataSummary, check_data, labels_path
from pose.data.datamodule import PoseDataModule
from pose.data.dataset import ImageCache, LabeledImageDataset, seed_worker
from pose.data.labels import LabeledData, check_labels_match_config, read_labels, write_labels
from pose.data.splits import Splits, split_indices

__all__ = [
    "AUGMENTATIONS",
    "DataSummary",
    "ImageCache",
    "LabeledData",
    "LabeledImageDataset",
    "PoseDataModule",
    "Splits",
    "build_augmenter",
    "check_data",
    "check_labels_match_config",
    "labels_path",
    "lateral_partners",
    "read_labels",
    "seed_worker",
    "split_indices",
    "validate_augmentation",
    "write_labels",
]
