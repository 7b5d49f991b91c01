"""Multi-camera geometry: rig calibrations, differentiable triangulation, 3D augmentation."""

from pose.geometry.augment3d import (
    Similarity3D,
    augment_views_3d,
    random_similarity,
    view_affines,
)
from pose.geometry.calibration import (
    CameraRig,
    CameraTensors,
    load_calibration,
    write_calibration,
)
from pose.geometry.projection import project, reprojection_error, triangulate, undistort

__all__ = [
    "CameraRig",
    "CameraTensors",
    "Similarity3D",
    "augment_views_3d",
    "load_calibration",
    "project",
    "random_similarity",
    "reprojection_error",
    "triangulate",
    "undistort",
    "view_affines",
    "write_calibration",
]
