"""Predict every labeled frame after training and score it in original-image (full-frame) pixels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from pose.data import to_frame
from pose.data.heatmaps import per_keypoint
from pose.predict.dlc_csv import errors_frame, predictions_frame, write_csv
from pose.train.module import PoseLightningModule, pixel_errors
from pose.train.precision import autocast

SPLITS = ("train", "validation", "test")


@dataclass
class LabeledPredictions:
    """Predictions for every CSV row, in original-image pixels."""

    xy: np.ndarray  # [N, K, 2]
    likelihood: np.ndarray  # [N, K]
    errors: np.ndarray  # [N, K], NaN where unlabeled


@torch.inference_mode()
def predict_labeled(
    module: PoseLightningModule, loader: DataLoader, precision: str
) -> LabeledPredictions:
    """Run ``module`` over ``loader`` (no augmentation); rows come back sorted by CSV row index."""
    module.eval()
    device = module.device
    indices, xys, confs, errs = [], [], [], []
    for batch in loader:
        with autocast(device, precision):
            output = module(batch["image"].to(device, non_blocking=True))
        xy, conf = module.model.kind.decode(output)
        scale = batch["scale"].to(device)
        offset = per_keypoint(batch["offset"].to(device))  # a crop's corner in its frame
        indices.append(batch["index"].numpy())
        xys.append(to_frame(xy, per_keypoint(scale), offset).cpu().numpy())
        confs.append(conf.cpu().numpy())
        errs.append(pixel_errors(xy, batch["keypoints"].to(device), scale).cpu().numpy())
    order = np.argsort(np.concatenate(indices), kind="stable")
    return LabeledPredictions(
        np.concatenate(xys)[order], np.concatenate(confs)[order], np.concatenate(errs)[order]
    )


def split_pixel_errors(errors: np.ndarray, split_of_rows: np.ndarray) -> dict[str, float | None]:
    """Mean error over labeled keypoints of each split (None for an empty split)."""
    out: dict[str, float | None] = {}
    for split in SPLITS:
        values = errors[split_of_rows == split]
        values = values[~np.isnan(values)]
        out[split] = float(values.mean()) if values.size else None
    return out


def write_labeled_predictions(
    output_dir: Path,
    image_paths: list[str],
    keypoint_names: list[str],
    predictions: LabeledPredictions,
    split_of_rows: np.ndarray,
    suffix: str = "",
) -> None:
    """``predictions{suffix}.csv`` (DLC layout + ``set``) and ``predictions{suffix}_pixel_error.csv``."""
    sets = {"set": list(split_of_rows)}
    write_csv(
        predictions_frame(
            image_paths, keypoint_names, predictions.xy, predictions.likelihood, sets
        ),
        output_dir / f"predictions{suffix}.csv",
    )
    write_csv(
        errors_frame(image_paths, keypoint_names, predictions.errors, sets),
        output_dir / f"predictions{suffix}_pixel_error.csv",
    )


def write_multiview_predictions(
    output_dir: Path,
    views: list[str],
    image_paths: list[list[str]],
    keypoint_names: list[str],
    predictions: LabeledPredictions,
    split_of_rows: np.ndarray,
) -> None:
    """One DLC CSV pair per camera, ``predictions_<view>.csv`` (as Lightning Pose names them),
    from predictions whose keypoints are the views side by side (``[N, V * K, ...]``)."""
    k = len(keypoint_names)
    for v, view in enumerate(views):
        columns = slice(v * k, (v + 1) * k)
        part = LabeledPredictions(
            predictions.xy[:, columns],
            predictions.likelihood[:, columns],
            predictions.errors[:, columns],
        )
        write_labeled_predictions(
            output_dir, image_paths[v], keypoint_names, part, split_of_rows, f"_{view}"
        )
