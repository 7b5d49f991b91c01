"""Pixel-sized augmentations mean original-frame pixels whatever the resize (Lightning Pose's strength)."""

from __future__ import annotations

from pathlib import Path

import imgaug.augmenters as iaa
import numpy as np
import pytest
from imgaug.augmentables.kps import KeypointsOnImage

from pose.config import load_config
from pose.data import PoseDataModule
from pose.data.elastic import ElasticTransformation
from pose.data.source_scale import Emboss, MotionBlur, resample_kernel, set_source_scale

ORIGINAL_HW = (200, 296)  # the frames; 128x128 from these is 2.3x / 1.56x smaller


def _elastic_rms_displacement(scale: tuple[float, float], seeds: int = 40) -> float:
    """RMS keypoint displacement, in original pixels, of alpha 10 / sigma 5 on a grid of points."""
    sx, sy = scale
    h, w = round(ORIGINAL_HW[0] / sy), round(ORIGINAL_HW[1] / sx)
    image = np.zeros((h, w, 3), np.uint8)
    # whole-pixel points: imgaug rounds a keypoint's neighbourhood to pixels, which is not the field
    gx, gy = np.meshgrid(np.linspace(10, w - 10, 8).round(), np.linspace(10, h - 10, 6).round())
    xy = np.stack([gx.ravel(), gy.ravel()], axis=1)
    squares = []
    for seed in range(seeds):
        aug = ElasticTransformation(alpha=10, sigma=5, seed=seed)
        set_source_scale(aug, scale)
        _, kps = aug(image=image, keypoints=KeypointsOnImage.from_xy_array(xy, shape=image.shape))
        moved = (kps.to_xy_array() - xy) * [sx, sy]
        squares.append((moved**2).sum(axis=1))
    return float(np.sqrt(np.mean(squares)))


