"""Pixel-sized augmentation parameters in the original frame's pixels, applied to a resized image.

Lightning Pose augments the full-resolution frame and resizes afterwards; we augment the cached,
already-resized image, which is much cheaper. Rotations, crops and dropout sizes are relative to
the image and mean the same either way, but a motion-blur length and an elastic displacement are
given in pixels (and an emboss kernel is 3x3 pixels): applied as they are to a 128x128 image cut
from 296x200 frames they distort 1.5-2.3x more than the same config does in Lightning Pose. The
augmenters here read those parameters in original pixels and carry them over to the image they
receive, given its ``source_scale`` (original pixels per image pixel, ``(sx, sy)``), which the
dataset sets per item with :func:`set_source_scale`.
"""

from __future__ import annotations

from typing import Any

import imgaug.augmenters as iaa
import numpy as np


class SourceScaled:
    """Marks an augmenter whose pixel-sized parameters are in original-frame pixels."""

    source_scale: tuple[float, float] = (1.0, 1.0)


def set_source_scale(augmenter: iaa.Augmenter, scale: tuple[float, float]) -> None:
    """Tell every :class:`SourceScaled` augmenter in ``augmenter``'s tree the item's scale."""
    for aug in [augmenter, *augmenter.get_all_children(flat=True)]:
        if isinstance(aug, SourceScaled):
            aug.source_scale = (float(scale[0]), float(scale[1]))


def _area_weights(size: int, scale: float) -> np.ndarray:
    """``[n, size]`` weights that area-resample ``size`` centred pixels by ``1 / scale``.

    Source pixel ``a`` covers ``[a - 0.5, a + 0.5]``; mapped about the centre it covers a box of width
    ``1 / scale`` in the output, and its mass is shared among the output pixels that box overlaps.
    ``n`` is the smallest odd size that holds all of it, so the kernel stays centred (an even size
    would shift the image against its keypoints by half a pixel).
    """
    n = max(1, int(np.ceil(size / scale)))
    n += 1 - n % 2
    centres = (np.arange(size) - (size - 1) / 2) / scale + (n - 1) / 2
    lo, hi = centres - 0.5 / scale, centres + 0.5 / scale
    edges = np.arange(n)
    overlap = np.minimum(hi[None, :], edges[:, None] + 0.5) - np.maximum(
        lo[None, :], edges[:, None] - 0.5
    )
    return np.clip(overlap, 0.0, None) * scale


def resample_kernel(kernel: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """A convolution kernel drawn in original pixels, as it acts on an image ``scale`` times smaller.

    Area resampling keeps the kernel's mass (1 for a blur) and its centre; a kernel that shrinks
    below one pixel becomes the identity, as blurring a downsampled image by less than a pixel does.
    """
    sx, sy = scale
    if sx == 1.0 and sy == 1.0:
        return kernel
    rows, cols = _area_weights(kernel.shape[0], sy), _area_weights(kernel.shape[1], sx)
    return (rows @ kernel.astype(np.float64) @ cols.T).astype(np.float32)


class _ResampledMatrices:
    """Wraps a Convolve matrix generator so its kernels are resampled to the item's scale.

    The scale lives here, not on the augmenter: imgaug's ``to_deterministic`` copies augmenters
    shallowly, so a copy and its original share this object and always agree on the scale.
    """

    def __init__(self, generate: Any) -> None:
        self.generate = generate
        self.scale: tuple[float, float] = (1.0, 1.0)

    def __call__(self, image: np.ndarray, nb_channels: int, random_state: Any) -> Any:
        matrices = self.generate(image, nb_channels, random_state)
        if isinstance(matrices, np.ndarray):  # one kernel for every channel
            return resample_kernel(matrices, self.scale)
        return [resample_kernel(m, self.scale) for m in matrices]


class _KernelInSourcePixels(SourceScaled):
    """For ``iaa.Convolve`` subclasses whose kernel generator draws kernels in original pixels."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # imgaug is untyped: Convolve keeps its kernel generator in .matrix
        self.matrix = _ResampledMatrices(self.matrix)  # type: ignore[has-type]

    @property  # type: ignore[override]
    def source_scale(self) -> tuple[float, float]:
        return self.matrix.scale  # type: ignore[no-any-return]

    @source_scale.setter
    def source_scale(self, scale: tuple[float, float]) -> None:
        self.matrix.scale = scale


class MotionBlur(_KernelInSourcePixels, iaa.MotionBlur):
    """``iaa.MotionBlur`` whose kernel size ``k`` is in original-frame pixels."""


class Emboss(_KernelInSourcePixels, iaa.Emboss):
    """``iaa.Emboss`` whose 3x3 relief kernel spans 3 original-frame pixels (a fainter relief
    on a downsized image, as embossing the full frame and then resizing gives)."""
