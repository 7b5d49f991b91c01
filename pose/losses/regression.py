"""Supervised loss for regression models (coordinates predicted directly)."""

from __future__ import annotations

import torch
from torch import Tensor


def regression_loss(pred_xy: Tensor, target_xy: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error in pixels over the coordinates of valid keypoints.

    ``pred_xy`` and ``target_xy`` are ``[B, K, 2]`` in resized-image pixels; ``mask`` ``[B, K]``
    marks labeled keypoints (targets may be NaN elsewhere). Returns 0 with a gradient when no
    keypoint is valid.
    """
    mask = mask.to(pred_xy.device, torch.bool)
    target = torch.nan_to_num(target_xy.float(), nan=0.0)
    squared = ((pred_xy.float() - target) ** 2).sum(dim=-1)  # [B, K]
    total = torch.where(mask, squared, torch.zeros_like(squared)).sum()
    return total / (2 * mask.sum().clamp_min(1))
