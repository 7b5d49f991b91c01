"""The LightningModule: supervised training with pixel-error validation; what differs between model
types (loss, decoding) is the model type's (:mod:`pose.models.types`)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from pose.config import PoseConfig
from pose.models import PoseModel, normalize_images
from pose.train.optim import LR_SCHEDULERS, OPTIMIZERS


def pixel_errors(pred_xy: Tensor, true_xy: Tensor, scale: Tensor) -> Tensor:
    """Euclidean error per keypoint in ORIGINAL image pixels ``[B, K]`` (NaN where unlabeled).

    ``scale`` ``[B, 2]`` maps resized pixels back to original ones, so errors are comparable across
    resize dims and model types.
    """
    diff = (pred_xy - true_xy) * scale[:, None, :]
    return diff.norm(dim=-1)


class PoseLightningModule(L.LightningModule):
    """Wraps a :class:`PoseModel` with its loss, optimizer and metrics.

    Logged: ``train/loss`` (per step and epoch), ``val/loss`` and ``val/pixel_error`` (mean over labeled
    keypoints, original pixels) each validation epoch, the same for ``test/`` when testing.
    """

    def __init__(self, model: PoseModel, cfg: PoseConfig, channels_last: bool = False) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.channels_last = channels_last
        if channels_last:
            self.model.to(memory_format=torch.channels_last)

    def _prepare(self, images: Tensor) -> Tensor:
        """uint8 ``[..., 3, H, W]`` -> normalized float, channels-last per frame when asked."""
        x = normalize_images(images)
        if self.channels_last:
            flat = x.reshape(-1, *x.shape[-3:]).contiguous(memory_format=torch.channels_last)
            x = flat.view(x.shape)  # splitting the frame dim keeps the channels-last strides
        return x

    def forward(self, images: Tensor) -> Tensor:
        """Raw model output for a uint8 image batch ``[B, 3, H, W]`` (context models: windows
        ``[B, T, 3, H, W]``)."""
        return self.model(self._prepare(images))

    def encode_frames(self, frames: Tensor) -> Tensor:
        """Context models: per-frame maps of uint8 frames ``[N, 3, H, W]`` (see ``combine``)."""
        return self.model.encode(self._prepare(frames))

    def loss(self, output: Tensor, keypoints: Tensor) -> Tensor:
        """The model type's supervised loss of raw ``output`` against resized-pixel ``keypoints``."""
        return self.model.kind.supervised_loss(output, keypoints)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        output = self(batch["image"])
        loss = self.loss(output, batch["keypoints"])
        batch_size = batch["image"].shape[0]
        self.log(
            "train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=batch_size
        )
        return loss

    def _eval_step(self, batch: dict[str, Tensor], stage: str) -> None:
        output = self(batch["image"])
        loss = self.loss(output, batch["keypoints"])
        xy, _ = self.model.kind.decode(output)
        errors = pixel_errors(xy, batch["keypoints"], batch["scale"])
        labeled = ~torch.isnan(errors)
        batch_size = batch["image"].shape[0]
        self.log(
            f"{stage}/loss",
            loss,
            on_epoch=True,
            prog_bar=stage == "val",
            batch_size=batch_size,
            sync_dist=True,
        )
        if labeled.any():
            # weight by labeled keypoints so the epoch value is the mean over all labeled keypoints
            self.log(
                f"{stage}/pixel_error",
                errors[labeled].mean(),
                on_epoch=True,
                prog_bar=stage == "val",
                batch_size=int(labeled.sum()),
                sync_dist=True,
            )

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def configure_optimizers(self) -> Any:
        t = self.cfg.training
        backbone = list(self.model.backbone.parameters())
        in_backbone = {id(p) for p in backbone}
        groups = [
            # the backbone first: BackboneUnfreeze ramps its learning rate up from unfreezing
            {"params": backbone, "name": "backbone"},
            {"params": [p for p in self.parameters() if id(p) not in in_backbone], "name": "head"},
        ]
        optimizer = OPTIMIZERS.get(t.optimizer)(groups, t.optimizer_params.learning_rate)
        ms = t.lr_scheduler_params.multisteplr
        step_based = t.step_based
        milestones = list(ms.milestone_steps or []) if step_based else list(ms.milestones or [])
        scheduler = LR_SCHEDULERS.get(t.lr_scheduler)(optimizer, milestones, ms.gamma)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step" if step_based else "epoch"},
        }
