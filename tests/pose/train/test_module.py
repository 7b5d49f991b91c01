"""The LightningModule's loss and metrics on hand-made batches (no Trainer)."""

from __future__ import annotations

import math

import torch

from pose.config import build_config
from pose.data.heatmaps import make_heatmaps
from pose.losses.heatmap import HEATMAP_LOSSES
from pose.models import build_model_for, spatial_softmax
from pose.train.module import PoseLightningModule, pixel_errors


def _module(uniform: bool) -> PoseLightningModule:
    cfg = build_config(
        {
            "data": {
                "data_dir": "/d",
                "image_resize_dims": {"height": 64, "width": 64},
                "keypoint_names": ["a", "b", "c"],
            },
            "training": {"uniform_heatmaps_for_nan_keypoints": uniform, "max_epochs": 2},
            "model": {"backbone": "resnet18", "backbone_pretrained": False},
        }
    )
    torch.manual_seed(0)
    # the config's model type carries the loss settings (uniform_heatmaps_for_nan_keypoints)
    return PoseLightningModule(build_model_for(cfg, pretrained=False), cfg)


def test_uniform_heatmaps_for_nan_keypoints_changes_the_loss() -> None:
    keypoints = torch.tensor([[[10.0, 20.0], [float("nan"), float("nan")], [40.0, 30.0]]])
    output = torch.randn(1, 3, 16, 16)
    probs = spatial_softmax(output)
    mse = HEATMAP_LOSSES.get("mse")

    with_uniform = _module(True).loss(output, keypoints)
    target = make_heatmaps(keypoints, (16, 16), 4, uniform_for_nan=True)
    assert torch.allclose(with_uniform, mse(probs, target, torch.ones(1, 3, dtype=torch.bool)))
    assert torch.allclose(
        target[0, 1], torch.full((16, 16), 1 / 256)
    )  # unlabeled -> uniform target

    dropped = _module(False).loss(output, keypoints)
    labeled_only = mse(probs[:, [0, 2]], target[:, [0, 2]], torch.ones(1, 2, dtype=torch.bool))
    assert torch.allclose(dropped, labeled_only)  # unlabeled keypoint left out of the loss
    assert not torch.allclose(with_uniform, dropped)


def test_pixel_errors_are_in_original_pixels() -> None:
    pred = torch.tensor([[[3.0, 4.0], [0.0, 0.0]]])
    true = torch.tensor([[[0.0, 0.0], [float("nan"), float("nan")]]])
    errors = pixel_errors(pred, true, torch.tensor([[2.0, 2.0]]))
    assert math.isclose(errors[0, 0].item(), 10.0)
    assert math.isnan(errors[0, 1].item())
