"""The model-type interface: everything that differs between values of ``model.model_type``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from torch import Tensor, nn

from pose.registry import Registry

if TYPE_CHECKING:
    from pose.config import PoseConfig
    from pose.models.backbones import Backbone

MODEL_TYPES: Registry[type[ModelType]] = Registry("model_type")


class ModelType(ABC):
    """One ``model.model_type``, bound to a config's image size, heatmap stride and loss.

    A model type declares the head it puts on a backbone, the size of its heatmaps, the window of
    frames it reads (``context_offsets``, relative to the labeled frame; None for one frame), its
    supervised loss and how its raw output decodes to keypoints. The LightningModule, prediction
    and the data pipeline ask it rather than testing names or tensor ranks, so a new model type is
    one class in one file.
    """

    name: ClassVar[str]
    context_offsets: ClassVar[tuple[int, ...] | None] = None
    # which label sets it trains on: one camera, several (``data.csv_file`` a list), or both
    single_view: ClassVar[bool] = True
    multi_view: ClassVar[bool] = True
    # backbone readouts it can use (see ``BackboneSpec.readout``); None for any
    backbone_readouts: ClassVar[tuple[str, ...] | None] = None
    # whether ``training.patch_mask`` applies (Lightning Pose masks its multiview transformer only)
    masks_patches: ClassVar[bool] = False

    def __init__(
        self,
        image_hw: tuple[int, int],
        downsample_factor: int,
        heatmap_loss: str = "mse",
        uniform_for_nan: bool = True,
        num_views: int = 1,
    ) -> None:
        self.image_hw = (int(image_hw[0]), int(image_hw[1]))
        self.num_views = int(num_views)
        self.downsample_factor = int(downsample_factor)
        self.stride = 2**self.downsample_factor
        self.heatmap_loss = heatmap_loss
        self.uniform_for_nan = uniform_for_nan

    @classmethod
    def from_config(cls, cfg: PoseConfig) -> ModelType:
        """The registered model type ``cfg.model.model_type`` names, bound to ``cfg``."""
        kind = MODEL_TYPES.get(cfg.model.model_type)
        csv = cfg.data.csv_file
        return kind(
            cfg.data.image_resize_dims.hw,
            cfg.data.downsample_factor,
            cfg.model.heatmap_loss_type,
            cfg.training.uniform_heatmaps_for_nan_keypoints,
            len(csv) if isinstance(csv, list) else 1,
        )

    @abstractmethod
    def build_head(self, backbone: Backbone, num_keypoints: int) -> nn.Module:
        """The head this model type puts on ``backbone`` (``num_keypoints`` per view)."""

    def forward(self, backbone: Backbone, head: nn.Module, images: Tensor) -> Tensor:
        """The raw output for normalized ``images`` ``[B, 3, H, W]``. With several views
        (``[B, V, 3, H, W]``) every view goes through the same network on its own and the output
        puts the views side by side, keypoints ``[B, V * K, ...]``."""
        if self.num_views == 1:
            return head(backbone(images))
        if images.ndim != 5 or images.shape[1] != self.num_views:
            raise ValueError(
                f"a {self.num_views}-view model takes [B, {self.num_views}, 3, H, W] images, "
                f"got {tuple(images.shape)}"
            )
        out = head(backbone(images.flatten(0, 1)))
        return out.unflatten(0, images.shape[:2]).flatten(1, 2)

    def heatmap_hw(self, backbone: Backbone) -> tuple[int, int] | None:
        """Size of the output maps on ``backbone``; None for a model without heatmaps."""
        return None

    @abstractmethod
    def supervised_loss(self, output: Tensor, keypoints: Tensor) -> Tensor:
        """Loss of the raw network ``output`` against keypoints ``[B, K, 2]`` in resized-image
        pixels (NaN where unlabeled)."""

    @abstractmethod
    def decode(self, output: Tensor) -> tuple[Tensor, Tensor]:
        """Keypoints ``[B, K, 2]`` (x, y in resized-image pixels) and confidences ``[B, K]`` in [0, 1]."""

    def unsupervised_keypoints(self, output: Tensor) -> list[tuple[Tensor, Tensor]]:
        """What the unsupervised losses score: per head, differentiable keypoints ``[B, K, 2]`` and
        confidences. Decoding is differentiable for every model type (a soft-argmax for heatmaps)."""
        return [self.decode(output)]


def labeled_mask(keypoints: Tensor) -> Tensor:
    """``[B, K]`` True where a keypoint has a label."""
    return ~keypoints.isnan().any(dim=-1)
