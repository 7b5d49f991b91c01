"""``heatmap_mhcrnn``: Lightning Pose's context model, static and context heads over a window."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pose.data.context import CONTEXT_OFFSETS
from pose.models.backbones import Backbone
from pose.models.context_head import ContextHeatmapHead
from pose.models.types.base import MODEL_TYPES
from pose.models.types.heatmap import Heatmap


@MODEL_TYPES.register("heatmap_mhcrnn")
class ContextHeatmap(Heatmap):
    """Logits ``[B, 2, K, h, w]`` (static, context) for windows ``[B, T, 3, H, W]`` of the frames at
    ``CONTEXT_OFFSETS``; the loss averages both heads (as Lightning Pose) and decoding keeps, per
    keypoint, the more confident head."""

    name = "heatmap_mhcrnn"
    context_offsets = CONTEXT_OFFSETS
    multi_view = False  # windows of one camera (Lightning Pose's multiview models have no context)

    def build_head(self, backbone: Backbone, num_keypoints: int) -> nn.Module:
        return ContextHeatmapHead(
            backbone.out_channels, num_keypoints, backbone.stride, self.downsample_factor
        )

    def forward(self, backbone: Backbone, head: nn.Module, images: Tensor) -> Tensor:
        """Windows ``[B, T, 3, H, W]``: each frame is encoded once, the head combines them."""
        if images.ndim != 5:
            raise ValueError(
                f"a context model takes windows of frames [B, T, 3, H, W], got {tuple(images.shape)}"
            )
        features = backbone(images.flatten(0, 1))
        return head(features.unflatten(0, images.shape[:2]))

    def supervised_loss(self, output: Tensor, keypoints: Tensor) -> Tensor:
        return torch.stack([self.map_loss(head, keypoints) for head in output.unbind(1)]).mean()

    def unsupervised_keypoints(self, output: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Both heads, each scored on its own (Lightning Pose scores both too)."""
        return [Heatmap.decode(self, head) for head in output.unbind(1)]

    def decode(self, output: Tensor) -> tuple[Tensor, Tensor]:
        static_xy, static_conf = super().decode(output[:, 0])
        context_xy, context_conf = super().decode(output[:, 1])
        use_context = context_conf > static_conf
        xy = torch.where(use_context[..., None], context_xy, static_xy)
        return xy, torch.where(use_context, context_conf, static_conf)
