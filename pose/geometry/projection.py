"""Differentiable multi-camera geometry in torch: projection, undistortion, triangulation.

Everything is batched over leading dimensions and runs on any device, so the same code serves the
data pipeline (3D augmentation) and training losses (triangulate predictions, reproject, compare).
Cameras follow OpenCV's pinhole model with 5-coefficient distortion, which is what Anipose and
Lightning Pose calibrate, so :func:`project` matches ``cv2.projectPoints``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pose.geometry.calibration import CameraTensors


def _per_view(x: Tensor) -> Tensor:
    """A ``[..., V]`` camera parameter as ``[..., V, 1]``, to broadcast over the points axis."""
    return x.unsqueeze(-1)


def _distort(x: Tensor, y: Tensor, dist: Tensor) -> tuple[Tensor, Tensor]:
    """OpenCV radial + tangential distortion of normalized coordinates ``[..., V, N]``."""
    k1, k2, p1, p2, k3 = (_per_view(dist[..., i]) for i in range(5))
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return xd, yd


def project(points_3d: Tensor, cams: CameraTensors) -> Tensor:
    """Pixel coordinates ``[..., V, N, 2]`` of world points ``[..., N, 3]`` in every camera.

    Same model as ``cv2.projectPoints`` (skew ignored, no clipping of points behind a camera).
    """
    cams = cams.to(device=points_3d.device, dtype=points_3d.dtype)
    # [..., 1, N, 3] @ [..., V, 3, 3]^T -> camera coordinates [..., V, N, 3]
    in_camera = points_3d.unsqueeze(-3) @ cams.R.transpose(-1, -2) + cams.t.unsqueeze(-2)
    x = in_camera[..., 0] / in_camera[..., 2]
    y = in_camera[..., 1] / in_camera[..., 2]
    xd, yd = _distort(x, y, cams.dist)
    K = cams.K
    u = _per_view(K[..., 0, 0]) * xd + _per_view(K[..., 0, 2])
    v = _per_view(K[..., 1, 1]) * yd + _per_view(K[..., 1, 2])
    return torch.stack([u, v], dim=-1)


def undistort(points_2d: Tensor, cams: CameraTensors, iterations: int = 10) -> Tensor:
    """Normalized (undistorted, ``K``-free) coordinates ``[..., V, N, 2]`` of pixel coordinates.

    The fixed-point inverse of :func:`project`'s distortion, as ``cv2.undistortPoints`` does it
    (OpenCV stops after 5 iterations; 10 leaves < 1e-4 px of residual for typical lab lenses).
    Every step is plain arithmetic, so gradients flow through it.
    """
    cams = cams.to(device=points_2d.device, dtype=points_2d.dtype)
    K, dist = cams.K, cams.dist
    x0 = (points_2d[..., 0] - _per_view(K[..., 0, 2])) / _per_view(K[..., 0, 0])
    y0 = (points_2d[..., 1] - _per_view(K[..., 1, 2])) / _per_view(K[..., 1, 1])
    k1, k2, p1, p2, k3 = (_per_view(dist[..., i]) for i in range(5))
    x, y = x0, y0
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x = (x0 - dx) / radial
        y = (y0 - dy) / radial
    return torch.stack([x, y], dim=-1)


def _finite_points(points_2d: Tensor) -> tuple[Tensor, Tensor]:
    """``(mask [..., V, N], points with non-finite entries zeroed)``.

    Zeroing through ``torch.where`` (not multiplying by a mask) is what keeps NaN labels from
    turning into NaN gradients for the finite ones.
    """
    finite = torch.isfinite(points_2d).all(dim=-1)
    return finite, torch.where(finite.unsqueeze(-1), points_2d, torch.zeros_like(points_2d))


def triangulate(points_2d: Tensor, cams: CameraTensors, weights: Tensor | None = None) -> Tensor:
    """World points ``[..., N, 3]`` whose projections best fit pixels ``[..., V, N, 2]``.

    Linear triangulation (DLT) over all views with finite coordinates. Each view contributes the
    two equations ``x * (r3 . X + t3) = r1 . X + t1`` (and the same for ``y``) in undistorted
    normalized coordinates, scaled by the focal length so every view's residual is in pixels
    (times depth) and views of different resolution weigh alike. The 3x3 normal equations are
    solved in float64. This is the inhomogeneous form (``X_w = 1``) rather than the SVD of the
    homogeneous system: both are exact on noise-free data, but the solve has a well-defined
    gradient everywhere, whereas an eigenvector's gradient is NaN when eigenvalues coincide.

    Args:
        points_2d: pixel coordinates; NaN (or inf) where a view has no observation.
        cams: the rig, ``[..., V, ...]`` (see :class:`CameraTensors`).
        weights: optional ``[..., V, N]`` non-negative confidence per observation (for example
            heatmap peak values); non-finite observations get weight 0 regardless.

    Returns:
        Points in ``points_2d``'s dtype; NaN where fewer than 2 views have a finite observation
        with positive weight (or an exactly singular system). Those NaNs carry no gradient into the
        other points.
    """
    out_dtype = points_2d.dtype
    finite, clean = _finite_points(points_2d.to(torch.float64))
    cams = cams.to(device=points_2d.device, dtype=torch.float64)
    if weights is None:
        w = finite.to(torch.float64)
    else:
        w = weights.to(torch.float64)
        w = torch.where(finite & torch.isfinite(w), w, torch.zeros_like(w))
    seen = (w > 0).sum(dim=-2) >= 2  # [..., N]

    normalized = undistort(clean, cams)  # [..., V, N, 2]
    K, R, t = cams.K, cams.R, cams.t
    focal = torch.stack([K[..., 0, 0], K[..., 1, 1]], dim=-1)  # [..., V, 2]
    # rows a_i . X = b_i with a = x * r3 - r_i, b = t_i - x * t3: [..., V, N, 2, 3], [..., V, N, 2]
    r12 = R[..., :2, :].unsqueeze(-3)  # [..., V, 1, 2, 3]
    r3 = R[..., 2, :].unsqueeze(-2).unsqueeze(-2)  # [..., V, 1, 1, 3]
    a = normalized.unsqueeze(-1) * r3 - r12
    b = t[..., :2].unsqueeze(-2) - normalized * t[..., 2:].unsqueeze(-2)
    scale = (w.unsqueeze(-1) * focal.unsqueeze(-2)).unsqueeze(-1)  # [..., V, N, 2, 1]
    a = a * scale
    b = b * scale[..., 0]
    # normal equations summed over views and both rows: [..., N, 3, 3] and [..., N, 3]
    ata = torch.einsum("...vnri,...vnrj->...nij", a, a)
    atb = torch.einsum("...vnri,...vnr->...ni", a, b)
    # points seen by < 2 views have a singular system: solve a harmless one, then mask to NaN
    eye = torch.eye(3, dtype=ata.dtype, device=ata.device).expand_as(ata)
    ata = torch.where(seen[..., None, None], ata, eye)
    atb = torch.where(seen[..., None], atb, torch.zeros_like(atb))
    # solve_ex: no host sync on GPU, and a singular point becomes NaN alone instead of raising
    solution, info = torch.linalg.solve_ex(ata, atb.unsqueeze(-1), check_errors=False)
    points_3d = solution.squeeze(-1)
    defined = seen & (info == 0) & torch.isfinite(points_3d).all(dim=-1)
    points_3d = torch.where(defined[..., None], points_3d, torch.full_like(points_3d, float("nan")))
    return points_3d.to(out_dtype)


def reprojection_error(
    points_2d: Tensor, cams: CameraTensors, weights: Tensor | None = None
) -> Tensor:
    """Pixel distance ``[..., V, N]`` of each observation from its triangulation's reprojection.

    NaN where the observation is missing or the point cannot be triangulated; the NaNs carry no
    gradient, so ``torch.nanmean`` of this is a usable multiview consistency loss.
    """
    points_3d = triangulate(points_2d, cams, weights)
    defined = torch.isfinite(points_3d).all(dim=-1)  # [..., N]
    points_3d = torch.where(defined.unsqueeze(-1), points_3d, torch.zeros_like(points_3d))
    reprojected = project(points_3d, cams)  # [..., V, N, 2]
    finite, clean = _finite_points(points_2d)
    valid = finite & defined.unsqueeze(-2)
    diff = torch.where(valid.unsqueeze(-1), reprojected - clean, torch.zeros_like(clean))
    distance = torch.linalg.vector_norm(diff, dim=-1)  # its gradient at 0 is 0, not NaN
    return torch.where(valid, distance, torch.full_like(distance, float("nan")))
