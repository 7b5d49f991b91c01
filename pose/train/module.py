"""The LightningModule: supervised training with pixel-error validation, plus the unsupervised
losses on unlabeled video frames when the config names them; what differs between model types
(loss, decoding) is the model type's (:mod:`pose.models.types`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor

from pose.config import PoseConfig
from pose.data.heatmaps import per_keypoint, rescale_pixels
from pose.losses.reprojection import ReprojectionHeatmapLoss
from pose.losses.unsupervised import UnsupervisedLoss
from pose.models import PoseModel, normalize_images
from pose.train.optim import LR_SCHEDULERS, OPTIMIZERS
from pose.train.patch_mask import mask_patches


def pixel_errors(pred_xy: Tensor, true_xy: Tensor, scale: Tensor) -> Tensor:
    """Euclidean error per keypoint in ORIGINAL image pixels ``[B, K]`` (NaN where unlabeled).

    ``scale`` ``[B, 2]`` (or ``[B, K, 2]``, per keypoint) maps resized pixels back to original
    ones, so errors are comparable across resize dims and model types (a crop's offset in its
    frame cancels in the difference).
    """
    diff = (pred_xy - true_xy) * per_keypoint(scale)
    return diff.norm(dim=-1)


class PoseLightningModule(L.LightningModule):
    """Wraps a :class:`PoseModel` with its loss, optimizer and metrics.

    Logged: ``train/loss`` (the objective, per step and epoch), ``val/loss`` and ``val/pixel_error``
    (mean over labeled keypoints, original pixels) each validation epoch, the same for ``test/``
    when testing. With ``unsupervised`` losses (fitted, see ``build_unsupervised_losses``), training
    batches are ``{"labeled", "unlabeled"}`` and the objective is the supervised loss plus
    ``unsupervised_importance`` (``callbacks.anneal_weight``'s ramp) times each loss's weighted
    term; each epoch logs ``train/supervised_loss``, ``train/<loss>_loss`` (the unweighted term, in
    original-image pixels) and ``train/unsupervised_importance``. With ``reprojection`` (calibrated
    multiview models) its weighted term joins the supervised loss, logged as
    ``train/supervised_reprojection_heatmap_mse_loss``.
    """

    def __init__(
        self,
        model: PoseModel,
        cfg: PoseConfig,
        channels_last: bool = False,
        unsupervised: Mapping[str, UnsupervisedLoss] | None = None,
        reprojection: ReprojectionHeatmapLoss | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.channels_last = channels_last
        self.unsupervised = dict(unsupervised or {})
        self.reprojection = reprojection
        self.unsupervised_importance = 1.0  # AnnealWeight sets it per epoch
        self.patch_mask_ratio = 0.0  # PatchMasking sets it per epoch (training.patch_mask)
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

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        labeled = batch.get("labeled", batch)
        unlabeled = batch.get("unlabeled") if self.unsupervised else None
        images = labeled["image"]
        if self.patch_mask_ratio > 0:
            images = mask_patches(images, self.patch_mask_ratio)
        batch_size = images.shape[0]
        unlabeled_output = None
        if unlabeled is not None and unlabeled["frames"].shape[1:] == images.shape[1:]:
            # one forward over both: on a CPU one batch of 2n costs less than two of n; batch norm
            # then normalizes over labeled and unlabeled images together, as semi-supervised
            # trainers such as FixMatch do on purpose
            both = self(torch.cat([images, unlabeled["frames"]]))
            output, unlabeled_output = both[:batch_size], both[batch_size:]
        else:
            output = self(images)
        loss = self.loss(output, labeled["keypoints"])
        if self.reprojection is not None:
            xy, _ = self.model.kind.decode(output)
            hw = (output.shape[-2], output.shape[-1])
            term = self.reprojection(
                xy, labeled["keypoints"], labeled["scale"], hw, labeled.get("offset")
            )
            self.log(
                f"train/{self.reprojection.name}_loss",
                term,
                on_step=False,
                on_epoch=True,
                batch_size=batch_size,
                sync_dist=True,
            )
            # annealed as Lightning Pose anneals it, with the unsupervised losses
            loss = loss + self.unsupervised_importance * self.reprojection.weight * term
        if unlabeled is not None:
            self.log(
                "train/supervised_loss",
                loss,
                on_step=False,
                on_epoch=True,
                batch_size=batch_size,
                sync_dist=True,
            )
            terms = self.unsupervised_terms(unlabeled, unlabeled_output)
            weighted = sum(self.unsupervised[name].weight * term for name, term in terms.items())
            loss = loss + self.unsupervised_importance * weighted
            frames = unlabeled["frames"].shape[0]
            for name, term in terms.items():
                self.log(
                    f"train/{name}_loss",
                    term,
                    on_step=False,
                    on_epoch=True,
                    batch_size=frames,
                    sync_dist=True,
                )
            self.log(
                "train/unsupervised_importance",
                float(self.unsupervised_importance),
                on_step=False,
                on_epoch=True,
                batch_size=1,
            )
        self.log(
            "train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=batch_size
        )
        return loss

    def unsupervised_terms(
        self, unlabeled: Mapping[str, Tensor], output: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Each unsupervised loss (unweighted) on a clip ``{"frames", "scale"}`` of unlabeled
        frames (``output``: the network's output for them, when already computed), scored in
        original-image pixels; context models average their two heads."""
        if output is None:
            output = self(unlabeled["frames"])
        scale = unlabeled["scale"].to(output.device, torch.float32)
        heads = [
            (rescale_pixels(xy.float(), scale), conf.float())
            for xy, conf in self.model.kind.unsupervised_keypoints(output)
        ]
        return {
            name: torch.stack([loss(xy, conf) for xy, conf in heads]).mean()
            for name, loss in self.unsupervised.items()
        }

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
