"""Supervised heatmap losses, named by ``model.heatmap_loss_type``.

Every loss takes predicted and target probability maps ``[B, K, h, w]`` (each summing to 1) and a
``[B, K]`` mask, computes in fp32, and averages per-keypoint values over the masked-in keypoints.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pose.registry import Registry

HeatmapLoss = Callable[[Tensor, Tensor, Tensor], Tensor]

HEATMAP_LOSSES: Registry[HeatmapLoss] = Registry("heatmap loss")

_EPS = 1e-8


def _masked_mean(per_keypoint: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``[B, K]`` values where ``mask``; 0 (still differentiable) when nothing is valid."""
    mask = mask.to(per_keypoint.device, torch.bool)
    total = torch.where(mask, per_keypoint, torch.zeros_like(per_keypoint)).sum()
    return total / mask.sum().clamp_min(1)


def _as_fp32(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    # NaN targets can only sit in masked-out maps; zero them so they cannot poison gradients.
    return pred.float(), torch.nan_to_num(target.float(), nan=0.0)


def _kl(p: Tensor, q: Tensor) -> Tensor:
    """KL(p || q) per map ``[B, K]``, with eps clamping so empty cells cost nothing."""
    return (p * (p.clamp_min(_EPS).log() - q.clamp_min(_EPS).log())).sum(dim=(-2, -1))


@HEATMAP_LOSSES.register("mse")
def mse_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Per-map sum of squared differences (pixel mean times ``h*w``), averaged over keypoints.

    Probability maps have tiny pixel values, so a plain pixel mean is ~1e-6 and resolution-
    dependent; the per-map sum is ~0.05 for a uniform prediction against a sigma-1.25 target and
    0 at a perfect prediction, whatever the heatmap size.
    """
    pred, target = _as_fp32(pred, target)
    return _masked_mean(((pred - target) ** 2).sum(dim=(-2, -1)), mask)


@HEATMAP_LOSSES.register("kl")
def kl_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """KL(target || pred): the cross-entropy to the target minus its (constant) entropy."""
    pred, target = _as_fp32(pred, target)
    return _masked_mean(_kl(target, pred), mask)


@HEATMAP_LOSSES.register("js")
def js_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Jensen-Shannon divergence: symmetric and bounded by log 2, so one bad map cannot dominate."""
    pred, target = _as_fp32(pred, target)
    mid = 0.5 * (pred + target)
    return _masked_mean(0.5 * _kl(target, mid) + 0.5 * _kl(pred, mid), mask)
