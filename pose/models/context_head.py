"""The context head (``heatmap_mhcrnn``): heatmaps from a window of frames around the labeled one.

Lightning Pose's multi-head convolutional RNN. Two heads share the backbone:

* a **static** head: the plain heatmap head on the labeled frame alone;
* a **context** head: a bidirectional convolutional RNN over the window. Each frame is mapped to
  ``K`` maps at heatmap resolution (one upsampler per direction); the forward pass runs from the
  first frame to the labeled one, the backward pass from the last frame to it. A step propagates
  the running maps through a per-keypoint (depthwise) encoder-decoder, which lets a peak move a few
  cells between frames, and adds the next frame's maps. The two passes are summed.

Prediction keeps, per keypoint, the head with the higher confidence, so a frame where the animal is
occluded or blurred borrows evidence from its neighbours.

Work is split in two so that video prediction runs the backbone once per frame: :meth:`encode`
turns each frame's features into its per-frame maps, :meth:`combine` turns a window of them into
the two heads' logits.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from pose.data.context import CONTEXT_OFFSETS
from pose.models.heads import HEADS, HeatmapHead


def _propagator(num_keypoints: int, levels: int = 2) -> nn.Sequential:
    """Per-keypoint encoder-decoder (linear, as in Lightning Pose): ``levels`` stride-2 depthwise
    convolutions down, as many transposed ones up, back to the input size."""
    k = num_keypoints
    down = [nn.Conv2d(k, k, 3, stride=2, padding=1, groups=k) for _ in range(levels)]
    up = [
        nn.ConvTranspose2d(k, k, 3, stride=2, padding=1, output_padding=1, groups=k)
        for _ in range(levels)
    ]
    return nn.Sequential(*down, *up)


@HEADS.register("heatmap_mhcrnn")
class ContextHeatmapHead(nn.Module):
    """Static and context heatmap logits ``[B, 2, K, h, w]`` from a window of frame features.

    ``context_offsets`` (frames relative to the labeled one) tells the data and prediction code
    which window to feed; heatmap sizes must be multiples of 4 (the propagator's two levels), which
    every supported resize and downsample factor gives.
    """

    context_offsets = CONTEXT_OFFSETS

    def __init__(
        self, in_channels: int, num_keypoints: int, backbone_stride: int, downsample_factor: int
    ) -> None:
        super().__init__()
        args = (in_channels, num_keypoints, backbone_stride, downsample_factor)
        self.static = HeatmapHead(*args)
        self.frame_forward = HeatmapHead(*args)
        self.frame_backward = HeatmapHead(*args)
        self.step_forward = _propagator(num_keypoints)
        self.step_backward = _propagator(num_keypoints)
        self.out_stride = self.static.out_stride

    def encode(self, features: Tensor) -> Tensor:
        """Per-frame maps ``[N, 3, K, h, w]``: static logits, forward and backward RNN inputs."""
        maps = [self.static(features), self.frame_forward(features), self.frame_backward(features)]
        return torch.stack(maps, dim=1)

    def combine(self, codes: Tensor) -> Tensor:
        """Windows of per-frame maps ``[B, T, 3, K, h, w]`` -> logits ``[B, 2, K, h, w]``
        (static, context) of each window's labeled frame."""
        frames = codes.shape[1]
        center = self.context_offsets.index(0)
        if frames != len(self.context_offsets):
            raise ValueError(
                f"expected windows of {len(self.context_offsets)} frames, got {frames}"
            )
        ahead = codes[:, 0, 1]
        for t in range(1, center + 1):
            ahead = self.step_forward(ahead) + codes[:, t, 1]
        behind = codes[:, frames - 1, 2]
        for t in range(frames - 2, center - 1, -1):
            behind = self.step_backward(behind) + codes[:, t, 2]
        return torch.stack([codes[:, center, 0], ahead + behind], dim=1)


def from_single_frame(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A single-frame heatmap model's head weights (``head.layers.*``) as a context head's: they
    start the static head and both per-frame RNN input maps, so a context model can begin from a
    trained single-frame one (``model.checkpoint``) instead of from scratch."""
    out = {}
    for key, value in state.items():
        prefix, found, rest = key.partition("head.layers.")
        if found and prefix in ("", "model."):
            for part in ("static", "frame_forward", "frame_backward"):
                out[f"{prefix}head.{part}.layers.{rest}"] = value
    return out
