"""Turn raw network outputs into keypoints in resized-image pixels, for both model types."""

from __future__ import annotations

import torch
from torch import Tensor

from pose.data.heatmaps import heatmap_to_image_coords
from pose.models.heads import heatmap_to_keypoints
from pose.models.pose_model import spatial_softmax


def regression_to_pixels(output: Tensor, image_hw: tuple[int, int]) -> Tensor:
    """Regression outputs in [0, 1] ``[B, K, 2]`` -> (x, y) in resized-image pixels (fp32)."""
    h, w = image_hw
    return output.float() * output.new_tensor([w - 1, h - 1]).float()


def decode_outputs(
    output: Tensor, model_type: str, image_hw: tuple[int, int], stride: int
) -> tuple[Tensor, Tensor]:
    """Keypoints ``[B, K, 2]`` (x, y in resized-image pixels) and confidences ``[B, K]`` in [0, 1].

    Heatmap models: spatial softmax, then local soft-argmax around the peak; confidence is the
    probability mass near the peak. Regression models have no confidence: it is reported as 1.
    """
    if model_type == "regression":
        return regression_to_pixels(output, image_hw), torch.ones(
            output.shape[:2], device=output.device
        )
    probs = spatial_softmax(output.float())
    uv, confidence = heatmap_to_keypoints(probs)
    return heatmap_to_image_coords(uv, stride), confidence
