"""Labeled-image datasets: each image decoded and resized once, augmented per item at resized size
(pixel-sized augmentation parameters still mean original-frame pixels: :mod:`pose.data.source_scale`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import imgaug
import imgaug.augmenters as iaa
import numpy as np
import torch
from imgaug.augmentables.kps import KeypointsOnImage
from torch.utils.data import Dataset

from pose.data.bboxes import frame_scale_offset, from_frame
from pose.data.context import context_paths
from pose.data.heatmaps import rescale_pixels
from pose.data.labels import LabeledData
from pose.data.source_scale import set_source_scale
from pose.errors import DataError


class ImageCache:
    """All labeled images decoded once, as RGB uint8 ``[N, H, W, 3]`` at the resize dims.

    With ``offsets`` (context models), each labeled image comes with its window of neighbouring
    frames (see :mod:`pose.data.context`): ``frames`` holds every distinct file once and
    ``windows`` ``[N, T]`` indexes it, so windows sharing frames cost no extra memory; ``images``
    is then the labeled frames alone. Augmenting at the resized resolution (not the original) keeps
    per-item work small; the scale factors map predictions back to original pixels.
    """

    def __init__(
        self,
        data_dir: Path,
        image_paths: list[str],
        resize_hw: tuple[int, int],
        offsets: tuple[int, ...] | None = None,
    ) -> None:
        self.resize_hw = resize_hw
        windows = [context_paths(p, data_dir, offsets) if offsets else [p] for p in image_paths]
        files = list(dict.fromkeys(p for window in windows for p in window))
        position = {p: i for i, p in enumerate(files)}
        with ThreadPoolExecutor(max_workers=4) as pool:  # cv2 releases the GIL while decoding
            decoded = list(pool.map(lambda p: self._load(data_dir / p), files))
        self.frames = np.stack([image for image, _ in decoded])
        self.windows = np.array([[position[p] for p in w] for w in windows], dtype=np.int64)
        self.center = offsets.index(0) if offsets else 0
        self.orig_hw = np.array(
            [decoded[position[p]][1] for p in image_paths], dtype=np.float32
        )  # [N, 2]

    @property
    def images(self) -> np.ndarray:
        """The labeled images ``[N, H, W, 3]`` (for context models, the middle of each window)."""
        return self.frames[self.windows[:, self.center]]

    def take(self, rows: np.ndarray | int) -> np.ndarray:
        """Images ``[..., H, W, 3]`` of ``rows``; context models: windows ``[..., T, H, W, 3]``."""
        index = self.windows[rows]
        return self.frames[index[..., 0] if self.windows.shape[1] == 1 else index]

    def _load(self, path: Path) -> tuple[np.ndarray, tuple[int, int]]:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grayscale files become 3 equal channels
        if image is None:
            reason = "not found" if not path.exists() else "cannot be decoded as an image"
            raise DataError(f"labeled image {path}: {reason}")
        h, w = image.shape[:2]
        height, width = self.resize_hw
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (h, w)

    def scale(self, rows: np.ndarray) -> np.ndarray:
        """``[len(rows), 2]`` factors (orig_w / W, orig_h / H) from resized to the image files'
        pixels (the frame's, unless the images are crops: :mod:`pose.data.bboxes`)."""
        height, width = self.resize_hw
        return np.stack([self.orig_hw[rows, 1] / width, self.orig_hw[rows, 0] / height], axis=1)


class LabeledImageDataset(Dataset):
    """Items of one split: ``image`` uint8 ``[3, H, W]`` (``[T, 3, H, W]``, the frame's window, for
    context models), ``keypoints`` ``[K, 2]`` in resized pixels (NaN = unlabeled or augmented out
    of view), ``index`` (CSV row), and ``scale`` and ``offset`` ``[2]``, which take resized pixels
    to the original frame's (:func:`pose.data.bboxes.to_frame`; the offset is a crop's corner).

    The model normalizes images on its device, so batches stay uint8 (4x less to copy).
    """

    def __init__(
        self,
        cache: ImageCache,
        labels: LabeledData,
        indices: np.ndarray,
        augmenter: iaa.Augmenter | None = None,
        hflip_partners: list[int] | None = None,
        seed: int = 0,
    ) -> None:
        self.cache = cache
        self.indices = np.asarray(indices, dtype=np.int64)
        # augmentation sizes are in the image file's pixels; scale and offset lead to the frame's
        self.source_scale = cache.scale(self.indices).astype(np.float32)
        bboxes = None if labels.bboxes is None else labels.bboxes[self.indices]
        self.scale, self.offset = frame_scale_offset(bboxes, self.source_scale, cache.resize_hw)
        self.keypoints = from_frame(
            labels.keypoints[self.indices], self.scale[:, None, :], self.offset[:, None, :]
        ).astype(np.float32)
        self.augmenter = augmenter
        self.hflip_partners = hflip_partners
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Seed the augmentation randomness (called per data-loader worker by :func:`seed_worker`)."""
        self.rng = np.random.default_rng(seed)
        if self.augmenter is not None:
            self.augmenter.seed_(seed)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row = self.indices[i]
        image = self.cache.take(row)  # [H, W, 3], or [T, H, W, 3] for a context window
        keypoints = self.keypoints[i]
        if self.augmenter is not None:
            set_source_scale(self.augmenter, self.source_scale[i])
            image, keypoints = self._augment(image, keypoints)
        if self.hflip_partners is not None and self.rng.random() < 0.5:
            image = image[..., ::-1, :]
            keypoints = keypoints[self.hflip_partners].copy()
            keypoints[:, 0] = image.shape[-2] - 1 - keypoints[:, 0]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, -3))),
            "keypoints": torch.from_numpy(np.ascontiguousarray(keypoints, dtype=np.float32)),
            "index": torch.tensor(row, dtype=torch.int64),
            "scale": torch.from_numpy(self.scale[i]),
            "offset": torch.from_numpy(self.offset[i]),
        }

    def _augment(self, image: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.augmenter is not None
        return augment_frames(self.augmenter, image, keypoints, self.cache.center)


def augment_frames(
    augmenter: iaa.Augmenter, image: np.ndarray, keypoints: np.ndarray, center: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Augment an image ``[H, W, 3]`` (or a window ``[T, H, W, 3]`` whose frames move together,
    ``center`` the labeled one) and its keypoints ``[K, 2]`` in the image's pixels; keypoints
    augmented out of view become NaN."""
    window = image.ndim == 4
    frames = list(image) if window else [image]
    c = center if window else 0  # the labeled frame
    height, width = frames[c].shape[:2]
    missing = np.isnan(keypoints).any(axis=1)
    # imgaug puts pixel centers at +0.5 (its flip maps x to W - x); ours sit at integers
    corner_xy = np.where(missing[:, None], 0.0, keypoints) + 0.5
    on_image = KeypointsOnImage.from_xy_array(corner_xy, shape=frames[c].shape)
    # a window's frames must move together: one draw of the random parameters for all
    augmenter = augmenter.to_deterministic() if window else augmenter
    centre_frame, on_image = augmenter(image=frames[c], keypoints=on_image)
    out = [centre_frame if j == c else augmenter(image=f) for j, f in enumerate(frames)]
    xy = on_image.to_xy_array().astype(np.float32) - 0.5
    h2, w2 = centre_frame.shape[:2]
    if (h2, w2) != (height, width):  # CropAndPad(keep_size=False) changes the size
        out = [cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in out]
        xy = rescale_pixels(xy, np.array([width / w2, height / h2], dtype=np.float32))
    outside = (xy.min(axis=1) < -0.5) | (xy[:, 0] > width - 0.5) | (xy[:, 1] > height - 0.5)
    xy[missing | outside] = np.nan
    return (np.stack(out) if window else out[0]), xy


def seed_worker(worker_id: int) -> None:
    """Give each data-loader worker its own augmentation stream (forked workers share state)."""
    info = torch.utils.data.get_worker_info()
    if info is None:
        return
    seed = info.seed % 2**32
    imgaug.seed(seed)
    dataset = info.dataset
    reseed = getattr(dataset, "reseed", None)
    if callable(reseed):
        reseed(seed)
