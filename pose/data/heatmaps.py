"""The one coordinate convention that resizing, augmentation, heatmap targets and decoding share.

Keypoints are in pixels with pixel centers at integer coordinates (as DeepLabCut labels are drawn),
so scaling an image by ``f`` maps ``x`` to ``(x + 0.5) * f - 0.5``, not ``x * f``. A heatmap of stride
``s = 2**downsample_factor`` has cell ``j`` centered at image coordinate ``(j + 0.5) * s - 0.5``, so
each cell covers exactly the ``s`` image pixels it pools and no half-cell shift creeps in between
encoding and decoding.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

ArrayT = TypeVar("ArrayT", Tensor, np.ndarray)


def rescale_pixels(xy: ArrayT, factor: Any) -> ArrayT:
    """Pixel coordinates ``[..., 2]`` in an image scaled by ``factor`` (a number or per-axis (fx, fy))."""
    return (xy + 0.5) * factor - 0.5


def per_keypoint(scale: ArrayT) -> ArrayT:
    """A batch's resize factors ``[B, 2]`` (one per image) or ``[B, K, 2]`` (one per keypoint, as
    multiview items carry them: views differ in size) as ``[B, 1 or K, 2]``, to scale ``[B, K, 2]``."""
    return scale if scale.ndim == 3 else scale[:, None, :]


def image_to_heatmap_coords(xy: Tensor, stride: int) -> Tensor:
    """Image pixel coordinates ``[..., 2]`` -> heatmap cell coordinates (any shape, elementwise)."""
    return rescale_pixels(xy, 1.0 / stride)


def heatmap_to_image_coords(uv: Tensor, stride: int) -> Tensor:
    """Heatmap cell coordinates ``[..., 2]`` -> image pixel coordinates (inverse of the above)."""
    return rescale_pixels(uv, stride)


def make_heatmaps(
    keypoints: Tensor,
    heatmap_hw: tuple[int, int],
    stride: int,
    sigma: float = 1.25,
    uniform_for_nan: bool = True,
) -> Tensor:
    """Gaussian target heatmaps ``[B, K, h, w]``, each summing to 1, for keypoints ``[B, K, 2]``.

    Args:
        keypoints: (x, y) in resized-image pixels; NaN where a keypoint is unlabeled.
        heatmap_hw: (h, w) of the model's output maps.
        stride: image pixels per heatmap cell (``2**downsample_factor``).
        sigma: Gaussian standard deviation in heatmap cells.
        uniform_for_nan: unlabeled keypoints get uniform ``1/(h*w)`` maps (the model learns "don't
            know") if True, else all-zero maps that the caller must mask out of the loss. Labeled
            keypoints so far outside the map that the Gaussian underflows are treated the same way.

    The Gaussian is separable, so it is built as an outer product of a row and a column profile:
    no Python loops, and it runs on the input's device.
    """
    h, w = int(heatmap_hw[0]), int(heatmap_hw[1])
    kp = keypoints.float() if not keypoints.is_floating_point() else keypoints
    uv = image_to_heatmap_coords(kp, stride)
    labeled = ~torch.isnan(uv).any(dim=-1)  # [B, K]
    uv = torch.nan_to_num(uv, nan=0.0)
    xs = torch.arange(w, device=kp.device, dtype=kp.dtype)
    ys = torch.arange(h, device=kp.device, dtype=kp.dtype)
    gx = torch.exp(-((xs - uv[..., 0:1]) ** 2) / (2 * sigma**2))  # [B, K, w]
    gy = torch.exp(-((ys - uv[..., 1:2]) ** 2) / (2 * sigma**2))  # [B, K, h]
    maps = gy[..., :, None] * gx[..., None, :]
    total = maps.sum(dim=(-2, -1), keepdim=True)
    valid = labeled & (total[..., 0, 0] > 0)
    maps = maps / total.clamp_min(torch.finfo(maps.dtype).tiny)
    fill = 1.0 / (h * w) if uniform_for_nan else 0.0
    return torch.where(valid[..., None, None], maps, torch.full_like(maps, fill))
