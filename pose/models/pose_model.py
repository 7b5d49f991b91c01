"""The network: a backbone plus the head that ``model.model_type`` names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import torch
from torch import Tensor, nn

from pose.models.backbones import Backbone, build_backbone
from pose.models.heads import HEADS

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


def spatial_softmax(logits: Tensor) -> Tensor:
    """Heatmap logits ``[B, K, h, w]`` -> probabilities summing to 1 per map, computed in fp32
    (mixed-precision logits would otherwise underflow in the tails)."""
    b, k, h, w = logits.shape
    return torch.softmax(logits.float().reshape(b, k, h * w), dim=-1).view(b, k, h, w)


class WindowHead(Protocol):
    """A head over windows of frames (context models), split so frames are encoded once."""

    def encode(self, features: Tensor) -> Tensor: ...

    def combine(self, codes: Tensor) -> Tensor: ...


class PoseModel(nn.Module):
    """Backbone + head. ``forward`` returns heatmap logits ``[B, K, h, w]`` (heatmap models),
    normalized coordinates in [0, 1] ``[B, K, 2]`` (regression models), or static and context
    logits ``[B, 2, K, h, w]`` of windows of frames ``[B, T, 3, H, W]`` (context models).

    Attributes:
        model_type: registry name of the head (``heatmap``, ``regression``, ``heatmap_mhcrnn``).
        heatmap_hw: output map size for heatmap models, ``None`` otherwise.
        context_offsets: the frames of a window relative to the labeled one (context models),
            ``None`` for single-frame models.
    """

    def __init__(
        self,
        backbone: Backbone,
        head: nn.Module,
        model_type: str,
        num_keypoints: int,
        image_hw: tuple[int, int],
        downsample_factor: int,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.model_type = model_type
        self.num_keypoints = num_keypoints
        self.image_hw = (int(image_hw[0]), int(image_hw[1]))
        self.downsample_factor = downsample_factor
        self.heatmap_hw: tuple[int, int] | None = None
        self.context_offsets: tuple[int, ...] | None = getattr(head, "context_offsets", None)
        if model_type != "regression":
            fh, fw = backbone.feature_hw(self.image_hw)
            scale = backbone.stride // 2**downsample_factor
            self.heatmap_hw = (fh * scale, fw * scale)

    def forward(self, images: Tensor) -> Tensor:
        """``images``: float ``[B, 3, H, W]`` (``[B, T, 3, H, W]`` windows for context models),
        already ImageNet-normalized."""
        if self.context_offsets is None:
            return self.head(self.backbone(images))
        if images.ndim != 5:
            raise ValueError(
                f"a context model takes windows of frames [B, T, 3, H, W], got {tuple(images.shape)}"
            )
        features = self.backbone(images.flatten(0, 1))
        return self.head(features.unflatten(0, images.shape[:2]))

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
) -> PoseModel:
    """Build the network a config describes; ``weights_path`` overrides the weights cache."""
    net = build_backbone(backbone, pretrained, image_hw, weights_path)
    canonical_type = HEADS.canonical(model_type)
    head = HEADS.get(canonical_type)(net.out_channels, num_keypoints, net.stride, downsample_factor)
    return PoseModel(net, head, canonical_type, num_keypoints, image_hw, downsample_factor)


def build_model_for(cfg: PoseConfig, pretrained: bool) -> PoseModel:
    """The network of a config whose keypoint names are known; ``model.backbone_weights`` names
    the pretrained file when ``pretrained``."""
    weights = cfg.model.backbone_weights
    return build_model(
        backbone=cfg.model.backbone,
        model_type=cfg.model.model_type,
        num_keypoints=len(cfg.data.keypoint_names or []),
        image_hw=cfg.data.image_resize_dims.hw,
        downsample_factor=cfg.data.downsample_factor,
        pretrained=pretrained,
        weights_path=Path(weights) if weights else None,
    )
