"""The reprojection heatmap loss: zero where the views agree with one 3D pose, positive and
differentiable where they do not."""

from __future__ import annotations

import numpy as np
import torch

from pose.geometry import CameraRig, project
from pose.losses.reprojection import ReprojectionHeatmapLoss


def _rig() -> CameraRig:
    """Three cameras 1 m out around the origin, 64x64 images."""
    rotations, translations = [], []
    for angle in (0.0, 2.1, 4.2):
        # look at the origin from (sin a, 0, cos a) * 1 m: rotate the world by -a about y
        rotations.append([0.0, -angle, 0.0])
        translations.append([0.0, 0.0, 1.0])
    k = np.array([[60.0, 0, 32], [0, 60.0, 32], [0, 0, 1]])
    return CameraRig(
        names=("a", "b", "c"),
        intrinsics=np.stack([k] * 3),
        distortions=np.zeros((3, 5)),
        rotations=np.array(rotations),
        translations=np.array(translations),
        image_sizes=np.array([[64, 64]] * 3),
    )


def test_zero_for_consistent_views_and_positive_for_a_view_that_disagrees() -> None:
    rig = _rig()
    cams = rig.to_tensors()
    points = torch.tensor([[[0.05, 0.02, 0.0], [-0.04, 0.06, 0.03], [0.0, -0.05, -0.02]]])
    views = project(points, cams)  # [1, V, K, 2] in 64x64 frames
    keypoints = views.flatten(1, 2)  # [1, V * K, 2]
    scale = torch.ones(1, 2)  # images not resized
    loss = ReprojectionHeatmapLoss(cams, stride=4, log_weight=3.0)
    assert loss.weight == 1 / (2 * np.exp(3.0))
    consistent = loss(keypoints, keypoints, scale, (16, 16))
    assert float(consistent) < 1e-6
    wrong = keypoints.clone().requires_grad_(True)
    with torch.no_grad():
        wrong[0, 1] += torch.tensor([6.0, -4.0])  # view a, keypoint 1 off by 7 px
    value = loss(wrong, keypoints, scale, (16, 16))
    # triangulation spreads the 7 px over the views: each reprojection is off by a few pixels
    assert float(value.detach()) > 1e-3
    further = keypoints.clone()
    further[0, 1] += torch.tensor([12.0, -8.0])
    assert float(loss(further, keypoints, scale, (16, 16))) > 2 * float(value.detach())
    value.backward()
    assert wrong.grad is not None and torch.isfinite(wrong.grad).all()
    assert wrong.grad[0, 1].abs().sum() > 0
    # an unlabeled keypoint is left out, not scored against a uniform map
    unlabeled = keypoints.clone()
    unlabeled[0, [1, 4, 7]] = float("nan")
    assert float(loss(wrong.detach(), unlabeled, scale, (16, 16))) < float(value.detach())


def test_per_keypoint_resize_factors_map_each_view_to_its_frame() -> None:
    """Training batches carry one factor per keypoint (views may differ in size): labels given in
    resized pixels of each view still triangulate to one 3D pose, so the loss is zero."""
    cams = _rig().to_tensors()
    points = torch.tensor([[[0.05, 0.02, 0.0], [-0.04, 0.06, 0.03]]])
    frame = project(points, cams).flatten(1, 2)  # [1, 6, 2] in each view's 64x64 frame
    factors = torch.tensor([[2.0, 1.5], [2.0, 1.5], [1.0, 1.0], [1.0, 1.0], [0.5, 2.0], [0.5, 2.0]])
    resized = (frame + 0.5) / factors - 0.5
    loss = ReprojectionHeatmapLoss(cams, stride=2)
    assert float(loss(resized, resized, factors[None], (32, 64))) < 1e-6
    # the same labels read with one factor for all views are inconsistent in 3D
    assert float(loss(resized, resized, torch.ones(1, 2), (32, 64))) > 1e-3


def test_crop_offsets_place_each_view_in_its_frame() -> None:
    """Crops (``data.bbox_file``): labels in each view's resized crop triangulate to one 3D pose
    once scale and offset take them to the calibrated frames, and the reprojections come back
    into the crops; read without the offsets, the same labels disagree in 3D."""
    cams = _rig().to_tensors()
    points = torch.tensor([[[0.05, 0.02, 0.0], [-0.04, 0.06, 0.03]]])
    frame = project(points, cams).flatten(1, 2)  # [1, 6, 2] in each view's 64x64 frame
    factors = torch.tensor([[0.5, 0.5], [0.5, 0.5], [1.0, 1.0], [1.0, 1.0], [0.5, 1.0], [0.5, 1.0]])
    offsets = torch.tensor([[10.0, 5.0]] * 2 + [[0.0, 0.0]] * 2 + [[20.0, 12.0]] * 2)
    crop = (frame - offsets + 0.5) / factors - 0.5
    loss = ReprojectionHeatmapLoss(cams, stride=2)
    assert float(loss(crop, crop, factors[None], (32, 64), offsets[None])) < 1e-6
    assert float(loss(crop, crop, factors[None], (32, 64))) > 1e-3
