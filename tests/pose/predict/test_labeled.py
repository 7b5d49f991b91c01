"""Labeled-frame predictions and their errors come out in full-frame pixels, crops or not."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from pose.config import load_config
from pose.data import PoseDataModule
from pose.predict.labeled import LabeledPredictions, predict_labeled


class _Oracle(torch.nn.Module):
    """Stands in for a trained model: "predicts" each batch's own labels (resized pixels), moved
    by ``shift`` model pixels, so the predictions' frame pixels and errors have known answers."""

    def __init__(self, loader: DataLoader, shift: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__()
        self._labels = iter([batch["keypoints"] for batch in loader])
        self._shift = torch.tensor(shift)
        self.model = SimpleNamespace(kind=SimpleNamespace(decode=self._decode))

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def _decode(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keypoints = next(self._labels) + self._shift
        return keypoints, torch.ones(keypoints.shape[:2])


def _predict(data: Path, shift: tuple[float, float] = (0.0, 0.0)) -> tuple[Any, LabeledPredictions]:
    dm = PoseDataModule(load_config(data / "config.yaml", ["training.num_workers=0"]))
    dm.setup()
    oracle: Any = _Oracle(dm.labeled_dataloader(), shift)
    return dm, predict_labeled(oracle, dm.labeled_dataloader(), "32")


def test_exact_predictions_of_crops_are_the_uncropped_frames_labels(
    cropped_synthetic_dir: Path, synthetic_dir: Path
) -> None:
    dm, cropped = _predict(cropped_synthetic_dir)
    _, full = _predict(synthetic_dir)
    np.testing.assert_allclose(cropped.xy, full.xy, atol=1e-3, equal_nan=True)
    np.testing.assert_allclose(cropped.xy, dm.labels.keypoints, atol=1e-3, equal_nan=True)
    labeled = ~np.isnan(cropped.errors)
    assert labeled.any() and np.abs(cropped.errors[labeled]).max() < 1e-3


def test_errors_are_in_frame_pixels_not_the_crop_files(cropped_synthetic_dir: Path) -> None:
    """One model pixel off in x is ``w / 128`` frame pixels, whatever size the crop is stored at."""
    dm, shifted = _predict(cropped_synthetic_dir, (1.0, 0.0))
    bboxes = dm.labels.bboxes
    expected = np.repeat(bboxes[:, 3:4] / 128, shifted.errors.shape[1], axis=1)
    labeled = ~np.isnan(shifted.errors)
    np.testing.assert_allclose(shifted.errors[labeled], expected[labeled], rtol=1e-4)


def test_multiview_crops_predict_each_views_frame(
    multiview_crops: Path, multiview_data: Path
) -> None:
    dm, cropped = _predict(multiview_crops)
    _, full = _predict(multiview_data)
    assert dm.multiview.bboxes is not None
    np.testing.assert_allclose(cropped.xy, full.xy, atol=1e-3, equal_nan=True)
    np.testing.assert_allclose(cropped.xy, dm.labels.keypoints, atol=1e-3, equal_nan=True)
