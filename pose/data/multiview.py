"""Multi-camera datasets: a moment's views as one item, images decoded and resized once per view,
augmented in 3D (all views consistently) and then per view in 2D."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import imgaug.augmenters as iaa
import numpy as np
import torch
from torch.utils.data import Dataset

from pose.config.schema import PoseConfig
from pose.data.bboxes import frame_scale_offset, from_frame
from pose.data.dataset import ImageCache, augment_frames
from pose.data.multiview_labels import (
    MultiviewLabels,
    calibration_file,
    check_calibration_needs,
    is_multiview,
    view_names,
)
from pose.data.source_scale import set_source_scale
from pose.geometry import CameraRig, augment_views_3d, load_calibration

Augment3D = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]
"""``(keypoints [V, K, 2] original pixels, rng) -> (new keypoints, affines [V, 2, 3])``: a 3D
augmentation (:mod:`pose.geometry.augment3d`) given as the new labels and each view's image warp,
both in original-frame pixels."""


@dataclass(frozen=True)
class CalibratedAugment3D:
    """:data:`Augment3D` for a calibrated rig (a class, not a closure: DDP pickles the dataset)."""

    rig: CameraRig

    def __call__(
        self, keypoints: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return augment_views_3d(keypoints, self.rig, rng)


def load_rig(cfg: PoseConfig, for_training: bool = False) -> CameraRig | None:
    """The calibration of a multiview config's cameras (:func:`calibration_file`), views in
    ``data.view_names`` order; None for one camera or when there is no calibration. For training,
    a config whose 3D augmentation or reprojection loss needs one and finds none is an error."""
    if not is_multiview(cfg):
        return None
    path = calibration_file(cfg)
    if for_training:
        check_calibration_needs(cfg, path)
    return None if path is None else load_calibration(path, view_names(cfg))


class MultiviewImageCache:
    """One :class:`ImageCache` per view, each view's images decoded and resized once."""

    def __init__(self, data_dir: Path, labels: MultiviewLabels, resize_hw: tuple[int, int]) -> None:
        self.resize_hw = resize_hw
        self.views = [ImageCache(data_dir, paths, resize_hw) for paths in labels.image_paths]

    def take(self, row: int) -> np.ndarray:
        """The moment's images ``[V, H, W, 3]``."""
        return np.stack([cache.take(row) for cache in self.views])

    def scale(self, rows: np.ndarray) -> np.ndarray:
        """``[len(rows), V, 2]`` factors from resized to each view's image-file pixels."""
        return np.stack([cache.scale(rows) for cache in self.views], axis=1)


class MultiviewDataset(Dataset):
    """Items of one split, a moment seen by every camera: ``image`` uint8 ``[V, 3, H, W]``,
    ``keypoints`` ``[V * K, 2]`` in resized pixels, ``index`` (CSV row), and ``scale`` and
    ``offset`` ``[V * K, 2]``: each keypoint's factor and offset to its view's full-frame pixels
    (:func:`pose.data.bboxes.to_frame`; the offset is the view's crop corner, zero without crops).

    Augmentation: ``augment_3d`` first moves the animal in 3D and warps every view to match, so the
    views stay one consistent scene; then ``augmenter`` (a 2D pipeline) runs on each view on its own,
    as Lightning Pose's multiview datasets do.
    """

    def __init__(
        self,
        cache: MultiviewImageCache,
        labels: MultiviewLabels,
        indices: np.ndarray,
        augmenter: iaa.Augmenter | None = None,
        seed: int = 0,
        augment_3d: Augment3D | None = None,
    ) -> None:
        self.cache = cache
        self.labels = labels
        self.indices = np.asarray(indices, dtype=np.int64)
        # augmentation sizes are in the image files' pixels; view_scale and view_offset lead to
        # each view's full frame
        self.source_scale = cache.scale(self.indices).astype(np.float32)  # [N, V, 2]
        bboxes = None if labels.bboxes is None else labels.bboxes[self.indices]
        self.view_scale, self.view_offset = frame_scale_offset(
            bboxes, self.source_scale, cache.resize_hw
        )  # [N, V, 2] each
        self.keypoints = from_frame(
            labels.keypoints[self.indices],
            self.view_scale[:, :, None, :],
            self.view_offset[:, :, None, :],
        ).astype(np.float32)  # [N, V, K, 2]
        self.augmenter = augmenter
        self.augment_3d = augment_3d
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Seed the augmentation randomness (per data-loader worker, :func:`seed_worker`)."""
        self.rng = np.random.default_rng(seed)
        if self.augmenter is not None:
            self.augmenter.seed_(seed)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row = self.indices[i]
        images = self.cache.take(row)  # [V, H, W, 3]
        keypoints = self.keypoints[i]  # [V, K, 2]
        scale, offset = self.view_scale[i], self.view_offset[i]  # [V, 2] each
        if self.augment_3d is not None:
            images, keypoints = self._augment_3d(row, images, scale, offset)
        if self.augmenter is not None:
            views = []
            out_keypoints = np.empty_like(keypoints)
            for v in range(len(images)):
                set_source_scale(self.augmenter, self.source_scale[i, v])
                image, out_keypoints[v] = augment_frames(self.augmenter, images[v], keypoints[v])
                views.append(image)
            images, keypoints = np.stack(views), out_keypoints
        k = keypoints.shape[1]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(np.moveaxis(images, -1, -3))),
            "keypoints": torch.from_numpy(
                np.ascontiguousarray(keypoints.reshape(-1, 2), dtype=np.float32)
            ),
            "index": torch.tensor(row, dtype=torch.int64),
            "scale": torch.from_numpy(np.repeat(scale, k, axis=0)),
            "offset": torch.from_numpy(np.repeat(offset, k, axis=0)),
        }

    def _augment_3d(
        self, row: int, images: np.ndarray, scale: np.ndarray, offset: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Move the labels in 3D and warp each view's resized image by its view's affine (given in
        full-frame pixels: ``A_resized = P^-1 A P``, ``P`` mapping resized to frame pixels, through
        the view's crop when the images are crops)."""
        assert self.augment_3d is not None
        new_keypoints, affines = self.augment_3d(self.labels.keypoints[row], self.rng)
        height, width = images.shape[1:3]
        warped = []
        for v, image in enumerate(images):
            # resized pixel r and frame pixel o: o = (r + 0.5) * s - 0.5 + t, i.e. o = P r
            sx, sy = scale[v]
            tx, ty = offset[v]
            p = np.array(
                [[sx, 0.0, 0.5 * sx - 0.5 + tx], [0.0, sy, 0.5 * sy - 0.5 + ty], [0.0, 0.0, 1.0]]
            )
            a = np.vstack([affines[v], [0.0, 0.0, 1.0]])
            resized = (np.linalg.inv(p) @ a @ p)[:2]
            warped.append(
                cv2.warpAffine(
                    image,
                    resized,
                    (width, height),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT,
                )
            )
        keypoints = from_frame(new_keypoints, scale[:, None, :], offset[:, None, :])
        keypoints = keypoints.astype(np.float32)
        outside = (
            (keypoints.min(axis=-1) < -0.5)
            | (keypoints[..., 0] > width - 0.5)
            | (keypoints[..., 1] > height - 0.5)
        )
        keypoints[outside] = np.nan
        return np.stack(warped), keypoints
