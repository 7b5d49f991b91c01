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
from pose.errors import WeightsError
from pose.models.heads import HeatmapHead


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


class ContextHeatmapHead(nn.Module):
    """Static and context heatmap logits ``[B, 2, K, h, w]`` from windows of frame features.

    ``context_offsets``: the frames of a window relative to the labeled one; heatmap sizes must be multiples of 4 (the propagator's two levels), which
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

    def forward(self, features: Tensor) -> Tensor:
        """Windows of frame features ``[B, T, C, h, w]`` -> logits ``[B, 2, K, h, w]`` (static,
        context) of each window's labeled frame. Each upsampler runs only on the frames its pass
        reads: 7 maps per window where :meth:`encode` makes 15 (training and labeled frames)."""
        self._check_window(features.shape[1])
        c = self.context_offsets.index(0)
        static = self.static(features[:, c])
        ahead = self._upsample(self.frame_forward, features[:, : c + 1])
        behind = self._upsample(self.frame_backward, features[:, c:])
        return torch.stack([static, self._recur(ahead, behind)], dim=1)

    def encode(self, features: Tensor) -> Tensor:
        """Per-frame maps ``[N, 3, K, h, w]`` of ``[N, C, h, w]`` features: static logits, forward
        and backward RNN inputs. Video prediction encodes every frame once, as it is the labeled
        frame of one window and a neighbour in four."""
        maps = [self.static(features), self.frame_forward(features), self.frame_backward(features)]
        return torch.stack(maps, dim=1)

    def combine(self, codes: Tensor) -> Tensor:
        """Windows of :meth:`encode` maps ``[B, T, 3, K, h, w]`` -> logits ``[B, 2, K, h, w]``,
        the same as :meth:`forward` on the windows' features."""
        self._check_window(codes.shape[1])
        c = self.context_offsets.index(0)
        context = self._recur(codes[:, : c + 1, 1], codes[:, c:, 2])
        return torch.stack([codes[:, c, 0], context], dim=1)

    def _recur(self, ahead: Tensor, behind: Tensor) -> Tensor:
        """Forward pass over ``ahead`` ``[B, c + 1, K, h, w]`` (first frame to the labeled one)
        plus backward pass over ``behind`` (labeled frame to the last, run last to first)."""
        forward = ahead[:, 0]
        for t in range(1, ahead.shape[1]):
            forward = self.step_forward(forward) + ahead[:, t]
        backward = behind[:, -1]
        for t in range(behind.shape[1] - 2, -1, -1):
            backward = self.step_backward(backward) + behind[:, t]
        return forward + backward

    @staticmethod
    def _upsample(head: nn.Module, features: Tensor) -> Tensor:
        return head(features.flatten(0, 1)).unflatten(0, features.shape[:2])

    def _check_window(self, frames: int) -> None:
        if frames != len(self.context_offsets):
            raise ValueError(
                f"expected windows of {len(self.context_offsets)} frames, got {frames}"
            )


def transfer_head(state: Mapping[str, Tensor], to_context: bool) -> dict[str, Tensor]:
    """Heatmap head weights re-keyed between single-frame and context models.

    To a context model, a single-frame head (``head.layers.*``) starts the static head as it is
    and both per-frame RNN input maps with their last layer halved, and the recurrent steps'
    last layers start at zero: the context head then sums half the labeled frame's logits from
    each pass, so both heads begin as exactly the single-frame model (same logits, same
    keypoints) and the context head learns from there what the neighbours add. (A context head
    from random steps starts far from the static one; training it pulls the shared backbone away
    from what the single-frame model knew.) To a single-frame model, a context model's static
    head is its heatmap head.
    """
    source = "head.layers." if to_context else "head.static.layers."
    out: dict[str, Tensor] = {}
    for prefix in ("", "model."):
        layers = {
            k[len(prefix + source) :]: v for k, v in state.items() if k.startswith(prefix + source)
        }
        if not layers:
            continue
        if not to_context:
            out.update({f"{prefix}head.layers.{rest}": v for rest, v in layers.items()})
            continue
        index = {rest: rest.split(".", 1)[0] for rest in layers}
        last = max((int(i) for i in index.values() if i.isdigit()), default=-1)
        if not all(i.isdigit() for i in index.values()) or f"{last}.bias" not in layers:
            raise WeightsError(
                "model.checkpoint: its heatmap head is not the layer sequence of this engine's "
                f"heads (keys {sorted(layers)[:3]}); expected head.layers.N.weight/bias"
            )
        for rest, value in layers.items():
            out[f"{prefix}head.static.layers.{rest}"] = value
            half = value / 2 if int(index[rest]) == last else value
            for target in ("frame_forward", "frame_backward"):
                out[f"{prefix}head.{target}.layers.{rest}"] = half
        num_keypoints = layers[f"{last}.bias"].shape[0]
        for target in ("step_forward", "step_backward"):
            out.update(_silent_step(f"{prefix}head.{target}.", num_keypoints))
    return out


def _silent_step(prefix: str, num_keypoints: int) -> dict[str, Tensor]:
    """The last layer of a recurrent step at zero: the step passes nothing on until it learns to
    (its earlier layers keep their random start, so the gradient reaches them at once)."""
    step = _propagator(num_keypoints)
    last = len(step) - 1
    return {f"{prefix}{last}.{k}": torch.zeros_like(v) for k, v in step[last].state_dict().items()}
