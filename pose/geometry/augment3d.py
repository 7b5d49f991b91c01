"""Geometry-consistent augmentation of multi-camera labels (``training.imgaug_3d``).

Per-view 2D augmentation breaks the epipolar geometry between views: a label moved in one image no
longer triangulates with the others. Here the animal is instead scaled and moved in 3D, reprojected
into every camera, and each view's image is warped by the 2D transform that best carries its old
labels onto the new ones, so 3D losses keep a consistent target.

Defaults follow Lightning Pose's ``MultiviewHeatmapDataset.apply_3d_transforms``: a scale drawn
from ``U(0.8, 1.2)`` about the keypoints' median, then a shift of up to ±25% of the (scaled)
animal's extent along each world axis, and no augmentation when fewer than 3 keypoints
triangulate. That varies apparent size and position but keeps the animal near where the cameras
were calibrated to look (and mostly inside every frame).

Coordinates are full-frame pixels in the convention the calibration uses (OpenCV: pixel centers at
integers, like DeepLabCut labels); crop/resize happens after this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pose.geometry.calibration import CameraRig
from pose.geometry.projection import project, triangulate

DEFAULT_SCALE_RANGE = (0.8, 1.2)
DEFAULT_SHIFT_FRACTION = 0.25
DEFAULT_MIN_POINTS = 3


@dataclass(frozen=True)
class Similarity3D:
    """The map ``x -> scale * (x - center) + center + shift`` on world points ``[..., 3]``."""

    scale: float
    center: np.ndarray
    shift: np.ndarray

    def apply(self, points_3d: np.ndarray) -> np.ndarray:
        """Transformed points; NaN rows stay NaN."""
        return self.scale * (np.asarray(points_3d) - self.center) + self.center + self.shift


def random_similarity(
    keypoints_3d: np.ndarray,
    rng: np.random.Generator,
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE,
    shift_fraction: float = DEFAULT_SHIFT_FRACTION,
) -> Similarity3D:
    """A random scale about the keypoints' median and a shift relative to their extent.

    Args:
        keypoints_3d: ``[N, 3]`` world points of one frame; NaN rows are ignored.
        rng: the source of randomness (one per dataloader worker keeps runs reproducible).
        scale_range: ``(min, max)`` of the uniform scale factor.
        shift_fraction: the largest shift along each world axis, as a fraction of the scaled
            keypoints' extent (max - min) along that axis.

    The median, not the mean, is the center so that one badly triangulated keypoint does not move
    the whole animal.
    """
    points = np.asarray(keypoints_3d, dtype=np.float64)
    finite = np.isfinite(points).all(axis=-1)
    if not finite.any():
        raise ValueError("random_similarity needs at least one finite 3D keypoint")
    points = points[finite]
    scale = float(rng.uniform(*scale_range))
    center = np.median(points, axis=0)
    extent = scale * (points.max(axis=0) - points.min(axis=0))
    shift = shift_fraction * extent * rng.uniform(-1.0, 1.0, size=3)
    return Similarity3D(scale=scale, center=center, shift=shift)


def view_affines(original_2d: np.ndarray, augmented_2d: np.ndarray) -> np.ndarray:
    """Per view, the ``[2, 3]`` map ``x -> s * x + t`` best carrying original onto augmented labels.

    Least squares over the keypoints finite in both. A uniform scale and a translation, not a full
    affine, because that is what a 3D scale and shift look like through a camera (no rotation, no
    shear; perspective and lens distortion are the residual): with the few keypoints a frame has,
    the 4 extra affine parameters would fit label noise and shear the image. One shared point gives
    a pure translation, none the identity. Feed each matrix to ``cv2.warpAffine(image, M, size)``.

    Args:
        original_2d: ``[V, N, 2]`` labels the images show; NaN where unlabeled.
        augmented_2d: ``[V, N, 2]`` where those labels should end up; NaN where undefined.

    Returns:
        ``[V, 2, 3]`` float64 matrices.
    """
    original = np.asarray(original_2d, dtype=np.float64)
    augmented = np.asarray(augmented_2d, dtype=np.float64)
    if original.shape != augmented.shape or original.ndim != 3 or original.shape[-1] != 2:
        raise ValueError(
            f"view_affines needs two [V, N, 2] arrays, got {original.shape} and {augmented.shape}"
        )
    affines = np.zeros((original.shape[0], 2, 3))
    for view, (src, dst) in enumerate(zip(original, augmented, strict=True)):
        both = np.isfinite(src).all(axis=-1) & np.isfinite(dst).all(axis=-1)
        src, dst = src[both], dst[both]
        scale = 1.0
        if len(src) >= 2:
            src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
            spread = np.sum((src - src_mean) ** 2)
            if spread > 1e-12 * max(1.0, float(np.abs(src).max()) ** 2):  # not all one point
                scale = float(np.sum((src - src_mean) * (dst - dst_mean)) / spread)
        shift = (dst - scale * src).mean(axis=0) if len(src) else np.zeros(2)
        affines[view, :, :2] = scale * np.eye(2)
        affines[view, :, 2] = shift
    return affines


def _apply_affines(affines: np.ndarray, points_2d: np.ndarray) -> np.ndarray:
    """``[V, N, 2]`` points mapped by their view's ``[V, 2, 3]`` matrix."""
    return points_2d @ affines[:, :, :2].transpose(0, 2, 1) + affines[:, None, :, 2]