@pytest.mark.parametrize("scale", [(2.0, 2.0), (2.3125, 1.5625)])
def test_elastic_strength_equal_at_two_resize_factors(scale: tuple[float, float]) -> None:
    full = _elastic_rms_displacement((1.0, 1.0))
    resized = _elastic_rms_displacement(scale)
    assert full > 0.3  # the field moves points (alpha 10 over sigma 5 is a mild warp)
    assert resized == pytest.approx(full, rel=0.15)
    # without the source scale the same parameters move points 1.5-2.3x further in original pixels
    h, w = round(ORIGINAL_HW[0] / scale[1]), round(ORIGINAL_HW[1] / scale[0])
    plain = iaa.ElasticTransformation(alpha=10, sigma=5, seed=0)
    xy = np.array([[w // 2, h // 2], [w // 3, h // 3], [2 * w // 3, h // 2]], dtype=float)
    image = np.zeros((h, w, 3), np.uint8)
    unscaled = []
    for seed in range(40):
        plain.seed_(seed)
        _, kps = plain(image=image, keypoints=KeypointsOnImage.from_xy_array(xy, shape=image.shape))
        unscaled.append((((kps.to_xy_array() - xy) * scale) ** 2).sum(axis=1))
    assert float(np.sqrt(np.mean(unscaled))) > 1.3 * full


def _blur_moments(scale: float) -> tuple[float, float, float]:
    """Centroid x, y and variance along x, in original pixels, of a dot blurred by k=9 at angle 0."""
    size = round(99 / scale) | 1
    image = np.zeros((size, size, 3), np.uint8)
    image[size // 2, size // 2] = 255
    blur = MotionBlur(k=9, angle=90, direction=0.0, seed=0)  # 90 degrees: a horizontal streak
    set_source_scale(blur, (scale, scale))
    out = blur(image=image)[..., 0].astype(np.float64)
    ys, xs = np.mgrid[:size, :size]
    mass = out.sum()
    cx, cy = (out * xs).sum() / mass, (out * ys).sum() / mass
    var = (out * (xs - cx) ** 2).sum() / mass
    return (cx - size // 2) * scale, (cy - size // 2) * scale, var * scale**2


def test_motion_blur_length_equal_at_two_resize_factors() -> None:
    _, _, full = _blur_moments(1.0)
    assert full == pytest.approx((9**2 - 1) / 12, rel=0.1)  # a 9-pixel streak
    for scale in (2.0, 2.5):
        cx, cy, resized = _blur_moments(scale)
        assert resized == pytest.approx(full, rel=0.15)
        assert abs(cx) < 0.1 and abs(cy) < 0.1  # the kernel stays centred: labels do not shift


def test_resample_kernel_keeps_mass_and_is_identity_at_scale_one() -> None:
    kernel = np.random.default_rng(0).random((7, 7)).astype(np.float32)
    assert resample_kernel(kernel, (1.0, 1.0)) is kernel
    small = resample_kernel(kernel, (2.2, 1.7))
    assert small.shape == (5, 5)  # ceil(7 / 1.7) = 5 rows, ceil(7 / 2.2) = 4 -> odd 5 columns
    assert small.sum() == pytest.approx(kernel.sum(), rel=1e-5)
    dot = np.ones((1, 1), np.float32)
    np.testing.assert_allclose(resample_kernel(dot, (3.0, 3.0)), [[1.0]])


def test_scale_one_is_imgaug_exactly() -> None:
    image = (np.random.default_rng(1).random((60, 80, 3)) * 255).astype(np.uint8)
    for ours, theirs in (
        (MotionBlur(k=5, seed=3), iaa.MotionBlur(k=5, seed=3)),
        (Emboss(alpha=0.5, seed=3), iaa.Emboss(alpha=0.5, seed=3)),
        (
            ElasticTransformation(alpha=10, sigma=5, seed=3),
            iaa.ElasticTransformation(alpha=10, sigma=5, seed=3),
        ),
    ):
        assert np.array_equal(ours(image=image), theirs(image=image))


def test_dataset_sets_each_items_scale(synthetic_dir: Path) -> None:
    """Synthetic frames are 192x160 resized to 128x128: the augmenters learn (1.5, 1.25) per item."""
    cfg = load_config(
        synthetic_dir / "config.yaml", ["training.num_workers=0", "training.imgaug=dlc"]
    )
    dm = PoseDataModule(cfg)
    dm.setup()
    assert dm.train_set.augmenter is not None
    dm.train_set[0]
    scaled = [
        a
        for a in dm.train_set.augmenter.get_all_children(flat=True)
        if isinstance(a, (MotionBlur, ElasticTransformation, Emboss))
    ]
    assert len(scaled) == 3
    for aug in scaled:
        assert aug.source_scale == pytest.approx((192 / 128, 160 / 128))


def test_emboss_relief_fades_on_a_downsized_image() -> None:
    """Embossing a full frame then resizing 3x leaves little relief; so does ours on the small image."""
    rng = np.random.default_rng(0)
    image = (rng.random((60, 60, 3)) * 255).astype(np.uint8)
    relief = []
    for scale in (1.0, 1.5, 3.0):
        emboss = Emboss(alpha=1.0, strength=1.0, seed=0)
        set_source_scale(emboss, (scale, scale))
        relief.append(np.abs(emboss(image=image).astype(float) - image).mean())
    assert relief[0] > relief[1] > relief[2]
    assert relief[2] < 0.5  # a 3x3 kernel over 3 original pixels is less than one pixel here


def test_deterministic_copies_keep_the_scale() -> None:
    """imgaug copies augmenters shallowly for a window's shared draw; the copy must blur at the
    item's scale, whichever of the two was told it."""
    image = np.zeros((41, 41, 3), np.uint8)
    image[20, 20] = 255
    blur = MotionBlur(k=9, angle=90, direction=0.0, seed=0)
    set_source_scale(blur, (3.0, 3.0))
    copy = blur.to_deterministic()
    assert copy.source_scale == (3.0, 3.0)
    streak = (copy(image=image)[20, :, 0] > 0).sum()
    assert streak == 3  # 9 original pixels are 3 here, not 9
    set_source_scale(copy, (1.0, 1.0))
    assert blur.source_scale == (1.0, 1.0)
