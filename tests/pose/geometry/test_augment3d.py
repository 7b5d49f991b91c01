"""3D augmentation: labels stay consistent across views, image warps follow them, NaN stays NaN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pose.geometry import (
    CameraRig,
    augment_views_3d,
    project,
    random_similarity,
    reprojection_error,
    triangulate,
    view_affines,
)

NAN = np.nan
SEEDS = range(8)


def apply_affines(affines: np.ndarray, points_2d: np.ndarray) -> np.ndarray:
    return np.einsum("vij,vnj->vni", affines[:, :, :2], points_2d) + affines[:, None, :, 2]


def animal_labels(rig: CameraRig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(points_3d [10, 3], labels [3, 10, 2])`` of a ~15 cm animal, with a few labels missing."""
    points_3d = np.random.default_rng(100 + seed).normal(0.0, 0.04, size=(10, 3))
    labels = project(torch.from_numpy(points_3d), rig.to_tensors(dtype=torch.float64)).numpy()
    labels[1, 0] = NAN  # keypoint 0 unlabeled in the second view
    labels[:2, 5] = NAN  # keypoint 5 labeled in the third view only: cannot be triangulated
    labels[:, 9] = NAN  # keypoint 9 unlabeled everywhere
    return points_3d, labels


@pytest.mark.parametrize("seed", SEEDS)
def test_augmented_labels_are_one_scaled_and_shifted_animal(rig: CameraRig, seed: int) -> None:
    points_3d, labels = animal_labels(rig, seed)
    new, _ = augment_views_3d(labels, rig, np.random.default_rng(seed))
    assert new.shape == labels.shape
    np.testing.assert_array_equal(np.isnan(new), np.isnan(labels))
    cams = rig.to_tensors(dtype=torch.float64)
    errors = reprojection_error(torch.from_numpy(new), cams).numpy()
    assert np.nanmax(errors) < 0.1  # every view agrees on one 3D animal
    assert np.nanmean(np.linalg.norm(new - labels, axis=-1)) > 2.0  # and it did move
    # the new animal is the old one scaled uniformly within the default range
    moved = triangulate(torch.from_numpy(new), cams).numpy()
    seen = [0, 1, 2, 3, 4, 6, 7, 8]
    assert np.isfinite(moved[seen]).all() and np.isnan(moved[[5, 9]]).all()
    old_d = np.linalg.norm(points_3d[seen, None] - points_3d[None, seen], axis=-1)
    new_d = np.linalg.norm(moved[seen, None] - moved[None, seen], axis=-1)
    ratios = new_d[old_d > 0] / old_d[old_d > 0]
    assert ratios.std() < 1e-6 and 0.8 <= ratios.mean() <= 1.2
    # shifted by at most 25% of the scaled extent along each axis (about the median)
    shift = np.median(moved[seen], axis=0) - np.median(points_3d[seen], axis=0)
    extent = ratios.mean() * np.ptp(points_3d[seen], axis=0)
    assert (np.abs(shift) <= 0.25 * extent + 1e-9).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_affines_carry_the_images_with_the_labels(rig: CameraRig, seed: int) -> None:
    _, labels = animal_labels(rig, seed)
    new, affines = augment_views_3d(labels, rig, np.random.default_rng(seed))
    assert affines.shape == (3, 2, 3)
    warped = apply_affines(affines, labels)
    residual = np.linalg.norm(warped - new, axis=-1)
    displacement = np.linalg.norm(labels - new, axis=-1)
    # perspective is all that a scale + shift cannot capture: well under the motion itself
    assert np.nanmax(residual) < 3.0
    assert np.nanmean(residual) < 0.1 * np.nanmean(displacement)
    # the keypoint only the third view labels moves with that view's image, exactly
    np.testing.assert_allclose(new[2, 5], warped[2, 5], atol=1e-9)
    # warps are uniform scales: no rotation or shear
    np.testing.assert_allclose(affines[:, 0, 1], 0.0)
    np.testing.assert_allclose(affines[:, 0, 0], affines[:, 1, 1])


