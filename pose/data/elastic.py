"""imgaug's ElasticTransformation with its keypoint step vectorized and its field in source pixels.

imgaug moves each keypoint to the geometric median of its displaced pixel neighbourhood, one
keypoint at a time in Python (Weiszfeld iterations per point): 12 ms of the 12.3 ms the augmenter
takes on a 128x128 image with 17 keypoints, and the largest cost of the ``dlc`` pipeline. This
subclass computes the same medians for all keypoints at once; images are untouched (imgaug's code).
It overrides imgaug 0.4's ``_augment_kpsoi_by_samples`` hook, which its ``imaug`` fork keeps.

``alpha`` and ``sigma`` are in original-frame pixels (see :mod:`pose.data.source_scale`): the random
displacement field is drawn and smoothed at the original frame's size, exactly as imgaug does there,
then area-resampled to the image and its displacements divided by the scale. Scaling ``alpha`` and
``sigma`` instead would not match: the smoothed field's amplitude is not linear in sigma (imgaug
switches from a Gaussian to a box filter at sigma 1.5), and imgaug stops moving keypoints at
``sigma <= 1``, which a scaled sigma would cross.
"""

from __future__ import annotations

from typing import Any

import cv2
import imgaug.augmenters as iaa
import numpy as np
from imgaug.augmentables.kps import Keypoint, KeypointsOnImage
from imgaug.augmenters.geometric import _ElasticTfShiftMapGenerator

from pose.data.source_scale import SourceScaled


def geometric_medians(
    points: np.ndarray, mask: np.ndarray, eps: float = 1e-3, max_iter: int = 100
) -> np.ndarray:
    """Weiszfeld's algorithm for ``[K, M, 2]`` point sets at once (``mask`` ``[K, M]`` marks real points).

    Stops when no median moves more than ``eps`` pixels (imgaug iterates to 1e-5; a thousandth of a
    pixel is already far below label noise).
    """
    weights = mask.astype(np.float64)
    median = (points * weights[..., None]).sum(1) / np.maximum(weights.sum(1, keepdims=True), 1)
    for _ in range(max_iter):
        dist = np.linalg.norm(points - median[:, None, :], axis=-1)
        inv = np.where(mask, 1.0 / np.maximum(dist, 1e-12), 0.0)
        updated = (points * inv[..., None]).sum(1) / np.maximum(inv.sum(1, keepdims=True), 1e-12)
        moved = np.abs(updated - median).max() if len(median) else 0.0
        median = updated
        if moved < eps:
            break
    return median


class ElasticTransformation(SourceScaled, iaa.ElasticTransformation):
    """Drop-in ``iaa.ElasticTransformation``: vectorized keypoints, field in source pixels."""

    def _augment_batch_(self, batch: Any, random_state: Any, parents: Any, hooks: Any) -> Any:
        if batch.images is None and batch.keypoints is None:
            return super()._augment_batch_(batch, random_state, parents, hooks)
        if any(
            getattr(batch, name) is not None
            for name in (
                "heatmaps",
                "segmentation_maps",
                "bounding_boxes",
                "polygons",
                "line_strings",
            )
        ):
            raise NotImplementedError("pose.data.elastic warps images and keypoints only")
        sx, sy = self.source_scale
        shapes = batch.get_rowwise_shapes()
        source_shapes = [
            (max(1, round(s[0] * sy)), max(1, round(s[1] * sx)), *s[2:]) for s in shapes
        ]
        samples = self._draw_samples(len(shapes), random_state)
        fields = _ElasticTfShiftMapGenerator().generate(
            source_shapes, samples.alphas, samples.sigmas, samples.random_state
        )
        for i, (shape, (dx, dy)) in enumerate(zip(shapes, fields, strict=True)):
            if dx.shape != tuple(shape[:2]):
                size = (shape[1], shape[0])
                dx = cv2.resize(dx, size, interpolation=cv2.INTER_AREA) / np.float32(sx)
                dy = cv2.resize(dy, size, interpolation=cv2.INTER_AREA) / np.float32(sy)
            if batch.images is not None:
                batch.images[i] = self._augment_image_by_samples(
                    batch.images[i], i, samples, dx, dy
                )
            if batch.keypoints is not None:
                batch.keypoints[i] = self._augment_kpsoi_by_samples(
                    batch.keypoints[i], i, samples, dx, dy
                )
        return batch

    def _augment_kpsoi_by_samples(self, kpsoi, row_idx, samples, dx, dy):  # type: ignore[no-untyped-def]
        height, width = kpsoi.shape[0:2]
        below_thresh = (
            samples.alphas[row_idx] <= self.KEYPOINT_AUG_ALPHA_THRESH
            or samples.sigmas[row_idx] <= self.KEYPOINT_AUG_SIGMA_THRESH
        )
        if kpsoi.empty or 0 in kpsoi.shape or below_thresh:
            return kpsoi
        xy = kpsoi.to_xy_array()
        offsets = Keypoint(0.0, 0.0).generate_similar_points_manhattan(
            self.NB_NEIGHBOURING_KEYPOINTS, self.NEIGHBOURING_KEYPOINTS_DISTANCE, return_array=True
        )
        neighbours = np.round(xy[:, None, :] + offsets[None]).astype(np.int32)  # [K, M, 2]
        xx, yy = neighbours[..., 0], neighbours[..., 1]
        inside = (xx >= 0) & (xx < width) & (yy >= 0) & (yy < height)
        xc, yc = np.clip(xx, 0, width - 1), np.clip(yy, 0, height - 1)
        moved = np.stack([xx + dx[yc, xc], yy + dy[yc, xc]], axis=-1).astype(np.float64)
        medians = geometric_medians(moved, inside)
        on_plane = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
        new_xy = np.where(on_plane[:, None], medians, xy)
        return KeypointsOnImage.from_xy_array(new_xy.astype(np.float32), shape=kpsoi.shape)
