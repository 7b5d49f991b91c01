"""Labeled data: DLC CSVs, splits, augmentation, cached datasets, and the synthetic example.

Names load on first use (PEP 562), so the label checks the CLI runs before anything else import
neither torch (the datasets and the datamodule need it) nor imgaug.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pose.data.augmentation import (
        AUGMENTATIONS,
        build_augmenter,
        lateral_partners,
        validate_augmentation,
    )
    from pose.data.bboxes import from_frame, to_frame
    from pose.data.check import DataSummary, check_data, check_labeled_images, labels_path
    from pose.data.datamodule import PoseDataModule
    from pose.data.dataset import ImageCache, LabeledImageDataset, seed_worker
    from pose.data.labels import LabeledData, check_labels_match_config, read_labels, write_labels
    from pose.data.splits import Splits, split_indices

# the module of each exported name (the imports above, for the type checker)
_MODULES = {
    "augmentation": (
        "AUGMENTATIONS",
        "build_augmenter",
        "lateral_partners",
        "validate_augmentation",
    ),
    "bboxes": ("from_frame", "to_frame"),
    "check": ("DataSummary", "check_data", "check_labeled_images", "labels_path"),
    "datamodule": ("PoseDataModule",),
    "dataset": ("ImageCache", "LabeledImageDataset", "seed_worker"),
    "labels": ("LabeledData", "check_labels_match_config", "read_labels", "write_labels"),
    "splits": ("Splits", "split_indices"),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}

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
    "check_labeled_images",
    "check_labels_match_config",
    "from_frame",
    "labels_path",
    "lateral_partners",
    "read_labels",
    "seed_worker",
    "split_indices",
    "to_frame",
    "validate_augmentation",
    "write_labels",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once: later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
