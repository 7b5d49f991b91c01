"""``heatmap_multiview_transformer``: one ViT over all camera views of a moment (Lightning Pose's
multiview model), a heatmap head per view on the shared features."""

from __future__ import annotations

from torch import Tensor, nn

from pose.models.backbones import Backbone
from pose.models.heads import HeatmapHead
from pose.models.joint_views import ViewEmbeddings, encode_views_jointly
from pose.models.types.base import MODEL_TYPES
from pose.models.types.heatmap import Heatmap


class MultiviewTransformerHead(nn.Module):
    """The view embeddings and the heatmap head that reads each view's joint features."""

    def __init__(self, backbone: Backbone, num_keypoints: int, num_views: int, downsample: int):
        super().__init__()
        self.views = ViewEmbeddings(num_views, backbone.out_channels)
        self.heatmaps = HeatmapHead(
            backbone.out_channels, num_keypoints, backbone.stride, downsample
        )


@MODEL_TYPES.register("heatmap_multiview_transformer")
class MultiviewTransformer(Heatmap):
    """Views ``[B, V, 3, H, W]`` -> logits ``[B, V * K, h, w]`` (view-major), trained and decoded as
    ``heatmap``; attention spans the views, so a keypoint hidden in one view can be placed from the
    others. Needs a ViT backbone (:func:`pose.models.joint_views.supports_joint_views`)."""

    name = "heatmap_multiview_transformer"
    single_view = False
    backbone_readouts = ("tokens",)  # patch tokens to attend across views
    masks_patches = True

    def build_head(self, backbone: Backbone, num_keypoints: int) -> nn.Module:
        return MultiviewTransformerHead(
            backbone, num_keypoints, self.num_views, self.downsample_factor
        )

    def forward(self, backbone: Backbone, head: nn.Module, images: Tensor) -> Tensor:
        if images.ndim != 5 or images.shape[1] != self.num_views:
            raise ValueError(
                f"a {self.num_views}-view model takes [B, {self.num_views}, 3, H, W] images, "
                f"got {tuple(images.shape)}"
            )
        assert isinstance(head, MultiviewTransformerHead)
        features = encode_views_jointly(backbone, images, head.views.weight)
        maps = head.heatmaps(features)  # [B * V, K, h, w]
        return maps.unflatten(0, images.shape[:2]).flatten(1, 2)