def augment_views_3d(
    keypoints_2d: np.ndarray,
    rig: CameraRig,
    rng: np.random.Generator,
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE,
    shift_fraction: float = DEFAULT_SHIFT_FRACTION,
    min_points: int = DEFAULT_MIN_POINTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and shift one frame's animal in 3D and return its labels and image warps in every view.

    Keypoints seen in at least 2 views are triangulated, transformed by :func:`random_similarity`
    and reprojected, so the new labels are consistent across views (like Lightning Pose, this also
    replaces each label by the reprojection of its triangulation). A keypoint labeled in a single
    view cannot be triangulated; it follows its view's image warp instead. Unlabeled stays NaN.

    Args:
        keypoints_2d: ``[V, N, 2]`` full-frame pixel labels, views in ``rig.names`` order; NaN
            where unlabeled.
        rig: the frame's calibration.
        rng: the source of randomness.
        scale_range: see :func:`random_similarity`.
        shift_fraction: see :func:`random_similarity`.
        min_points: with fewer keypoints triangulated, the frame is returned unchanged (the
            animal's center and extent would be guesses).

    Returns:
        ``(new_keypoints_2d [V, N, 2], affines [V, 2, 3])``, float64; warp view ``v``'s image with
        ``cv2.warpAffine(image, affines[v], size)``.
    """
    original = np.asarray(keypoints_2d, dtype=np.float64)
    if original.ndim != 3 or original.shape[0] != rig.num_views or original.shape[-1] != 2:
        raise ValueError(
            f"augment_views_3d needs keypoints [{rig.num_views}, N, 2] for views "
            f"{list(rig.names)}, got shape {original.shape}"
        )
    cams = rig.to_tensors(dtype=torch.float64)
    with torch.no_grad():
        points_3d = triangulate(torch.from_numpy(original), cams).numpy()
    triangulated = np.isfinite(points_3d).all(axis=-1)  # [N]
    if triangulated.sum() < min_points:
        return original.copy(), np.tile(np.eye(2, 3), (rig.num_views, 1, 1))

    similarity = random_similarity(points_3d, rng, scale_range, shift_fraction)
    with torch.no_grad():
        moved_3d = torch.from_numpy(similarity.apply(points_3d[triangulated]))
        reprojected = project(moved_3d, cams).numpy()  # [V, n_triangulated, 2]

    labeled = np.isfinite(original).all(axis=-1)  # [V, N]
    augmented = np.full_like(original, np.nan)
    augmented[:, triangulated] = reprojected
    augmented[~labeled] = np.nan
    affines = view_affines(original, augmented)
    single_view = labeled & ~triangulated[None, :]
    augmented[single_view] = _apply_affines(affines, original)[single_view]
    return augmented, affines
