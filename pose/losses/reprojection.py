"""``supervised_reprojection_heatmap_mse``: Lightning Pose's 3D-consistency loss on labeled frames.

The predicted keypoints of every view are triangulated with the rig's calibration and reprojected
into each view; heatmaps drawn at the reprojections must match the label heatmaps (MSE summed over
the map, as ``mse``). A prediction that no single 3D point explains is pulled towards one that
is, so views help each other where one of them is unsure.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pose.data import from_frame, to_frame
from pose.data.heatmaps import make_heatmaps, per_keypoint
from pose.geometry import CameraTensors, project, triangulate
from pose.losses.heatmap import mse_loss


class ReprojectionHeatmapLoss:
    """Active when ``losses.supervised_reprojection_heatmap_mse.log_weight`` is set and the rig is
    calibrated (as in Lightning Pose); weighted ``1 / (2 * exp(log_weight))``."""

    name = "supervised_reprojection_heatmap_mse"

    def __init__(self, cams: CameraTensors, stride: int, log_weight: float = 3.0) -> None:
        self.cams = cams
        self.stride = int(stride)
        self.log_weight = float(log_weight)

    @property
    def weight(self) -> float:
        return 1.0 / (2.0 * math.exp(self.log_weight))

    def __call__(
        self,
        xy: Tensor,
        keypoints: Tensor,
        scale: Tensor,
        heatmap_hw: tuple[int, int],
        offset: Tensor | None = None,
    ) -> Tensor:
        """The loss of predicted keypoints ``xy`` ``[B, V * K, 2]`` (differentiable decode, resized
        pixels) against labels ``keypoints`` of the same layout; ``scale`` and ``offset`` (a crop's
        corner, None for whole frames) map resized pixels to the full frame the calibration is of,
        and the reprojections back into each view's resized crop."""
        cams = self.cams.to(xy.device, torch.float32)
        v = cams.num_views
        factor = per_keypoint(scale).to(xy.device, torch.float32).expand_as(xy)
        shift = (
            torch.zeros_like(factor)
            if offset is None
            else per_keypoint(offset).to(xy.device, torch.float32).expand_as(xy)
        )
        frame_xy = to_frame(xy.float(), factor, shift).unflatten(1, (v, -1))  # [B, V, K, 2]
        points = triangulate(frame_xy, cams)  # [B, K, 3]
        reprojected = project(points, cams).flatten(1, 2)  # [B, V * K, 2]
        resized = from_frame(reprojected, factor, shift)
        predicted = make_heatmaps(resized, heatmap_hw, self.stride, uniform_for_nan=False)
        target = make_heatmaps(keypoints, heatmap_hw, self.stride, uniform_for_nan=False)
        # keypoints unlabeled, or seen by fewer than two views (no triangulation), are left out
        mask = ~keypoints.isnan().any(-1) & ~resized.isnan().any(-1)
        return mse_loss(predicted, target, mask)