def test_augmentation_is_reproducible_from_the_generator(rig: CameraRig) -> None:
    _, labels = animal_labels(rig, 0)
    first = augment_views_3d(labels, rig, np.random.default_rng(7))
    again = augment_views_3d(labels, rig, np.random.default_rng(7))
    other = augment_views_3d(labels, rig, np.random.default_rng(8))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.allclose(first[1], other[1])


def test_too_few_triangulated_keypoints_leave_the_frame_alone(rig: CameraRig) -> None:
    _, labels = animal_labels(rig, 0)
    labels[1:, 2:] = NAN  # only keypoints 0 and 1 keep two views
    new, affines = augment_views_3d(labels, rig, np.random.default_rng(0))
    np.testing.assert_array_equal(new, labels)
    np.testing.assert_array_equal(affines, np.tile(np.eye(2, 3), (3, 1, 1)))
    moved, _ = augment_views_3d(labels, rig, np.random.default_rng(0), min_points=1)
    assert not np.allclose(moved[0, 1], labels[0, 1])


def test_wrong_number_of_views_is_refused(rig: CameraRig) -> None:
    with pytest.raises(ValueError, match=r"\[3, N, 2\].*'top', 'left', 'right'.*\(2, 4, 2\)"):
        augment_views_3d(np.zeros((2, 4, 2)), rig, np.random.default_rng(0))


def test_view_affines_recover_a_known_scale_and_shift() -> None:
    rng = np.random.default_rng(0)
    original = rng.uniform(0, 500, size=(4, 6, 2))
    original[0, 2] = NAN  # ignored
    truth = np.array([[1.1, 5.0, -3.0], [0.8, -20.0, 7.5], [1.0, 0.0, 0.0], [1.3, 2.0, 2.0]])
    augmented = original * truth[:, None, :1] + truth[:, None, 1:]
    augmented[0, 4] = NAN  # ignored as well
    augmented[3, 1:] = NAN  # a single shared point: a pure translation onto it
    affines = view_affines(original, augmented)
    for view in range(3):
        scale, tx, ty = truth[view]
        np.testing.assert_allclose(affines[view], [[scale, 0, tx], [0, scale, ty]], atol=1e-9)
    np.testing.assert_allclose(affines[3, :, :2], np.eye(2))
    np.testing.assert_allclose(apply_affines(affines, original)[3, 0], augmented[3, 0])


def test_view_affines_fall_back_to_identity_without_points() -> None:
    original = np.full((2, 3, 2), NAN)
    original[1] = [[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]]
    augmented = original * 2.0
    augmented[1, :] = NAN
    np.testing.assert_array_equal(
        view_affines(original, augmented), np.tile(np.eye(2, 3), (2, 1, 1))
    )


def test_random_similarity_stays_in_its_ranges() -> None:
    points = np.random.default_rng(0).uniform(-1, 1, size=(20, 3)) * [0.1, 0.2, 0.05]
    points[3] = NAN
    finite = points[np.isfinite(points).all(axis=-1)]
    rng = np.random.default_rng(1)
    draws = [random_similarity(points, rng, (0.9, 1.1), 0.1) for _ in range(200)]
    scales = np.array([d.scale for d in draws])
    shifts = np.array([d.shift for d in draws])
    assert 0.9 <= scales.min() < 0.92 and 1.08 < scales.max() <= 1.1
    bound = 0.1 * scales[:, None] * np.ptp(finite, axis=0)
    assert (np.abs(shifts) <= bound).all() and (np.abs(shifts) > 0.8 * bound).any()
    np.testing.assert_allclose(draws[0].center, np.median(finite, axis=0))
    moved = draws[0].apply(points)
    assert np.isnan(moved[3]).all()
    np.testing.assert_allclose(
        moved[0] - moved[1], draws[0].scale * (points[0] - points[1]), rtol=1e-12
    )
