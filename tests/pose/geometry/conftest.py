"""A synthetic 3-camera rig around the origin and points it sees, shared by the geometry tests."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pose.geometry import CameraRig


def look_at(center: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV world->camera (rvec, tvec) of a camera at ``center`` looking at ``target``, z up."""
    forward = (target - center) / np.linalg.norm(target - center)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera x, y, z axes in world coordinates
    return cv2.Rodrigues(rotation)[0].ravel(), -rotation @ center


def make_rig() -> CameraRig:
    """Three pinhole cameras 120 degrees apart, 1 m out and 0.3 m up, with mild distortion."""
    rvecs, tvecs = [], []
    for i, angle in enumerate(np.deg2rad([0.0, 120.0, 240.0])):
        center = np.array([np.cos(angle), np.sin(angle), 0.3 + 0.05 * i])
        rvec, tvec = look_at(center, np.array([0.0, 0.0, 0.02 * i]))
        rvecs.append(rvec)
        tvecs.append(tvec)
    return CameraRig(
        names=("top", "left", "right"),
        intrinsics=[
            [[500.0, 0.0, 320.0], [0.0, 505.0, 240.0], [0.0, 0.0, 1.0]],
            [[480.0, 0.0, 330.0], [0.0, 480.0, 250.0], [0.0, 0.0, 1.0]],
            [[520.0, 0.0, 310.0], [0.0, 515.0, 235.0], [0.0, 0.0, 1.0]],
        ],
        distortions=[
            [-0.05, 0.01, 0.001, -0.0005, 0.0],
            [-0.08, 0.02, -0.0008, 0.0004, -0.002],
            [0.03, -0.01, 0.0005, 0.001, 0.0],
        ],
        rotations=rvecs,
        translations=tvecs,
        image_sizes=[[640, 480], [660, 500], [620, 470]],
    )


@pytest.fixture
def rig() -> CameraRig:
    return make_rig()


@pytest.fixture
def points_3d() -> np.ndarray:
    """``[12, 3]`` points in a 50 cm box around the origin: all cameras see them, far enough
    apart to reach the image corners where distortion matters."""
    return np.random.default_rng(0).uniform(-0.25, 0.25, size=(12, 3))
