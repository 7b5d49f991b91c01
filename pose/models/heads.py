"""Heads turn backbone features into keypoint outputs; model types (:mod:`pose.models.types`)
choose and build them.

Also home of :func:`spatial_softmax` and :func:`heatmap_to_keypoints`, the vectorized decoder that
video prediction runs on every frame.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pose.errors import ConfigError


def spatial_softmax(logits: Tensor) -> Tensor:
    """Heatmap logits ``[B, K, h, w]`` -> probabilities summing to 1 per map, computed in fp32
    (mixed-precision logits would otherwise underflow in the tails)."""
    b, k, h, w = logits.shape
    return torch.softmax(logits.float().reshape(b, k, h * w), dim=-1).view(b, k, h, w)


class HeatmapHead(nn.Module):
    """Lightning Pose-style upsampling head: raw logits ``[B, K, h, w]`` at stride 2**downsample.

    ``PixelShuffle(2)`` trades channels for resolution for free (``in_channels // 4``), then
    stride-2 transposed convolutions double the resolution until the output stride is reached
    (ResNet stride 32, downsample 2: shuffle to 16, deconvs to 8 and 4; ViT stride 16: one deconv).
    When the shuffle alone reaches the target, a 1x1 conv maps channels to keypoints; when the
    backbone already has the target stride, only the 1x1 conv is used.
    """

    def __init__(
        self, in_channels: int, num_keypoints: int, backbone_stride: int, downsample_factor: int
    ) -> None:
        super().__init__()
        target = 2**downsample_factor
        if target > backbone_stride or backbone_stride % target:
            raise ConfigError(
                f"data.downsample_factor={downsample_factor} needs a heatmap stride of {target}, "
                f"which a backbone of stride {backbone_stride} cannot produce by upsampling"
            )
        self.out_stride = target
        layers: list[nn.Module] = []
        if target == backbone_stride:
            layers.append(nn.Conv2d(in_channels, num_keypoints, kernel_size=1))
        else:
            layers.append(nn.PixelShuffle(2))
            channels = in_channels // 4
            n_deconv = int(math.log2(backbone_stride // 2 // target))
            for _ in range(n_deconv):
                layers.append(
                    nn.ConvTranspose2d(
                        channels, num_keypoints, 3, stride=2, padding=1, output_padding=1
                    )
                )
                channels = num_keypoints
            if n_deconv == 0:
                layers.append(nn.Conv2d(channels, num_keypoints, kernel_size=1))
        self.layers = nn.Sequential(*layers)
        for m in self.layers.modules():
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)


class RegressionHead(nn.Module):
    """Global average pool + linear: normalized (x, y) in [0, 1] per keypoint, ``[B, K, 2]``.

    ``x = 0`` is the first pixel column and ``x = 1`` the last (pixels are ``x * (W - 1)``).
    ``backbone_stride`` and ``downsample_factor`` are unused: every head takes the same arguments.
    """

    def __init__(
        self,
        in_channels: int,
        num_keypoints: int,
        backbone_stride: int = 32,
        downsample_factor: int = 2,
    ) -> None:
        super().__init__()
        self.num_keypoints = num_keypoints
        self.linear = nn.Linear(in_channels, 2 * num_keypoints)

    def forward(self, features: Tensor) -> Tensor:
        pooled = features.mean(dim=(-2, -1))
        return torch.sigmoid(self.linear(pooled)).view(-1, self.num_keypoints, 2)


# How strongly the decoder hedges between distant candidate peaks of an uncertain map: cells weigh
# exp(HEDGE_TEMPERATURE * (p - p_max)), p a cell's probability. Lightning Pose's soft-argmax uses
# 1000 on its (interpolated) probability maps; on early mirror-mouse models (bench/early_accuracy.py)
# 1000 beat no hedging on all 3 seeds, 500 lost on all 3 (far cells of flat maps pull to the middle).
HEDGE_TEMPERATURE = 1000.0


def heatmap_to_keypoints(
    heatmaps: Tensor, window: int = 5, hedge_temperature: float = HEDGE_TEMPERATURE
) -> tuple[Tensor, Tensor]:
    """Subpixel peaks ``uv`` ``[B, K, 2]`` (x, y in heatmap cells) and confidences ``[B, K]``.

    ``heatmaps`` are probabilities summing to 1 per map. The argmax picks the peak; a soft-argmax
    (probability-weighted mean of cell coordinates, per axis, floor-subtracted) inside the
    ``window x window`` neighbourhood (clipped at the borders) refines it to subpixel precision,
    and the probability mass inside that window is the confidence: near 1 for a sharp peak, at
    most ``window**2 / (h * w)`` for a uniform map.

    An early model's maps are wide and may have several blobs of similar height; committing to the
    highest cell then misses by the distance between them. So, as Lightning Pose's soft expectation
    does, every cell gets a weight ``exp(hedge_temperature * (p - p_max))`` (1 at the peak, about 0
    wherever ``p`` is well below it) and the answer is the weighted mean of cell positions, with the
    window's cells standing in as the refined peak: on a sharp map the weight outside the window is
    nil and the answer is the refined peak; on a wide one, distant cells close to the peak's height
    pull the answer toward them. ``hedge_temperature=0`` turns hedging off.

    Everything is gathers and reductions over all maps at once (no loops), since prediction decodes
    every video frame.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    b, k, h, w = heatmaps.shape
    n = b * k
    flat = heatmaps.reshape(n, h * w)
    peak = flat.argmax(dim=1)
    row, col = peak // w, peak % w
    offsets = torch.arange(-(window // 2), window // 2 + 1, device=heatmaps.device)
    rows = row[:, None] + offsets  # [N, window]
    cols = col[:, None] + offsets
    row_in, col_in = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
    inside = row_in[:, :, None] & col_in[:, None, :]
    index = (rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]).reshape(n, -1)
    values = flat.gather(1, index).view(n, window, window) * inside.to(flat.dtype)
    mass = values.sum(dim=(1, 2))
    x = _floored_mean(values.sum(dim=1), cols, col_in)
    y = _floored_mean(values.sum(dim=2), rows, row_in)
    uv = torch.stack([x, y], dim=-1)
    if hedge_temperature > 0:
        uv = _hedged(flat, peak, index, inside, rows, cols, uv, (h, w), hedge_temperature)
    return uv.view(b, k, 2), mass.clamp(0.0, 1.0).view(b, k)


def _hedged(
    flat: Tensor,
    peak: Tensor,
    index: Tensor,
    inside: Tensor,
    rows: Tensor,
    cols: Tensor,
    refined: Tensor,
    hw: tuple[int, int],
    temperature: float,
) -> Tensor:
    """The weighted mean of cell positions, weights ``exp(T (p - p_max))``, the window's share of
    the weight placed at the ``refined`` peak ``[N, 2]`` instead of at its cells."""
    n, (h, w) = flat.shape[0], hw
    # [N, h*w], 1 at the peak; the floor keeps far cells' weights out of the slow subnormal range
    weights = torch.exp((temperature * (flat - flat.gather(1, peak[:, None]))).clamp_min(-60.0))
    grid = weights.view(n, h, w)
    xs = torch.arange(w, device=flat.device, dtype=flat.dtype)
    ys = torch.arange(h, device=flat.device, dtype=flat.dtype)
    total = weights.sum(dim=1)
    sum_x, sum_y = (grid.sum(dim=1) * xs).sum(dim=1), (grid.sum(dim=2) * ys).sum(dim=1)
    near = weights.gather(1, index).view(n, *inside.shape[1:]) * inside.to(flat.dtype)
    near_total = near.sum(dim=(1, 2))
    near_x = (near.sum(dim=1) * cols.clamp(0, w - 1).to(flat.dtype)).sum(dim=1)
    near_y = (near.sum(dim=2) * rows.clamp(0, h - 1).to(flat.dtype)).sum(dim=1)
    far = torch.stack([sum_x - near_x, sum_y - near_y], dim=-1)
    return (near_total[:, None] * refined + far) / total[:, None]


def _floored_mean(profile: Tensor, coords: Tensor, inside: Tensor) -> Tensor:
    """Weighted mean of ``coords`` ``[N, window]`` with the profile's floor subtracted.

    Subtracting the smallest in-window value removes most of the pull of the truncated tails toward
    the argmax cell (for sigma 1.25, window 5: bias 0.11 cells without, about 0.04 with). A flat
    profile (uniform map) falls back to the plain mean of the in-window cells.
    """
    floor = profile.masked_fill(~inside, torch.inf).amin(dim=1, keepdim=True)
    weights = (profile - floor).clamp_min(0.0) * inside
    flat = weights.sum(dim=1, keepdim=True) <= 0
    weights = torch.where(flat, inside.to(profile.dtype), weights)
    return (weights * coords).sum(dim=1) / weights.sum(dim=1)
