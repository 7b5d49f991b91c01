"""``temporal``: a keypoint should not jump between consecutive frames by more than ``epsilon``
pixels (a number, or one per keypoint); pairs where either frame's heatmap peak is below
``prob_threshold`` are not scored (the keypoint is probably occluded there)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor

from pose.losses.unsupervised.base import UNSUPERVISED_LOSSES, Needs, UnsupervisedLoss


@UNSUPERVISED_LOSSES.register("temporal")
class Temporal(UnsupervisedLoss):
    """Mean over frame pairs and keypoints of ``max(|x_t+1 - x_t| - epsilon, 0)``, in pixels."""

    name = "temporal"
    config_keys = ("log_weight", "epsilon", "prob_threshold")
    needs: ClassVar[frozenset[Needs]] = frozenset({Needs.FRAMES})

    def __init__(
        self,
        log_weight: float = 0.0,
        epsilon: float | Sequence[float] = 0.0,
        prob_threshold: float = 0.0,
    ) -> None:
        super().__init__(log_weight)
        # a list may come as any sequence (OmegaConf's ListConfig too)
        values = (
            float(epsilon) if isinstance(epsilon, (int, float)) else [float(e) for e in epsilon]
        )
        self.epsilon = torch.as_tensor(values, dtype=torch.float32)
        self.prob_threshold = float(prob_threshold)

    def jumps(self, keypoints: Tensor) -> Tensor:
        """Frame-to-frame distance per keypoint ``[N - 1, K]`` of consecutive frames ``[N, K, 2]``."""
        return torch.diff(keypoints.float(), dim=0).norm(dim=-1)

    def __call__(self, keypoints: Tensor, confidence: Tensor) -> Tensor:
        jumps = self.jumps(keypoints)
        epsilon = self.epsilon.to(jumps)
        if epsilon.ndim and epsilon.numel() != jumps.shape[-1]:
            # one value per keypoint of a view; a multiview clip has the views side by side
            epsilon = epsilon.repeat(jumps.shape[-1] // epsilon.numel())
        excess = (jumps - epsilon).clamp_min(0)
        sure = confidence >= self.prob_threshold
        scored = sure[1:] & sure[:-1]
        return torch.where(scored, excess, torch.zeros_like(excess)).mean()
