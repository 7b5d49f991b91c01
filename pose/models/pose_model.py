"""The network: a backbone plus the head its model type (``model.model_type``) builds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import torch
from torch import Tensor, nn

from pose.models.backbones import Backbone, build_backbone
from pose.models.types import MODEL_TYPES, ModelType

if TYPE_CHECKING:
    from pose.config import PoseConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_images(images: Tensor) -> Tensor:
    """uint8 ``[..., 3, H, W]`` -> float ImageNet-normalized, on the images' device (the trainer
    moves uint8 batches to the GPU and normalizes there: 4x less host-to-device traffic)."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(3, 1, 1)
    return (images.float() / 255.0 - mean) / std


class WindowHead(Protocol):
    """A head over windows of frames (context models), split so frames are encoded once."""

    def encode(self, features: Tensor) -> Tensor: ...

    def combine(self, codes: Tensor) -> Tensor: ...


class PoseModel(nn.Module):
    """Backbone + the head its model type builds. ``forward`` returns heatmap logits
    ``[B, K, h, w]`` (heatmap models), normalized coordinates in [0, 1] ``[B, K, 2]`` (regression
    models), or static and context logits ``[B, 2, K, h, w]`` of windows of frames
    ``[B, T, 3, H, W]`` (context models); the model type computes it. On ``V`` views the output
    has ``V * K`` keypoints, view-major.

    Attributes:
        kind: the :class:`ModelType`, which decodes outputs and computes the supervised loss.
        model_type: its registry name (``heatmap``, ``regression``, ``heatmap_mhcrnn``).
        heatmap_hw: output map size for heatmap models, ``None`` otherwise.
        context_offsets: the frames of a window relative to the labeled one (context models),
            ``None`` for single-frame models.
    """

    def __init__(self, backbone: Backbone, kind: ModelType, num_keypoints: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.kind = kind
        self.head = kind.build_head(backbone, num_keypoints)
        self.model_type = kind.name
        self.num_keypoints = num_keypoints
        self.image_hw = kind.image_hw
        self.downsample_factor = kind.downsample_factor
        self.heatmap_hw = kind.heatmap_hw(backbone)
        self.context_offsets = kind.context_offsets
        self.num_views = kind.num_views

    def forward(self, images: Tensor) -> Tensor:
        """``images``: float ``[B, 3, H, W]`` (``[B, T, 3, H, W]`` windows for context models,
        ``[B, V, 3, H, W]`` views for multiview data), already ImageNet-normalized."""
        return self.kind.forward(self.backbone, self.head, images)

    def encode(self, frames: Tensor) -> Tensor:
        """Context models: per-frame maps of ``[N, 3, H, W]`` frames, for :meth:`combine`
        (video prediction runs the backbone once per frame, not once per window)."""
        return cast(WindowHead, self.head).encode(self.backbone(frames))

    def combine(self, codes: Tensor) -> Tensor:
        """Context models: windows of :meth:`encode` maps ``[B, T, ...]`` -> ``[B, 2, K, h, w]``."""
        return cast(WindowHead, self.head).combine(codes)


def build_model(
    backbone: str,
    model_type: str,
    num_keypoints: int,
    image_hw: tuple[int, int],
    downsample_factor: int,
    pretrained: bool,
    weights_path: Path | None = None,
    num_views: int = 1,
) -> PoseModel:
    """The network of a model type with its default supervised loss (tests, benchmarks); training
    builds it from the config with :func:`build_model_for`."""
    kind = MODEL_TYPES.get(model_type)(image_hw, downsample_factor, num_views=num_views)
    return PoseModel(
        build_backbone(backbone, pretrained, image_hw, weights_path), kind, num_keypoints
    )


def build_model_for(cfg: PoseConfig, pretrained: bool) -> PoseModel:
    """The network of a config whose keypoint names are known; ``model.backbone_weights`` names
    the pretrained file when ``pretrained``."""
    weights = cfg.model.backbone_weights
    net = build_backbone(
        cfg.model.backbone,
        pretrained,
        cfg.data.image_resize_dims.hw,
        Path(weights) if weights else None,
    )
    return PoseModel(net, ModelType.from_config(cfg), len(cfg.data.keypoint_names or []))
