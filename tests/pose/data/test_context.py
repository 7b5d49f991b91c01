"""Context windows of labeled frames: Lightning Pose's file convention, caching, joint augmentation."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pose.config import load_config
from pose.data import LabeledData, PoseDataModule, read_labels
from pose.data.augmentation import build_augmenter
from pose.data.context import CONTEXT_MODEL_TYPES, context_paths, uses_context
from pose.data.dataset import ImageCache, LabeledImageDataset
from pose.data.synthetic import make_example_dataset
from pose.models.heads import HEADS


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
    # before frame 0 clamps to 0; img02 (the labeled frame's own next) exists only as the center
    assert context_paths("v/img01.png", tmp_path) == [
        "v/img00.png",
        "v/img00.png",
        "v/img01.png",
        "v/img01.png",  # img02.png missing: the labeled frame stands in
        "v/img03.png",
    ]
    assert context_paths("v/frame.png", tmp_path) == ["v/frame.png"] * 5  # no frame number


def test_context_model_types_match_the_heads_registry() -> None:
    for name in HEADS.names():
        has_window = getattr(HEADS.get(name), "context_offsets", None) is not None
        assert has_window == uses_context(name), name
    assert set(CONTEXT_MODEL_TYPES) <= set(HEADS.names())


@pytest.fixture(scope="module")
def context_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("context")
    make_example_dataset(out, n_images=12, n_video_frames=12, seed=1, context=True)
    return out


def test_cache_holds_each_window_in_order(context_dir: Path) -> None:
    labels = read_labels(context_dir / "CollectedData.csv")
    cache = ImageCache(context_dir, labels.image_paths, (64, 64), context=True)
    assert cache.images.shape == (12, 5, 64, 64, 3)
    clip = context_dir / Path(labels.image_paths[3]).parent
    for f in range(5):
        image = cv2.imread(str(clip / f"img{f:04d}.png"))
        expected = cv2.cvtColor(cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA), 4)
        assert np.array_equal(cache.images[3, f], expected)
    assert np.allclose(cache.scale(np.array([0])), [[192 / 64, 160 / 64]])


def test_datamodule_gives_windows_for_context_models(context_dir: Path) -> None:
    cfg = load_config(context_dir / "config.yaml", ["training.num_workers=0"])
    assert cfg.model.model_type == "heatmap_mhcrnn"
    dm = PoseDataModule(cfg)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape[1:] == (5, 3, 128, 128)
    assert batch["keypoints"].shape[1:] == (5, 2)


def test_window_frames_are_augmented_alike(tmp_path: Path) -> None:
    """Five copies of one image must stay identical through random geometric and colour augmentation."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    window = np.stack([image] * 5)
    cache = ImageCache.__new__(ImageCache)
    cache.resize_hw, cache.images = (64, 64), window[None]
    cache.orig_hw = np.array([[64.0, 64.0]], dtype=np.float32)
    labels = LabeledData(["a.png"], np.array([[[20.0, 30.0]]], np.float32), ["nose"], "s")
    dataset = LabeledImageDataset(
        cache, labels, np.array([0]), build_augmenter("dlc"), hflip_partners=[0], seed=3
    )
    moved = 0
    for _ in range(8):
        item = dataset[0]
        frames = item["image"].numpy()
        assert frames.shape == (5, 3, 64, 64)
        assert all(np.array_equal(frames[0], f) for f in frames[1:])
        moved += not np.array_equal(frames[2], np.moveaxis(image, -1, 0))
    assert moved >= 4  # the augmentation did run
