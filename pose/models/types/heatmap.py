"""``heatmap``: a heatmap per keypoint from one frame, decoded by a hedged sub-pixel peak."""

from __future__ import annotations

from torch import Tensor, nn

from pose.data.heatmaps import heatmap_to_image_coords, make_heatmaps
from pose.losses.heatmap import HEATMAP_LOSSES
from pose.models.backbones import Backbone
from pose.models.heads import HeatmapHead, heatmap_to_keypoints, spatial_softmax
from pose.models.types.base import MODEL_TYPES, ModelType, labeled_mask


@MODEL_TYPES.register("heatmap")
class Heatmap(ModelType):
    """Logits ``[B, K, h, w]`` at stride ``2**downsample_factor``; loss ``model.heatmap_loss_type``
    between the spatial softmax and Gaussian targets; confidence is the mass near the peak."""

    name = "heatmap"

    def build_head(self, backbone: Backbone, num_keypoints: int) -> nn.Module:
        return HeatmapHead(
            backbone.out_channels, num_keypoints, backbone.stride, self.downsample_factor
        )

    def heatmap_hw(self, backbone: Backbone) -> tuple[int, int]:
        fh, fw = backbone.feature_hw(self.image_hw)
        scale = backbone.stride // self.stride
        return fh * scale, fw * scale

    def supervised_loss(self, output: Tensor, keypoints: Tensor) -> Tensor:
        return self.map_loss(output, keypoints)

    def map_loss(self, logits: Tensor, keypoints: Tensor) -> Tensor:
        """The heatmap loss of one head's logits ``[B, K, h, w]``."""
        probs = spatial_softmax(logits.float())
        target = make_heatmaps(
            keypoints,
            (probs.shape[-2], probs.shape[-1]),
            self.stride,
            uniform_for_nan=self.uniform_for_nan,
        )
        labeled = labeled_mask(keypoints)
        # uniform targets teach "don't know" where a keypoint is unlabeled; zero ones must be masked
        mask = labeled.new_ones(labeled.shape) if self.uniform_for_nan else labeled
        return HEATMAP_LOSSES.get(self.heatmap_loss)(probs, target, mask)

    def decode(self, output: Tensor) -> tuple[Tensor, Tensor]:
        uv, confidence = heatmap_to_keypoints(spatial_softmax(output.float()))
        return heatmap_to_image_coords(uv, self.stride), confidence
