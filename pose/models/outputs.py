"""Turn raw network outputs into keypoints in resized-image pixels, one decoder per model type."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pose.data.heatmaps import heatmap_to_image_coords
from pose.models.heads import heatmap_to_keypoints
from pose.models.pose_model import spatial_softmax
from pose.registry import Registry

Decoder = Callable[[Tensor, tuple[int, int], int], tuple[Tensor, Tensor]]
DECODERS: Registry[Decoder] = Registry("model_type")


def regression_to_pixels(output: Tensor, image_hw: tuple[int, int]) -> Tensor:
    """Regression outputs in [0, 1] ``[B, K, 2]`` -> (x, y) in resized-image pixels (fp32)."""
    h, w = image_hw
    return output.float() * output.new_tensor([w - 1, h - 1]).float()


@DECODERS.register("regression")
def _decode_regression(
    output: Tensor, image_hw: tuple[int, int], stride: int
) -> tuple[Tensor, Tensor]:
    """Regression models have no confidence: it is reported as 1."""
    return regression_to_pixels(output, image_hw), torch.ones(
        output.shape[:2], device=output.device
    )


@DECODERS.register("heatmap")
def _decode_heatmap(
    output: Tensor, image_hw: tuple[int, int], stride: int
) -> tuple[Tensor, Tensor]:
    """Spatial softmax, then local soft-argmax around the peak; confidence is the probability
    mass near the peak."""
    uv, confidence = heatmap_to_keypoints(spatial_softmax(output.float()))
    return heatmap_to_image_coords(uv, stride), confidence


@DECODERS.register("heatmap_mhcrnn")
def _decode_context(
    output: Tensor, image_hw: tuple[int, int], stride: int
) -> tuple[Tensor, Tensor]:
    """Static and context heads ``[B, 2, K, h, w]``: per keypoint, the more confident one."""
    static_xy, static_conf = _decode_heatmap(output[:, 0], image_hw, stride)
    context_xy, context_conf = _decode_heatmap(output[:, 1], image_hw, stride)
    use_context = context_conf > static_conf
    xy = torch.where(use_context[..., None], context_xy, static_xy)
    return xy, torch.where(use_context, context_conf, static_conf)


def decode_outputs(
    output: Tensor, model_type: str, image_hw: tuple[int, int], stride: int
) -> tuple[Tensor, Tensor]:
    """Keypoints ``[B, K, 2]`` (x, y in resized-image pixels) and confidences ``[B, K]`` in [0, 1]."""
    return DECODERS.get(model_type)(output, image_hw, stride)
