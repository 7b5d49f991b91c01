"""Projection against OpenCV and aniposelib, triangulation round trips, NaN handling, gradients."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from aniposelib.cameras import CameraGroup

from pose.geometry import (
    CameraRig,
    project,
    reprojection_error,
    triangulate,
    undistort,
    write_calibration,
)

NAN = float("nan")


def rig_scale(rig: CameraRig) -> float:
    """Mean distance of the camera centers from the world origin."""
    centers = [
        -cv2.Rodrigues(r)[0].T @ t for r, t in zip(rig.rotations, rig.translations, strict=True)
    ]
    return float(np.mean(np.linalg.norm(centers, axis=-1)))


def test_project_matches_opencv_and_aniposelib(
    rig: CameraRig, points_3d: np.ndarray, tmp_path: Path
) -> None:
    ours = project(torch.from_numpy(points_3d), rig.to_tensors(dtype=torch.float64)).numpy()
    assert ours.shape == (3, 12, 2)
    for view in range(3):
        expected, _ = cv2.projectPoints(
            points_3d,
            rig.rotations[view],
            rig.translations[view],
            rig.intrinsics[view],
            rig.distortions[view],
        )
        np.testing.assert_allclose(ours[view], expected.reshape(-1, 2), atol=1e-3)
    group = CameraGroup.load(str(write_calibration(rig, tmp_path / "calibration.toml")))
    np.testing.assert_allclose(ours, group.project(points_3d), atol=1e-3)
    # distortion is in play: ignoring it moves points by more than a pixel
    undistorted_rig = CameraRig(
        rig.names,
        rig.intrinsics,
        np.zeros((3, 5)),
        rig.rotations,
        rig.translations,
        rig.image_sizes,
    )
    pinhole = project(torch.from_numpy(points_3d), undistorted_rig.to_tensors(dtype=torch.float64))
    assert np.abs(pinhole.numpy() - ours).max() > 1.0


def test_project_in_float32_is_sub_millipixel(rig: CameraRig, points_3d: np.ndarray) -> None:
    ours64 = project(torch.from_numpy(points_3d), rig.to_tensors(dtype=torch.float64))
    ours32 = project(torch.from_numpy(points_3d).float(), rig.to_tensors())
    assert ours32.dtype == torch.float32
    assert (ours32.double() - ours64).abs().max() < 1e-3


def test_undistort_matches_opencv(rig: CameraRig, points_3d: np.ndarray) -> None:
    cams = rig.to_tensors(dtype=torch.float64)
    pixels = project(torch.from_numpy(points_3d), cams)
    normalized = undistort(pixels, cams).numpy()
    for view in range(3):
        # the iteration count as an argument: undistortPointsIter in OpenCV 4.x, a keyword in 5
        expected = cv2.undistortPointsIter(
            pixels[view].numpy().reshape(-1, 1, 2),
            rig.intrinsics[view],
            rig.distortions[view],
            None,
            None,
            (cv2.TERM_CRITERIA_COUNT, 20, 0.0),
        ).reshape(-1, 2)
        np.testing.assert_allclose(normalized[view], expected, atol=1e-7)
        # and it inverts the distortion: the pinhole projection of the camera-frame point
        rotation = cv2.Rodrigues(rig.rotations[view])[0]
        in_camera = points_3d @ rotation.T + rig.translations[view]
        np.testing.assert_allclose(normalized[view], in_camera[:, :2] / in_camera[:, 2:], atol=1e-7)


def test_batched_points_and_cameras_broadcast(rig: CameraRig, points_3d: np.ndarray) -> None:
    cams = rig.to_tensors(dtype=torch.float64)
    batch = torch.from_numpy(np.stack([points_3d, points_3d[::-1] * 0.5]))  # [2, 12, 3]
    pixels = project(batch, cams)
    assert pixels.shape == (2, 3, 12, 2)
    assert torch.allclose(pixels[1], project(batch[1], cams))
    # one calibration per sample: the second sample's cameras are 10% shorter-focal
    K = torch.stack([cams.K, cams.K * torch.tensor([0.9, 0.9, 1.0]).view(3, 1).double()])
    per_sample = type(cams)(
        K, cams.dist.expand(2, 3, 5), cams.R.expand(2, 3, 3, 3), cams.t.expand(2, 3, 3)
    )
    pixels_2 = project(batch, per_sample)
    assert torch.allclose(pixels_2[0], pixels[0])
    assert not torch.allclose(pixels_2[1], pixels[1], atol=1.0)
    back = triangulate(pixels_2, per_sample)
    assert back.shape == (2, 12, 3)
    assert torch.allclose(back, batch, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_triangulate_round_trip_is_exact_on_noise_free_data(
    rig: CameraRig, points_3d: np.ndarray, dtype: torch.dtype
) -> None:
    """The issue's done-when: project known 3D points, triangulate them back within 0.1 px."""
    cams = rig.to_tensors(dtype=dtype)
    pixels = project(torch.from_numpy(points_3d).to(dtype), cams)
    back = triangulate(pixels, cams)
    assert back.dtype == dtype and back.shape == (12, 3)
    error_3d = np.abs(back.double().numpy() - points_3d).max()
    assert error_3d < 1e-3 * rig_scale(rig)
    if dtype == torch.float64:
        assert error_3d < 1e-9
    errors = reprojection_error(pixels, cams)
    assert errors.shape == (3, 12)
    assert errors.max() < 0.1


