"""``regression``: coordinates straight from pooled backbone features, no heatmaps."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pose.losses.regression import regression_loss
from pose.models.backbones import Backbone
from pose.models.heads import RegressionHead
from pose.models.types.base import MODEL_TYPES, ModelType, labeled_mask


def regression_to_pixels(output: Tensor, image_hw: tuple[int, int]) -> Tensor:
    """Regression outputs in [0, 1] ``[B, K, 2]`` -> (x, y) in resized-image pixels (fp32)."""
    h, w = image_hw
    return output.float() * output.new_tensor([w - 1, h - 1]).float()


@MODEL_TYPES.register("regression")
class Regression(ModelType):
    """Normalized coordinates ``[B, K, 2]`` in [0, 1]; squared pixel error; no confidence (1)."""

    name = "regression"

    def build_head(self, backbone: Backbone, num_keypoints: int) -> nn.Module:
        return RegressionHead(
            backbone.out_channels, num_keypoints, backbone.stride, self.downsample_factor
        )

    def supervised_loss(self, output: Tensor, keypoints: Tensor) -> Tensor:
        pred = regression_to_pixels(output, self.image_hw)
        return regression_loss(pred, keypoints, labeled_mask(keypoints))

    def decode(self, output: Tensor) -> tuple[Tensor, Tensor]:
        confidence = torch.ones(output.shape[:2], device=output.device)
        return regression_to_pixels(output, self.image_hw), confidence
