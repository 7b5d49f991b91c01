"""Context windows of labeled frames: Lightning Pose's file convention, caching, joint augmentation."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pose.config import load_config
from pose.data import LabeledData, PoseDataModule, read_labels
from pose.data.augmentation import build_augmenter
from pose.data.context import CONTEXT_OFFSETS, context_paths
from pose.data.dataset import ImageCache, LabeledImageDataset
from pose.data.synthetic import make_example_dataset


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def test_neighbours_by_frame_number_with_same_padding(tmp_path: Path) -> None:
    _touch(tmp_path, *(f"labeled-data/vid/img{i:04d}.png" for i in range(8, 13)))
    assert context_paths("labeled-data/vid/img0010.png", tmp_path) == [
        f"labeled-data/vid/img{i:04d}.png" for i in range(8, 13)
    ]


def test_missing_neighbours_and_frame_zero_fall_back(tmp_path: Path) -> None:
    _touch(tmp_path, "v/img00.png", "v/img01.png", "v/img03.png")
    # frames before 0 clamp to 0; img02.png is missing, so the labeled frame stands in for it
    assert context_paths("v/img01.png", tmp_path) == [
        "v/img00.png",
        "v/img00.png",
        "v/img01.png",
        "v/img01.png",  # img02.png missing: the labeled frame stands in
        "v/img03.png",
    ]
    assert context_paths("v/frame.png", tmp_path) == ["v/frame.png"] * 5  # no frame number


@pytest.fixture(scope="module")
def context_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("context")
    make_example_dataset(out, n_images=12, n_video_frames=12, seed=1, context=True)
    return out


def test_cache_holds_each_window_in_order(context_dir: Path) -> None:
    labels = read_labels(context_dir / "CollectedData.csv")
    cache = ImageCache(context_dir, labels.image_paths, (64, 64), CONTEXT_OFFSETS)
    assert cache.frames.shape == (60, 64, 64, 3)  # each file once
    assert cache.take(np.arange(12)).shape == (12, 5, 64, 64, 3)
    assert np.array_equal(cache.images, cache.take(np.arange(12))[:, 2])
    clip = context_dir / Path(labels.image_paths[3]).parent
    for f in range(5):
        image = cv2.imread(str(clip / f"img{f:04d}.png"))
        image = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
        assert np.array_equal(cache.take(3)[f], cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    assert np.allclose(cache.scale(np.array([0])), [[192 / 64, 160 / 64]])


def test_datamodule_gives_windows_for_context_models(context_dir: Path) -> None:
    cfg = load_config(context_dir / "config.yaml", ["training.num_workers=0"])
    assert cfg.model.model_type == "heatmap_mhcrnn"
    dm = PoseDataModule(cfg, CONTEXT_OFFSETS)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape[1:] == (5, 3, 128, 128)
    assert batch["keypoints"].shape[1:] == (5, 2)


def _window_dataset(frames: np.ndarray, **kwargs) -> LabeledImageDataset:
    """A one-item dataset whose item is the window ``frames`` ``[T, H, W, 3]``."""
    cache = ImageCache.__new__(ImageCache)
    cache.resize_hw, cache.frames, cache.center = frames.shape[1:3], frames, len(frames) // 2
    cache.windows = np.arange(len(frames))[None]
    cache.orig_hw = np.array([frames.shape[1:3]], dtype=np.float32)
    labels = LabeledData(["a.png"], np.array([[[20.0, 30.0]]], np.float32), ["nose"], "s")
    return LabeledImageDataset(cache, labels, np.array([0]), **kwargs)


def test_window_frames_are_augmented_alike() -> None:
    """Five copies of one image must stay identical through random geometric and colour augmentation."""
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    dataset = _window_dataset(np.stack([image] * 5), augmenter=build_augmenter("dlc"), seed=3)
    moved = 0
    for _ in range(8):
        frames = dataset[0]["image"].numpy()
        assert frames.shape == (5, 3, 64, 64)
        assert all(np.array_equal(frames[0], f) for f in frames[1:])
        moved += not np.array_equal(frames[2], np.moveaxis(image, -1, 0))
    assert moved >= 4  # the augmentation did run


def test_window_flips_every_frame_and_the_keypoints() -> None:
    frames = np.random.default_rng(1).integers(0, 255, (5, 48, 64, 3), dtype=np.uint8)
    dataset = _window_dataset(frames, hflip_partners=[0], seed=0)
    seen = set()
    for _ in range(12):
        item = dataset[0]
        got = np.moveaxis(item["image"].numpy(), 1, -1)
        flipped = not np.array_equal(got, frames)
        if flipped:
            assert np.array_equal(got, frames[:, :, ::-1])  # each frame mirrored left-right
            assert item["keypoints"][0].tolist() == [64 - 1 - 20.0, 30.0]
        else:
            assert item["keypoints"][0].tolist() == [20.0, 30.0]
        seen.add(flipped)
    assert seen == {True, False}