def test_triangulation_with_label_noise_is_at_the_noise_level(
    rig: CameraRig, points_3d: np.ndarray
) -> None:
    cams = rig.to_tensors(dtype=torch.float64)
    clean = project(torch.from_numpy(points_3d), cams)
    for seed in range(3):
        noise = torch.from_numpy(np.random.default_rng(seed).normal(0, 0.5, size=clean.shape))
        back = triangulate(clean + noise, cams).numpy()
        # 0.5 px at f ~ 500 and 1 m is 1 mm of ray offset; three views average it down
        assert np.linalg.norm(back - points_3d, axis=-1).mean() < 2.5e-3 * rig_scale(rig)
        errors = reprojection_error(clean + noise, cams)
        assert 0.1 < errors.mean() < 0.8


def test_nan_views_are_left_out(rig: CameraRig, points_3d: np.ndarray) -> None:
    cams = rig.to_tensors(dtype=torch.float64)
    pixels = project(torch.from_numpy(points_3d), cams)
    pixels[0, :4] = NAN  # points 0..3 unseen by the first camera
    pixels[1, 4:6, 0] = NAN  # half-NaN coordinates count as missing too
    pixels[:2, 6] = NAN  # point 6 seen by the third camera only
    pixels[:, 7] = NAN  # point 7 seen by none
    back = triangulate(pixels, cams).numpy()
    seen = np.array([i not in (6, 7) for i in range(12)])
    np.testing.assert_allclose(back[seen], points_3d[seen], atol=1e-9)
    assert np.isnan(back[~seen]).all()
    errors = reprojection_error(pixels, cams).numpy()
    assert np.isnan(errors[0, :4]).all() and np.isnan(errors[1, 4:6]).all()
    assert np.isnan(errors[:, 6:8]).all()
    assert np.nanmax(errors) < 1e-6
    assert np.isfinite(errors).sum() == 36 - 4 - 2 - 3 - 3


def test_weights_downweight_a_bad_view(rig: CameraRig, points_3d: np.ndarray) -> None:
    cams = rig.to_tensors(dtype=torch.float64)
    pixels = project(torch.from_numpy(points_3d), cams)
    pixels[2] += 30.0  # the third camera is 30 px off everywhere
    weights = torch.ones(3, 12, dtype=torch.float64)
    assert np.abs(triangulate(pixels, cams, weights).numpy() - points_3d).max() > 5e-3
    weights[2] = 0.0
    np.testing.assert_allclose(triangulate(pixels, cams, weights).numpy(), points_3d, atol=1e-9)
    weights[1, :3] = 0.0  # and then points 0..2 have a single view left
    assert torch.isnan(triangulate(pixels, cams, weights)[:3]).all()


def test_gradients_flow_through_triangulate_and_project(
    rig: CameraRig, points_3d: np.ndarray
) -> None:
    """A reprojection loss on predictions with missing views: finite gradients, none into NaNs."""
    cams = rig.to_tensors()
    clean = project(torch.from_numpy(points_3d).float(), cams)
    noisy = clean + torch.from_numpy(np.random.default_rng(1).normal(0, 2.0, clean.shape)).float()
    noisy[0, :3] = NAN
    noisy[:2, 11] = NAN  # single view: no 3D point, no gradient
    predictions = noisy.clone().requires_grad_(True)
    loss = torch.nanmean(reprojection_error(predictions, cams))
    loss.backward()
    grad = predictions.grad
    assert grad is not None and torch.isfinite(grad).all()
    assert (grad[0, :3] == 0).all() and (grad[:, 11] == 0).all()
    assert (grad[:, 3:11].norm(dim=-1) > 0).all()
    # a gradient step on the predictions makes them more consistent across views
    with torch.no_grad():
        stepped = predictions - 50.0 * grad
    assert torch.nanmean(reprojection_error(stepped, cams)) < loss


def test_camera_gradients_stay_finite_with_missing_points(
    rig: CameraRig, points_3d: np.ndarray
) -> None:
    """Refining a calibration through the loss: undefined points must not poison the cameras."""
    cams = rig.to_tensors(dtype=torch.float64)
    pixels = project(torch.from_numpy(points_3d), cams) + 1.0
    pixels[:2, 0] = NAN  # a point that cannot be triangulated
    translations = cams.t.clone().requires_grad_(True)
    refined = type(cams)(cams.K, cams.dist, cams.R, translations)
    torch.nanmean(reprojection_error(pixels, refined)).backward()
    assert translations.grad is not None and torch.isfinite(translations.grad).all()
    assert translations.grad.abs().max() > 0


def test_triangulate_then_project_passes_gradcheck(rig: CameraRig, points_3d: np.ndarray) -> None:
    cams = rig.to_tensors(dtype=torch.float64)
    pixels = project(torch.from_numpy(points_3d[:3]), cams)
    pixels = pixels + torch.from_numpy(np.random.default_rng(2).normal(0, 1.0, pixels.shape))
    pixels.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: project(triangulate(p, cams), cams), (pixels,))
    weights = torch.rand(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    weights = (weights + 0.5).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda w: triangulate(pixels, cams, w), (weights,))
