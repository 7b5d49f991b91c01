"""``training.patch_mask``: hide a growing share of 16x16 image patches of the labeled images while
training, so the model learns to place keypoints from context and, with several cameras, from the
other views (Lightning Pose's curriculum for its multiview transformer)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from pose.models.pose_model import IMAGENET_MEAN

PATCH = 16  # a ViT patch


def patch_mask_ratio(
    epoch: int, init_epoch: int, final_epoch: int, init_ratio: float, final_ratio: float
) -> float:
    """No masking before ``init_epoch``, then a linear ramp from ``init_ratio`` to ``final_ratio``
    at ``final_epoch``, held after."""
    if final_ratio <= 0 or epoch < init_epoch:
        return 0.0
    span = max(1, final_epoch - init_epoch)
    progress = min(1.0, (epoch - init_epoch) / span)
    return init_ratio + progress * (final_ratio - init_ratio)


def mask_patches(images: Tensor, ratio: float, generator: torch.Generator | None = None) -> Tensor:
    """A copy of uint8 ``images`` ``[..., 3, H, W]`` in which ``ratio`` of each image's 16x16
    patches (rounded down) are the ImageNet mean colour, which normalizes to zero as Lightning
    Pose's zeroed patches do."""
    *lead, _, h, w = images.shape
    gh, gw = h // PATCH, w // PATCH
    count = int(ratio * gh * gw)
    if count == 0:
        return images
    flat = images.reshape(-1, 3, h, w)
    scores = torch.rand(flat.shape[0], gh * gw, generator=generator).to(images.device)
    hidden = scores.argsort(dim=1).argsort(dim=1) < count  # exactly `count` per image
    grid = hidden.view(-1, 1, gh, gw).repeat_interleave(PATCH, 2).repeat_interleave(PATCH, 3)
    full = torch.zeros(flat.shape[0], 1, h, w, dtype=torch.bool, device=images.device)
    full[..., : gh * PATCH, : gw * PATCH] = grid
    mean = torch.tensor([round(255 * m) for m in IMAGENET_MEAN], dtype=images.dtype)
    out = torch.where(full, mean.to(images.device).view(1, 3, 1, 1), flat)
    return out.view(*lead, 3, h, w)


class PatchMasking(Callback):
    """Sets the module's ``patch_mask_ratio`` each epoch and logs it as ``train/patch_mask_ratio``."""

    def __init__(
        self, init_epoch: int, final_epoch: int, init_ratio: float, final_ratio: float
    ) -> None:
        self.schedule = (init_epoch, final_epoch, init_ratio, final_ratio)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        ratio = patch_mask_ratio(trainer.current_epoch, *self.schedule)
        pl_module.patch_mask_ratio = ratio
        pl_module.log("train/patch_mask_ratio", ratio, on_step=False, on_epoch=True, batch_size=1)
